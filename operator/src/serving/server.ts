// `orchard serve` and `orchard drift`: the two containers of a scoring Pod. The scorer loads its
// model versions, warms them up, then reports ready; on SIGTERM it reports not ready, keeps serving
// while the endpoint is withdrawn, then stops accepting and finishes the requests in flight.
import type { Server } from 'node:http';
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

type Log = (msg: string, fields?: Record<string, unknown>) => void;
const jsonLog: Log = (msg, fields = {}) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);

export async function startScorer(spec: ScorerSpec, options: { host?: string; log?: Log; threads?: number } = {}): Promise<RunningScorer> {
  const log = options.log ?? jsonLog;
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
  const app = createScoringApp({ state, metrics, maxBatchRows: spec.maxBatchRows, maxBodyBytes: spec.maxBodyBytes, log, ...(drift ? { drift } : {}) });
  const server = await listen(app, spec.port, options.host);
  // Keep-alive sockets outlive a proxy's idle timeout: the proxy closes first, never mid-request.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
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

/** `orchard serve`: runs until SIGTERM. */
export async function serveCommand(): Promise<number> {
  const scorer = await startScorer(specFrom('ORCHARD_SERVING_SPEC', scorerSpec), { host: listenAddress() });
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
