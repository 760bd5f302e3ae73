// Cluster configuration without @kubernetes/client-node, whose import alone costs ~70 MiB: the
// in-cluster service account and kubeconfig files with certificates and tokens. Anything else
// (exec plugins such as gke-gcloud-auth-plugin, auth providers, basic auth, impersonation, proxies)
// is handed to client-node's KubeConfig, imported on the first request that needs it.
import { readFileSync, statSync } from 'node:fs';
import type { OutgoingHttpHeaders } from 'node:http';
import type { RequestOptions } from 'node:https';
import { createRequire } from 'node:module';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';

/** What a request needs from a cluster configuration; client-node's KubeConfig has the same shape. */
export interface KubeConfig {
  getCurrentCluster(): { readonly server: string; readonly proxyUrl?: string | undefined } | null;
  /** Adds the TLS material and credentials to one request's options. */
  applyToHTTPSOptions(options: RequestOptions): Promise<void>;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** client-go re-reads token files once a minute, so rotated service-account tokens are picked up. */
const REREAD_MS = 60_000;

/**
 * The configuration kubectl would use: the given kubeconfig path (or a KUBECONFIG-style list),
 * else $KUBECONFIG, else ~/.kube/config, else the Pod's service account.
 */
export function loadKubeConfig(path?: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const files = (path ?? env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (files.length > 0) return kubeConfigFromFiles(files);
  const home = join(env.HOME || homedir(), '.kube', 'config');
  if (isFile(home)) return kubeConfigFromFiles([home]);
  if (isFile(join(SERVICE_ACCOUNT_DIR, 'token'))) return inClusterConfig(env);
  throw new Error('no cluster configuration: pass --kubeconfig, set KUBECONFIG, or run in a Pod with a service account token');
}

/** A Pod's own access: KUBERNETES_SERVICE_HOST/PORT, the service account's CA and its (rotating) token. */
export function inClusterConfig(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR, now: () => number = Date.now): KubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error('in-cluster configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT');
  return new DirectKubeConfig(`https://${isIPv6(host) ? `[${host}]` : host}:${port}`, {
    ca: new FileMaterial(join(dir, 'ca.crt'), now),
    token: new FileMaterial(join(dir, 'token'), now),
  });
}

/**
 * A kubeconfig file, or several merged as kubectl merges them: the first definition of each
 * cluster, user and context name wins, and so does the first current-context.
 */
export function kubeConfigFromFiles(files: string[], now: () => number = Date.now): KubeConfig {
  const merged: RawKubeConfig = { apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] };
  for (const file of files) {
    const raw = parseKubeConfig(readFileSync(file, 'utf8'), file);
    resolvePaths(raw, dirname(file));
    for (const list of ['clusters', 'users', 'contexts'] as const) {
      for (const entry of raw[list] ?? []) if (!merged[list]!.some((e) => e.name === entry.name)) merged[list]!.push(entry as never);
    }
    merged['current-context'] ||= raw['current-context'];
  }
  return kubeConfigFrom(merged, files.join(delimiter), now);
}

/** Builds the configuration for the current context; exported for tests of the selection. */
export function kubeConfigFrom(raw: RawKubeConfig, source: string, now: () => number = Date.now): KubeConfig {
  const contextName = raw['current-context'];
  if (!contextName) throw new Error(`${source}: current-context is not set`);
  const context = raw.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw new Error(`${source}: context ${contextName} is not defined`);
  const cluster = raw.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`${source}: cluster ${context.cluster} of context ${contextName} has no server`);
  const user = context.user ? raw.users?.find((u) => u.name === context.user)?.user : undefined;
  if (context.user && !user) throw new Error(`${source}: user ${context.user} of context ${contextName} is not defined`);

  const server = cluster.server.replace(/\/+$/, '');
  if (cluster['proxy-url'] || (user && CLIENT_NODE_USER_FIELDS.some((field) => user[field] !== undefined && user[field] !== null))) {
    return new ClientNodeKubeConfig(raw, { server, ...(cluster['proxy-url'] ? { proxyUrl: cluster['proxy-url'] } : {}) });
  }
  const material = (data: string | undefined, file: string | undefined) =>
    data ? new FixedMaterial(Buffer.from(data, 'base64')) : file ? new FileMaterial(file, now) : undefined;
  const tokenFile = user?.tokenFile ?? user?.['token-file'];
  return new DirectKubeConfig(server, {
    ca: material(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: material(user?.['client-certificate-data'], user?.['client-certificate']),
    key: material(user?.['client-key-data'], user?.['client-key']),
    token: tokenFile ? new FileMaterial(tokenFile, now) : user?.token ? new FixedMaterial(Buffer.from(user.token)) : undefined,
    insecure: cluster['insecure-skip-tls-verify'] === true,
    servername: cluster['tls-server-name'],
  });
}

/** User fields only client-node implements. */
const CLIENT_NODE_USER_FIELDS = ['exec', 'auth-provider', 'username', 'password', 'as', 'as-uid', 'as-groups', 'as-user-extra'] as const;

export interface RawKubeConfig {
  apiVersion?: string;
  kind?: string;
  'current-context'?: string;
  clusters?: { name: string; cluster: RawCluster }[];
  users?: { name: string; user: RawUser }[];
  contexts?: { name: string; context: { cluster: string; user?: string; namespace?: string } }[];
}

interface RawCluster {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
  'proxy-url'?: string;
}

interface RawUser {
  token?: string;
  tokenFile?: string;
  'token-file'?: string;
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  [field: string]: unknown;
}

function parseKubeConfig(text: string, file: string): RawKubeConfig {
  // The YAML parser is loaded only here: the in-cluster configuration, the usual one for the
  // operator, never reads YAML.
  const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  const raw: unknown = parse(text);
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: not a kubeconfig (expected a mapping)`);
  const config = raw as RawKubeConfig;
  for (const list of ['clusters', 'users', 'contexts'] as const) {
    const entries: unknown = config[list] ?? [];
    if (!Array.isArray(entries) || entries.some((e) => !e || typeof e !== 'object' || typeof e.name !== 'string')) {
      throw new Error(`${file}: ${list} must be a list of named entries`);
    }
  }
  return config;
}

/** Relative file references count from the kubeconfig's own folder, as in kubectl. */
function resolvePaths(raw: RawKubeConfig, root: string): void {
  const resolve = (path: unknown) => (typeof path === 'string' && path && !isAbsolute(path) ? join(root, path) : path);
  for (const { cluster } of raw.clusters ?? []) {
    if (cluster?.['certificate-authority']) cluster['certificate-authority'] = resolve(cluster['certificate-authority']) as string;
  }
  for (const { user } of raw.users ?? []) {
    if (!user) continue;
    for (const field of ['client-certificate', 'client-key', 'tokenFile', 'token-file'] as const) {
      if (user[field]) user[field] = resolve(user[field]) as string;
    }
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

interface Material {
  read(): Buffer;
}

class FixedMaterial implements Material {
  constructor(private readonly value: Buffer) {}
  read(): Buffer {
    return this.value;
  }
}

/** A file read again once a minute; a failed re-read keeps the last good value, as client-go does. */
class FileMaterial implements Material {
  private value: Buffer | undefined;
  private readAt = -Infinity;

  constructor(
    readonly path: string,
    private readonly now: () => number,
  ) {}

  read(): Buffer {
    if (this.value === undefined || this.now() - this.readAt >= REREAD_MS) {
      try {
        this.value = readFileSync(this.path);
      } catch (err) {
        if (this.value === undefined) throw new Error(`read ${this.path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      this.readAt = this.now();
    }
    return this.value;
  }
}

/** Certificates and bearer tokens, applied by this module itself. */
class DirectKubeConfig implements KubeConfig {
  private readonly cluster: { server: string };

  constructor(
    server: string,
    private readonly auth: { ca?: Material | undefined; cert?: Material | undefined; key?: Material | undefined; token?: Material | undefined; insecure?: boolean; servername?: string | undefined },
  ) {
    this.cluster = { server };
  }

  getCurrentCluster(): { server: string } {
    return this.cluster;
  }

  async applyToHTTPSOptions(options: RequestOptions): Promise<void> {
    const { ca, cert, key, token, insecure, servername } = this.auth;
    if (ca) options.ca = ca.read();
    if (cert) options.cert = cert.read();
    if (key) options.key = key.read();
    if (insecure) options.rejectUnauthorized = false;
    if (servername) options.servername = servername;
    if (token) {
      const value = token.read().toString('utf8').trim();
      if (value) options.headers = { ...(options.headers as OutgoingHttpHeaders | undefined), authorization: `Bearer ${value}` };
    }
  }
}

/** Credentials only client-node implements; it is imported on the first request. */
class ClientNodeKubeConfig implements KubeConfig {
  private loading: Promise<KubeConfig> | undefined;

  constructor(
    private readonly raw: RawKubeConfig,
    private readonly cluster: { server: string; proxyUrl?: string },
  ) {}

  getCurrentCluster(): { server: string; proxyUrl?: string } {
    return this.cluster;
  }

  async applyToHTTPSOptions(options: RequestOptions): Promise<void> {
    this.loading ??= this.load().catch((err: unknown) => {
      this.loading = undefined;
      throw err;
    });
    await (await this.loading).applyToHTTPSOptions(options);
  }

  private async load(): Promise<KubeConfig> {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    // JSON is YAML; file references are already absolute.
    kc.loadFromString(JSON.stringify(this.raw));
    return kc;
  }
}
