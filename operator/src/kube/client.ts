// The only module that imports @kubernetes/client-node: configuration, applying manifests and
// reading API errors. Everything else speaks in plain objects.
import { Agent, request, type RequestOptions } from 'node:https';
import * as k8s from '@kubernetes/client-node';

export type KubeObject = k8s.KubernetesObject & { [key: string]: unknown };
export { k8s };

export function loadKubeConfig(path?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

export const FIELD_MANAGER = 'orchard';

/** An error answer of the API server, with its metav1.Status body. */
export class ApiError extends Error {
  constructor(readonly code: number, readonly body: unknown, message: string) {
    super(message);
  }
}

/** Resolves REST paths of arbitrary objects through discovery (client-node keeps this protected). */
class ObjectPaths extends k8s.KubernetesObjectApi {
  static for(kc: k8s.KubeConfig): ObjectPaths {
    const paths = kc.makeApiClient(ObjectPaths);
    paths.setDefaultNamespace(kc);
    return paths;
  }
  path(spec: k8s.KubernetesObject, action: 'create' | 'patch' | 'read'): Promise<string> {
    return this.specUriPath(spec, action);
  }
}

/**
 * One JSON request to the API server. Objects travel as the plain JSON they are: client-node's
 * typed serializer silently drops keys it models under other names (a CRD schema's `enum`,
 * `x-kubernetes-validations`), so writes of whole manifests go through here.
 */
// One keep-alive pool per cluster configuration: a fresh TLS handshake per request cost the API
// server and the operator more CPU than the requests themselves (bench/operator-scale.ts).
const agents = new WeakMap<k8s.KubeConfig, Agent>();
function agentFor(kc: k8s.KubeConfig): Agent {
  let agent = agents.get(kc);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: 32 });
    agents.set(kc, agent);
  }
  return agent;
}

export async function requestJson(
  kc: k8s.KubeConfig,
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
  path: string,
  { body, contentType = 'application/json', accept = 'application/json' }: { body?: unknown; contentType?: string; accept?: string } = {},
): Promise<any> {
  const url = new URL(path, kc.getCurrentCluster()!.server);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const options: RequestOptions = {
    method,
    headers: { accept, ...(payload ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}) },
  };
  await kc.applyToHTTPSOptions(options);
  // client-node puts a new one-shot Agent here each call; without a proxy, use the pooled one (TLS
  // settings travel in the request options, and the pool keys connections by them).
  if (!kc.getCurrentCluster()?.proxyUrl) options.agent = agentFor(kc);
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const parsed = text ? safeJson(text) : undefined;
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve(parsed);
        else reject(new ApiError(code, parsed, `${method} ${url.pathname}: HTTP ${code}`));
      });
    });
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Server-side apply of each object, in order. `dryRun` asks the server to validate without storing. */
export async function applyObjects(kc: k8s.KubeConfig, objects: KubeObject[], options: { dryRun?: boolean } = {}): Promise<KubeObject[]> {
  const paths = ObjectPaths.for(kc);
  const applied: KubeObject[] = [];
  for (const obj of objects) {
    const query = `?fieldManager=${FIELD_MANAGER}&force=true${options.dryRun ? '&dryRun=All' : ''}`;
    try {
      applied.push(await requestJson(kc, 'PATCH', (await paths.path(obj, 'patch')) + query, { body: obj, contentType: 'application/apply-patch+yaml' }));
    } catch (err) {
      throw new Error(`apply ${describe(obj)}: ${apiErrorMessage(err)}`, { cause: err });
    }
  }
  return applied;
}

/** Creates one object (fails if it exists). */
export async function createObject<T extends KubeObject>(kc: k8s.KubeConfig, obj: T, options: { dryRun?: boolean } = {}): Promise<T> {
  const query = `?fieldManager=${FIELD_MANAGER}${options.dryRun ? '&dryRun=All' : ''}`;
  return requestJson(kc, 'POST', (await ObjectPaths.for(kc).path(obj, 'create')) + query, { body: obj });
}

/** Waits until every named CRD reports Established, i.e. its kinds can be used. */
export async function waitForCrds(kc: k8s.KubeConfig, names: string[], timeoutMs = 30_000): Promise<void> {
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export function statusCode(err: unknown): number | undefined {
  return err instanceof k8s.ApiException || err instanceof ApiError ? err.code : undefined;
}

/** The API server's own message (a metav1.Status) when there is one. */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof k8s.ApiException || err instanceof ApiError) {
    const body: unknown = typeof err.body === 'string' ? safeJson(err.body) : err.body;
    if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string') return body.message;
    return `HTTP ${err.code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function describe(obj: k8s.KubernetesObject): string {
  const ns = obj.metadata?.namespace ? `${obj.metadata.namespace}/` : '';
  return `${obj.kind ?? 'object'} ${ns}${obj.metadata?.name ?? '?'}`;
}
