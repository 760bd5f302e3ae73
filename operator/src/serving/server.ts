// `orchard serve` and `orchard drift`: the two containers of a scoring Pod. The scorer loads its
// model versions, warms them up, then reports ready; on SIGTERM it reports not ready, keeps serving
// while the endpoint is withdrawn, then stops accepting and finishes the requests in flight.
import { createServer, type Server } from 'node:http';
import { makeStorage } from '../artifacts/gcs.js';
import { readArtifact } from '../artifacts/store.js';
import { parseReferenceProfile } from '../features/profile.js';
import { inputSchema } from '../features/schema.js';
import { createScoringApp, type ScoringState } from './app.js';
import { createDriftSidecar, listen } from './drift-sidecar.js';
import { DriftSender } from './drift-sender.js';
import { ScoringMetrics } from './metrics.js';
import { loadServedModel } from './model.js';
import { driftSidecarSpec, scorerSpec, type DriftSidecarSpec, type ScorerSpec } from './spec.js';

export interface RunningScorer {
  server: Server;
  state: ScoringState;
  metrics: ScoringMetrics;
  /** Not ready, wait drainDelayMs, stop accepting, finish in-flight requests. */
  shutdown(drainDelayMs?: number): Promise<void>;
}

/** What one client, or all of them together, may hold of the scorer; docs/serving-limits.md sizes each. */
export interface ScorerLimits {
  /** From a request's first byte to the end of its headers: a slow-headers client is cut off here. */
  headersTimeoutMs: number;
  /** From a request's first byte to the end of its body: a slow body is answered 408 here. */
  requestTimeoutMs: number;
  /** Open connections at most; more are closed on arrival and counted as dropped. */
  maxConnections: number;
  /** Request body bytes held at once by all requests together; past it a request gets 503. */
  bodyBudgetBytes: number;
}

export const DEFAULT_SCORER_LIMITS: ScorerLimits = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxConnections: 1024, bodyBudgetBytes: 64 << 20 };

type Log = (msg: string, fields?: Record<string, unknown>) => void;
const jsonLog: Log = (msg, fields = {}) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);

export async function startScorer(spec: ScorerSpec, options: { host?: string; log?: Log; threads?: number; limits?: Partial<ScorerLimits> } = {}): Promise<RunningScorer> {
  const log = options.log ?? jsonLog;
  const limits = { ...DEFAULT_SCORER_LIMITS, ...options.limits };
  // A request timeout set below the default headers timeout takes the headers' along with it.
  if (options.limits?.headersTimeoutMs === undefined) limits.headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const gcs = [spec.modelUri, spec.challenger?.modelUri].some((u) => u?.startsWith('gs://')) ? makeStorage() : undefined;
  const load = { maxBatchRows: Math.max(spec.maxBatchRows, 1024), ...(gcs ? { gcs } : {}), ...(options.threads ? { threads: options.threads } : {}) };
  const champion = await loadServedModel(spec.model, spec.version, spec.modelUri, load);
  const challenger = spec.challenger ? await loadServedModel(spec.model, spec.challenger.version, spec.challenger.modelUri, load) : undefined;
  const edges = champion.profile?.prediction?.type === 'Numeric' && champion.schema.task === 'Regression' ? champion.profile.prediction.edges : undefined;
  const metrics = new ScoringMetrics(edges);
  for (const m of [champion, ...(challenger ? [challenger] : [])]) {
    metrics.modelInfo.set({ model: m.name, version: String(m.version), role: m === champion ? 'champion' : 'challenger' }, 1);
    m.batcher.onRun = (rows) => metrics.batchRows.observe({ version: String(m.version) }, rows);
  }
  // Drift needs the training reference; a model published without one is served unmonitored.
  const drift =
    spec.driftUrl && champion.profile
      ? new DriftSender({ url: spec.driftUrl, profile: champion.profile, inputNames: champion.schema.inputs.map((i) => i.name), metrics, ...(spec.driftBlockRows ? { blockRows: spec.driftBlockRows } : {}) })
      : undefined;
  if (spec.driftUrl && !champion.profile) log('no reference-profile.json with the model: drift is not monitored', { model: spec.model, version: spec.version });
  const state: ScoringState = { champion, ...(challenger ? { challenger: { model: challenger, percent: spec.challenger!.percent } } : {}), ready: true, draining: false };
  const app = createScoringApp({ state, metrics, maxBatchRows: spec.maxBatchRows, maxBodyBytes: spec.maxBodyBytes, bodyBudgetBytes: limits.bodyBudgetBytes, log, ...(drift ? { drift } : {}), ...(spec.extraFields ? { extraFields: spec.extraFields } : {}) });
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // Node checks the two timeouts every 30 s by default: a 10 s limit would hold for up to 40.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, limits.headersTimeoutMs / 10)),
    },
    app,
  );
  // Keep-alive sockets outlive a proxy's idle timeout: the proxy closes first, never mid-request.
  // (Node times headers from a request's first byte, so an idle keep-alive socket is not cut by them.)
  server.keepAliveTimeout = 65_000;
  server.maxConnections = limits.maxConnections;
  server.on('clientError', app.clientError);
  server.on('drop', () => metrics.connectionsDropped.inc());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(spec.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  log('scorer ready', { model: spec.model, version: spec.version, challenger: spec.challenger?.version, port: (server.address() as { port: number }).port });

  let stopping: Promise<void> | undefined;
  return {
    server,
    state,
    metrics,
    shutdown(drainDelayMs = 5000) {
      return (stopping ??= drain(drainDelayMs));
    },
  };

  async function drain(drainDelayMs: number): Promise<void> {
    state.draining = true;
    // Endpoints follow readiness with a delay: keep serving until traffic has moved away.
    await new Promise((r) => setTimeout(r, drainDelayMs));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await closed;
    await drift?.flush();
    drift?.close();
    await Promise.all([champion.release(), challenger?.release()]);
    log('scorer stopped');
  }
}

export interface RunningDriftMonitor {
  /** The read side: /v1/drift, /metrics, /healthz. */
  read: Server;
  /** The scorer's side: POST /v1/blocks. */
  ingest: Server;
  close(): Promise<void>;
}

/**
 * Two listeners: reads on `host` (every address unless set), ingest on `ingestHost`, loopback unless
 * set. In a Pod the scorer shares the monitor's network namespace, so loopback reaches it and no
 * other Pod does; the local node agent, whose Pods share the host's loopback, passes the Pod's own.
 */
export async function startDriftMonitor(spec: DriftSidecarSpec, options: { host?: string; ingestHost?: string; log?: Log } = {}): Promise<RunningDriftMonitor> {
  const log = options.log ?? jsonLog;
  const store = spec.modelUri.startsWith('gs://') ? { gcs: makeStorage() } : {};
  const [schemaBytes, profileBytes] = await Promise.all([readArtifact(spec.modelUri, 'input-schema.json', store), readArtifact(spec.modelUri, 'reference-profile.json', store)]);
  const schema = inputSchema.parse(JSON.parse(schemaBytes.toString('utf8')));
  const profile = parseReferenceProfile(JSON.parse(profileBytes.toString('utf8')), `${spec.modelUri}reference-profile.json`);
  const sidecar = createDriftSidecar(spec, schema, profile);
  const ingestHost = options.ingestHost ?? '127.0.0.1';
  if (['0.0.0.0', '::', ''].includes(ingestHost)) throw new Error(`the drift monitor takes count blocks on one address the scorer alone reaches, never on every address (${JSON.stringify(ingestHost)})`);
  const ingest = await listen(sidecar.ingest, spec.ingestPort, ingestHost);
  const read = await listen(sidecar.read, spec.port, options.host).catch(async (err: unknown) => {
    await new Promise((r) => ingest.close(r));
    throw err;
  });
  const port = (s: Server) => (s.address() as { port: number }).port;
  log('drift monitor ready', { model: spec.model, version: spec.version, port: port(read), ingest: `${ingestHost}:${port(ingest)}`, maxBodyBytes: sidecar.maxBodyBytes, windowRows: spec.windowRows });
  return {
    read,
    ingest,
    close: () => Promise.all([read, ingest].map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined),
  };
}

function specFrom<T>(name: string, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } }): T {
  const raw = process.env[name];
  if (!raw) throw new Error(`${name} is unset: the operator sets it in the scoring Pod`);
  const parsed = schema.safeParse(JSON.parse(raw));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${name}.${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/** ORCHARD_LISTEN_ADDRESS: the address to listen on (default 0.0.0.0); the local node agent sets it to the Pod's own. */
function listenAddress(): string | undefined {
  return process.env.ORCHARD_LISTEN_ADDRESS || undefined;
}

/** ORCHARD_SCORER_<LIMIT> overrides, e.g. ORCHARD_SCORER_REQUEST_TIMEOUT_MS=5000; unset: the default. */
export function scorerLimitsFromEnv(env: NodeJS.ProcessEnv): Partial<ScorerLimits> {
  const names: Record<keyof ScorerLimits, string> = {
    headersTimeoutMs: 'ORCHARD_SCORER_HEADERS_TIMEOUT_MS',
    requestTimeoutMs: 'ORCHARD_SCORER_REQUEST_TIMEOUT_MS',
    maxConnections: 'ORCHARD_SCORER_MAX_CONNECTIONS',
    bodyBudgetBytes: 'ORCHARD_SCORER_BODY_BUDGET_BYTES',
  };
  const limits: Partial<ScorerLimits> = {};
  for (const [key, name] of Object.entries(names) as [keyof ScorerLimits, string][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name}: "${raw.slice(0, 40)}" is not a positive integer: set it to one, or unset it for the default ${DEFAULT_SCORER_LIMITS[key]}`);
    limits[key] = n;
  }
  const headers = limits.headersTimeoutMs;
  const request = limits.requestTimeoutMs ?? DEFAULT_SCORER_LIMITS.requestTimeoutMs;
  if (headers !== undefined && headers > request) throw new Error(`${names.headersTimeoutMs} (${headers}) is over ${names.requestTimeoutMs} (${request}): the body's timeout includes the headers'`);
  return limits;
}

/** `orchard serve`: runs until SIGTERM. */
export async function serveCommand(): Promise<number> {
  const scorer = await startScorer(specFrom('ORCHARD_SERVING_SPEC', scorerSpec), { host: listenAddress(), limits: scorerLimitsFromEnv(process.env) });
  const drainMs = Number(process.env.ORCHARD_DRAIN_DELAY_MS ?? 5000);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await scorer.shutdown(drainMs);
  return 0;
}

/** `orchard drift`: runs until SIGTERM. */
export async function driftCommand(): Promise<number> {
  const host = listenAddress();
  const monitor = await startDriftMonitor(specFrom('ORCHARD_DRIFT_SPEC', driftSidecarSpec), { host, ...(host ? { ingestHost: host } : {}) });
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await monitor.close();
  return 0;
}
