// `orchard serve` and `orchard drift`: the two containers of a scoring Pod. The scorer loads its
// model versions, warms them up, then reports ready; on SIGTERM it reports not ready, keeps serving
// while the endpoint is withdrawn, then stops accepting and finishes the requests in flight.
import { createServer, type Server } from 'node:http';
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { parseStrict } from '../api/v1alpha1/common.js';
import { makeStorage } from '../artifacts/gcs.js';
import { readArtifact } from '../artifacts/store.js';
import { parseReferenceProfile } from '../features/profile.js';
import { inputSchema } from '../features/schema.js';
import { createScoringApp, type ScoringState } from './app.js';
import { createDriftSidecar, listen } from './drift-sidecar.js';
import { DriftSender } from './drift-sender.js';
import { ScoringMetrics } from './metrics.js';
import { loadServedModel } from './model.js';
import { driftSidecarSpec, extraFields, scorerSpec, type DriftSidecarSpec, type ScorerSpec } from './spec.js';

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

export const SERVE_HELP = `usage: orchard serve [flags]

Serves a published model version over HTTP (KServe V1 /v1/models/NAME:predict and Open Inference
Protocol /v2/models/NAME/infer) until SIGTERM. In a scoring Pod the operator passes everything as
JSON in ORCHARD_SERVING_SPEC; flags set or override its fields, so a person needs only --model-uri.

  --model-uri URI          the version's artifact prefix, file:///… or gs://… (modelUri; required)
  --model NAME             the model name in request paths (model; default "model")
  --version N              the version number reported in answers (version; default 1)
  --port N                 port to listen on (port; default 8080; 0 picks a free one)
  --host ADDR              address to listen on (default 0.0.0.0, or ORCHARD_LISTEN_ADDRESS)
  --max-batch-rows N       most rows per request (maxBatchRows; default 1000)
  --max-body-bytes N       largest request body (maxBodyBytes; default 1048576)
  --extra-fields POLICY    fields the model does not read: Ignore (default), Reject or PassThrough
  --pass-through A,B       PassThrough: the fields echoed beside each prediction (default the model's idColumns)
  --drift-url URL          where count blocks for drift monitoring go (driftUrl; default none)
  -h, --help               this text

Limits: ORCHARD_SCORER_HEADERS_TIMEOUT_MS, ORCHARD_SCORER_REQUEST_TIMEOUT_MS, ORCHARD_SCORER_MAX_CONNECTIONS,
ORCHARD_SCORER_BODY_BUDGET_BYTES (docs/serving-limits.md); ORCHARD_DRAIN_DELAY_MS: drain delay on SIGTERM.
See docs/commands.md.
`;

export const DRIFT_HELP = `usage: orchard drift [flags]

Runs the drift monitor of a published model version until SIGTERM: the scorer posts count blocks to
its ingest port (POST /v1/blocks), and GET /v1/drift judges the window against the training reference.
In a scoring Pod the operator passes everything as JSON in ORCHARD_DRIFT_SPEC; flags set or override its fields.

  --model-uri URI          the version's artifact prefix, with reference-profile.json (modelUri; required)
  --model NAME             the model name (model; default "model")
  --version N              the version number (version; default 1)
  --port N                 the read side: /v1/drift, /metrics, /healthz (port; default 9091)
  --ingest-port N          where the scorer posts blocks, on loopback (ingestPort; default 9092)
  --host ADDR              address of the read side (default every address, or ORCHARD_LISTEN_ADDRESS)
  --window-rows N          rows in the sliding window (windowRows; default 5000)
  --window-seconds N       oldest age of a row in the window (windowSeconds; default 3600)
  --min-rows N             rows needed before drift is judged (minRows; default 500)
  --drift-share F          share of drifted features that makes the data set drifted (driftShare; default "0.5")
  -h, --help               this text

See docs/commands.md.
`;

/** A command-line mistake: the command prints it with a pointer to --help and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type FlagKind = 'string' | 'int' | 'list';
/** flag → [spec field, kind]; a flag sets or overrides its field of the spec from the environment. */
const SERVE_FLAGS: Record<string, [string, FlagKind]> = {
  'model-uri': ['modelUri', 'string'], model: ['model', 'string'], version: ['version', 'int'], port: ['port', 'int'],
  'max-batch-rows': ['maxBatchRows', 'int'], 'max-body-bytes': ['maxBodyBytes', 'int'], 'drift-url': ['driftUrl', 'string'],
};
const DRIFT_FLAGS: Record<string, [string, FlagKind]> = {
  'model-uri': ['modelUri', 'string'], model: ['model', 'string'], version: ['version', 'int'], port: ['port', 'int'], 'ingest-port': ['ingestPort', 'int'],
  'window-rows': ['windowRows', 'int'], 'window-seconds': ['windowSeconds', 'int'], 'min-rows': ['minRows', 'int'], 'drift-share': ['driftShare', 'string'],
};
const SERVE_DEFAULTS = { model: 'model', version: 1, port: 8080, maxBatchRows: 1000, maxBodyBytes: 1048576 };
const DRIFT_DEFAULTS = { model: 'model', version: 1, port: 9091, ingestPort: 9092, windowRows: 5000, windowSeconds: 3600, minRows: 500, driftShare: '0.5' };

/** The spec a command runs with: defaults, then the environment's JSON, then flags. */
function specFrom<S extends z.ZodType>(
  name: string,
  schema: S,
  defaults: Record<string, unknown>,
  flags: Record<string, [string, FlagKind]>,
  values: Record<string, string | boolean | undefined>,
): z.output<S> {
  let fromEnv: unknown = {};
  const raw = process.env[name];
  if (raw) {
    try {
      fromEnv = JSON.parse(raw);
    } catch (err) {
      throw new UsageError(`${name} is not JSON (${(err as Error).message}): set it to the spec as JSON, or unset it and pass flags`, { cause: err });
    }
    if (typeof fromEnv !== 'object' || fromEnv === null || Array.isArray(fromEnv)) throw new UsageError(`${name} is not a JSON object: set it to the spec as JSON, or unset it and pass flags`);
  }
  const merged: Record<string, unknown> = { ...defaults, ...(fromEnv as Record<string, unknown>) };
  for (const [flag, [field, kind]] of Object.entries(flags)) {
    const v = values[flag];
    if (typeof v !== 'string') continue;
    if (kind === 'int') {
      if (!/^[0-9]+$/.test(v)) throw new UsageError(`--${flag}: "${v.slice(0, 40)}" is not a whole number`);
      merged[field] = Number(v);
    } else merged[field] = v;
  }
  if (merged.modelUri === undefined) throw new UsageError(`no model: pass --model-uri file:///path/to/version/ (or gs://…), or set ${name}`);
  // Flags are checked by parseArgs; the JSON is the operator's, and a field this image does not know is dropped.
  const parsed = parseStrict(schema, merged, name, 'Drop');
  if (!parsed.success) throw new UsageError(parsed.message);
  return parsed.data;
}

function parseFlags(argv: string[], names: string[]): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: argv, options: { ...Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])), help: { type: 'boolean', short: 'h' } } }).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}: see --help`, { cause: err });
  }
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
export async function serveCommand(argv: string[] = []): Promise<number> {
  const values = parseFlags(argv, [...Object.keys(SERVE_FLAGS), 'host', 'extra-fields', 'pass-through']);
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const spec = specFrom('ORCHARD_SERVING_SPEC', scorerSpec, SERVE_DEFAULTS, SERVE_FLAGS, values);
  const policy = values['extra-fields'];
  const passThrough = typeof values['pass-through'] === 'string' ? values['pass-through'].split(',').map((f) => f.trim()).filter(Boolean) : undefined;
  if (policy !== undefined || passThrough) {
    const parsed = extraFields.safeParse({ policy: policy ?? spec.extraFields?.policy ?? 'PassThrough', ...(passThrough ? { passThrough } : {}) });
    if (!parsed.success) throw new UsageError(`--extra-fields: "${String(policy).slice(0, 40)}" is not a policy: use Ignore, Reject or PassThrough`);
    if (parsed.data.passThrough && parsed.data.policy !== 'PassThrough') throw new UsageError('--pass-through applies only to --extra-fields PassThrough');
    spec.extraFields = parsed.data;
  }
  const host = typeof values.host === 'string' ? values.host : listenAddress();
  const scorer = await startScorer(spec, { host, limits: scorerLimitsFromEnv(process.env) });
  const drainMs = Number(process.env.ORCHARD_DRAIN_DELAY_MS ?? 5000);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await scorer.shutdown(drainMs);
  return 0;
}

/** `orchard drift`: runs until SIGTERM. */
export async function driftCommand(argv: string[] = []): Promise<number> {
  const values = parseFlags(argv, [...Object.keys(DRIFT_FLAGS), 'host']);
  if (values.help) {
    process.stdout.write(DRIFT_HELP);
    return 0;
  }
  const spec = specFrom('ORCHARD_DRIFT_SPEC', driftSidecarSpec, DRIFT_DEFAULTS, DRIFT_FLAGS, values);
  const host = typeof values.host === 'string' ? values.host : listenAddress();
  const monitor = await startDriftMonitor(spec, { host, ...(host ? { ingestHost: host } : {}) });
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await monitor.close();
  return 0;
}
