// Requests to the API server as plain JSON, applying manifests and reading API errors. Nothing here
// loads @kubernetes/client-node (its import alone costs ~70 MiB): `k8s` is its types only, and
// configuration comes from ./kubeconfig.ts.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { urlToHttpOptions } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeConfig } from './kubeconfig.js';

export type KubeObject = KubernetesObject & { [key: string]: unknown };
export * as k8s from './k8s-types.js';
export { loadKubeConfig, type KubeConfig } from './kubeconfig.js';

export const FIELD_MANAGER = 'orchard';

/**
 * How long one request may wait for its whole answer. A connection to a server that stopped
 * answering (a partition, a frozen process) otherwise holds a worker until the kernel gives up,
 * many minutes later; a timed-out pass is retried with backoff like any failure.
 */
export const REQUEST_TIMEOUT_MS = 60_000;

/** An error answer of the API server, with its metav1.Status body. */
export class ApiError extends Error {
  constructor(readonly code: number, readonly body: unknown, message: string) {
    super(message);
  }
}

// One keep-alive pool per cluster configuration: a fresh TLS handshake per request cost the API
// server and the operator more CPU than the requests themselves (bench/operator-scale.ts).
const agents = new WeakMap<KubeConfig, { http?: HttpAgent; https?: HttpsAgent }>();
function agentFor(kc: KubeConfig, protocol: string): HttpAgent {
  let pool = agents.get(kc);
  if (!pool) agents.set(kc, (pool = {}));
  if (protocol === 'http:') return (pool.http ??= new HttpAgent({ keepAlive: true, maxSockets: 32 }));
  return (pool.https ??= new HttpsAgent({ keepAlive: true, maxSockets: 32 }));
}

/**
 * Sends one request and resolves with the response as soon as its headers arrive, whatever its
 * status; the caller reads (or streams) the body. The signal aborts the request and its body.
 */
export async function openRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  { headers = {}, body, signal }: { headers?: OutgoingHttpHeaders; body?: string; signal?: AbortSignal | undefined } = {},
): Promise<IncomingMessage> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  // Appended, not resolved: a server URL may carry a path prefix (e.g. behind a cluster proxy).
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  const options: RequestOptions = { ...urlToHttpOptions(url), method, headers: { ...headers } };
  await kc.applyToHTTPSOptions(options);
  // client-node's KubeConfig puts a new one-shot Agent here each call; without a proxy, use the
  // pooled one (TLS settings travel in the request options, and the pool keys connections by them).
  if (!cluster.proxyUrl) options.agent = agentFor(kc, url.protocol);
  if (signal) options.signal = signal;
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = send(options, resolve);
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One JSON request to the API server. Objects travel as the plain JSON they are: client-node's
 * typed serializer silently drops keys it models under other names (a CRD schema's `enum`,
 * `x-kubernetes-validations`), so writes of whole manifests go through here.
 */
export async function requestJson(
  kc: KubeConfig,
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
  path: string,
  {
    body,
    contentType = 'application/json',
    accept = 'application/json',
    signal,
    timeoutMs = REQUEST_TIMEOUT_MS,
  }: { body?: unknown; contentType?: string; accept?: string; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<any> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: OutgoingHttpHeaders = { accept, ...(payload ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}) };
  const timeout = AbortSignal.timeout(timeoutMs);
  let text = '';
  let res: IncomingMessage;
  try {
    res = await openRequest(kc, method, path, { headers, body: payload, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    res.setEncoding('utf8');
    for await (const chunk of res) text += chunk;
  } catch (err) {
    if (timeout.aborted && !signal?.aborted) throw new Error(`${method} ${path.split('?')[0]}: no answer within ${timeoutMs / 1000} s`, { cause: err });
    throw err;
  }
  const parsed = text ? safeJson(text) : undefined;
  const code = res.statusCode ?? 0;
  if (code >= 200 && code < 300) return parsed;
  // The server's own words, not just the code: a log line saying `HTTP 422` alone names no field.
  const said = messageOf(parsed);
  throw new ApiError(code, parsed, `${method} ${path.split('?')[0]}: HTTP ${code}${said ? `: ${said.length > 512 ? `${said.slice(0, 512)}…` : said}` : ''}`);
}

/** Server-side apply of each object, in order. `dryRun` asks the server to validate without storing. */
export async function applyObjects(kc: KubeConfig, objects: KubeObject[], options: { dryRun?: boolean } = {}): Promise<KubeObject[]> {
  const applied: KubeObject[] = [];
  for (const obj of objects) {
    const query = `?fieldManager=${FIELD_MANAGER}&force=true${options.dryRun ? '&dryRun=All' : ''}`;
    try {
      applied.push(await requestJson(kc, 'PATCH', (await resourcePath(kc, obj, true)) + query, { body: obj, contentType: 'application/apply-patch+yaml' }));
    } catch (err) {
      throw new Error(`apply ${describe(obj)}: ${apiErrorMessage(err)}`, { cause: err });
    }
  }
  return applied;
}

/** Creates one object (fails if it exists). */
export async function createObject<T extends KubeObject>(kc: KubeConfig, obj: T, options: { dryRun?: boolean } = {}): Promise<T> {
  const query = `?fieldManager=${FIELD_MANAGER}${options.dryRun ? '&dryRun=All' : ''}`;
  return requestJson(kc, 'POST', (await resourcePath(kc, obj, false)) + query, { body: obj });
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

// Discovery per configuration and group version; fetched again when a kind is missing, as right
// after its CRD was installed.
const discovery = new WeakMap<KubeConfig, Map<string, Promise<ApiResource[]>>>();

function discover(kc: KubeConfig, base: string, fresh: boolean): Promise<ApiResource[]> {
  let cache = discovery.get(kc);
  if (!cache) discovery.set(kc, (cache = new Map()));
  let resources = cache.get(base);
  if (!resources || fresh) {
    resources = requestJson(kc, 'GET', base).then(
      (list: { resources?: ApiResource[] }) => list.resources ?? [],
      (err: unknown) => {
        if (statusCode(err) === 404) return [];
        throw err;
      },
    );
    cache.set(base, resources);
    const cached = resources;
    cached.catch(() => cache.get(base) === cached && cache.delete(base));
  }
  return resources;
}

/** The REST path of an object's collection, or of the object itself; objects without a namespace go to `default`. */
async function resourcePath(kc: KubeConfig, obj: KubernetesObject, named: boolean): Promise<string> {
  const { apiVersion, kind } = obj;
  if (!apiVersion || !kind) throw new Error(`${describe(obj)}: apiVersion and kind are required`);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const find = (resources: ApiResource[]) => resources.find((r) => r.kind === kind && !r.name.includes('/'));
  const resource = find(await discover(kc, base, false)) ?? find(await discover(kc, base, true));
  if (!resource) throw new Error(`the API server serves no ${kind} in ${apiVersion}`);
  const name = obj.metadata?.name;
  if (named && !name) throw new Error(`${describe(obj)}: metadata.name is required`);
  const namespace = resource.namespaced ? `/namespaces/${encodeURIComponent(obj.metadata?.namespace || 'default')}` : '';
  return `${base}${namespace}/${resource.name}${named ? `/${encodeURIComponent(name!)}` : ''}`;
}

/** Waits until every named CRD reports Established, i.e. its kinds can be used. */
export async function waitForCrds(kc: KubeConfig, names: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await requestJson(kc, 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${encodeURIComponent(name)}`).catch((err: unknown) => {
        if (statusCode(err) === 404) return undefined;
        throw err;
      });
      if (crd?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The HTTP status of an API error: ours, or an ApiException from client-node's generated clients. */
/** GET that answers undefined for a missing object (404); other errors throw. */
export async function getIfExists(kc: KubeConfig, path: string): Promise<any> {
  try {
    return await requestJson(kc, 'GET', path);
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw err;
  }
}

export function statusCode(err: unknown): number | undefined {
  return isApiError(err) ? err.code : undefined;
}

/** The API server's own message (a metav1.Status) when there is one. */
export function apiErrorMessage(err: unknown): string {
  if (isApiError(err)) return messageOf(typeof err.body === 'string' ? safeJson(err.body) : err.body) ?? `HTTP ${err.code}`;
  return err instanceof Error ? err.message : String(err);
}

function messageOf(body: unknown): string | undefined {
  return body && typeof body === 'object' && 'message' in body && typeof body.message === 'string' && body.message ? body.message : undefined;
}

// client-node's ApiException is recognised by shape, so reading errors does not load client-node.
function isApiError(err: unknown): err is Error & { code: number; body: unknown } {
  return err instanceof ApiError || (err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'body' in err);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function describe(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace ? `${obj.metadata.namespace}/` : '';
  return `${obj.kind ?? 'object'} ${ns}${obj.metadata?.name ?? '?'}`;
}
