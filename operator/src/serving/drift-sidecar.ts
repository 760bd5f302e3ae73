// `orchard drift`: the drift monitor beside each scorer. It takes the scorer's count blocks on one
// listener (ingest, loopback only: a forged block could fake drift and trigger retraining), keeps a
// sliding window of counts on the training reference's bins, and serves the window on another
// (read: /v1/drift, merged by the operator across Pods, and per-feature scores on /metrics).
import express, { type NextFunction, type Request, type Response } from 'express';
import { createServer, type RequestListener, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { DriftSidecarSpec } from './spec.js';
import { maxCountsJsonBytes, parseLayoutCounts, type DriftCounts } from '../drift/counts.js';
import { evaluateDrift, type DriftReport } from '../drift/evaluate.js';
import { DriftWindow, WINDOW_BLOCKS } from '../drift/window.js';
import type { ReferenceProfile } from '../features/profile.js';
import type { InputSchema } from '../features/schema.js';

/** What GET /v1/drift answers: the window's counts, and their judgement once there are enough rows. */
export interface DriftSummary {
  model: string;
  version: number;
  windowRows: number;
  windowSeconds: number;
  rows: number;
  oldestTime?: string;
  counts: DriftCounts;
  report?: DriftReport;
}

export interface DriftSidecar {
  /** POST /v1/blocks: the scorer's counts. Only ever listen on an address no other Pod reaches. */
  ingest: express.Express;
  /** GET /v1/drift, /metrics and /healthz: what the operator and Prometheus read. */
  read: express.Express;
  summary(): DriftSummary;
  registry: Registry;
  /** The largest /v1/blocks body accepted: the most a post of whole blocks on this profile can take. */
  maxBodyBytes: number;
}

/** Blocks in one post: the scorer never holds more than a window's worth (see DriftSender). */
export const MAX_BLOCKS_PER_POST = WINDOW_BLOCKS;
/** How far ahead of the monitor's clock a block may end: both run on one node, so only rounding. */
const MAX_CLOCK_AHEAD_MS = 60_000;

class BadRequest extends Error {}

/** Where and how the window is kept; the ports are for listeners, which this builder does not open. */
export type DriftWindowSpec = Omit<DriftSidecarSpec, 'ingestPort'>;

export function createDriftSidecar(spec: DriftWindowSpec, schema: InputSchema, profile: ReferenceProfile, now: () => number = Date.now): DriftSidecar {
  const names = schema.inputs.map((i) => i.name);
  const window = new DriftWindow(profile, names, { windowRows: spec.windowRows, windowSeconds: spec.windowSeconds });
  const layout = window.layout;
  const driftShare = Number(spec.driftShare);
  // A block holds at most a window's rows (the scorer's are a twentieth of it); a post is whole blocks plus their times.
  const maxBlockBytes = maxCountsJsonBytes(layout, spec.windowRows) + 64;
  const maxBodyBytes = MAX_BLOCKS_PER_POST * (maxBlockBytes + 1) + 64;
  let received = 0;

  const summary = (): DriftSummary => {
    const t = now();
    const counts = window.counts(t);
    const oldest = window.oldest(t);
    const out: DriftSummary = { model: spec.model, version: spec.version, windowRows: spec.windowRows, windowSeconds: spec.windowSeconds, rows: counts.rows, counts };
    if (oldest !== undefined) out.oldestTime = new Date(oldest).toISOString();
    if (counts.rows >= spec.minRows) out.report = evaluateDrift(profile, counts, { driftShare });
    return out;
  };

  const registry = new Registry();
  const labels = { model: spec.model, version: String(spec.version) };
  registry.setDefaultLabels(labels);
  const rowsReceived = new Gauge({ name: 'orchard_drift_rows_received', help: 'Rows received from the scorer since start.', registers: [registry], collect() { this.set(received); } });
  void rowsReceived;
  const rejected = new Counter({ name: 'orchard_drift_posts_rejected_total', help: 'Posts of count blocks refused, by reason (invalid, too_large): nothing of them entered the window.', labelNames: ['reason'], registers: [registry] });
  // Scores are judged when scraped, so they always describe the current window.
  let scraped: DriftSummary | undefined;
  const judged = () => (scraped ??= summary());
  new Gauge({ name: 'orchard_drift_window_rows', help: 'Rows in the sliding window.', registers: [registry], collect() { this.set(judged().rows); } });
  new Gauge({
    name: 'orchard_drift_score',
    help: 'Drift score per feature: p-value (KS, ChiSquare, ZTest) or distance (Wasserstein, JensenShannon); see the test label.',
    labelNames: ['feature', 'test'],
    registers: [registry],
    collect() {
      this.reset();
      for (const f of columns(judged().report)) this.set({ feature: f.name, test: f.test }, f.score);
    },
  });
  new Gauge({
    name: 'orchard_drift_detected',
    help: '1 when the feature has drifted from the training data.',
    labelNames: ['feature'],
    registers: [registry],
    collect() {
      this.reset();
      for (const f of columns(judged().report)) this.set({ feature: f.name }, f.drifted ? 1 : 0);
    },
  });
  new Gauge({ name: 'orchard_drift_share', help: 'Share of model inputs that have drifted.', registers: [registry], collect() { const r = judged().report; if (r) this.set(r.driftedShare); else this.reset(); } });
  new Gauge({
    name: 'orchard_drift_dataset_drift',
    help: '1 when the share of drifted inputs reaches the drift share; absent until the window has minRows rows.',
    registers: [registry],
    collect() {
      const r = judged().report;
      if (r) this.set(r.datasetDrift ? 1 : 0);
      else this.reset();
    },
  });

  /** Every block of a post, checked against the profile before any of them enters the window. */
  const parseBlocks = (body: unknown, t: number) => {
    const blocks = ownField(body, 'blocks');
    if (!Array.isArray(blocks) || Object.keys(body as object).length !== 1) throw new BadRequest('expected {"blocks": [{"counts", "first", "last"}, ...]} and nothing else');
    if (blocks.length > MAX_BLOCKS_PER_POST) throw new BadRequest(`blocks: ${blocks.length} blocks, at most ${MAX_BLOCKS_PER_POST} a post`);
    return blocks.map((b, i) => {
      const at = `blocks[${i}]`;
      if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new BadRequest(`${at}: expected an object {"counts", "first", "last"}`);
      const extra = Object.keys(b).find((k) => k !== 'counts' && k !== 'first' && k !== 'last');
      if (extra !== undefined) throw new BadRequest(`${at}.${extra}: not a field of a block`);
      const { first, last } = b as { first?: unknown; last?: unknown };
      for (const [field, v] of [['first', first], ['last', last]] as const) {
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new BadRequest(`${at}.${field}: expected a time in milliseconds since the epoch, got ${JSON.stringify(v)}`);
      }
      if ((first as number) > (last as number)) throw new BadRequest(`${at}: first (${first}) is after last (${last})`);
      if ((last as number) > t + MAX_CLOCK_AHEAD_MS) throw new BadRequest(`${at}.last: ${last} is ahead of the monitor's clock (${t}); a block from the future would never age out`);
      try {
        return { counts: parseLayoutCounts(ownField(b, 'counts'), layout, `${at}.counts`, spec.windowRows), first: first as number, last: last as number };
      } catch (err) {
        throw new BadRequest((err as Error).message);
      }
    });
  };

  const ingest = express();
  ingest.disable('x-powered-by');
  ingest.post('/v1/blocks', express.json({ limit: maxBodyBytes }), (req, res) => {
    const t = now();
    const blocks = parseBlocks(req.body, t);
    for (const b of blocks) {
      window.addBlock(b.counts, b.first, b.last, t);
      received += b.counts.rows;
    }
    res.status(204).end();
  });

  const read = express();
  read.disable('x-powered-by');
  read.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  read.get('/v1/drift', (_req, res) => void res.json(summary()));
  read.get('/metrics', async (_req, res) => {
    scraped = undefined;
    res.type(registry.contentType).send(await registry.metrics());
  });

  for (const app of [ingest, read]) {
    app.use((req, res) => void res.status(404).json({ error: `${req.method} ${req.path} is not served on this port` }));
    app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
      if (res.headersSent) return next(err);
      const status = err instanceof BadRequest ? 400 : typeof (err as { status?: unknown }).status === 'number' && (err as { status: number }).status < 500 ? (err as { status: number }).status : 500;
      if (app === ingest && status < 500) rejected.inc({ reason: status === 413 ? 'too_large' : 'invalid' });
      const message = status === 413 ? `the body is larger than ${maxBodyBytes} bytes, the most ${MAX_BLOCKS_PER_POST} blocks of this model's counts take` : err instanceof Error ? err.message : String(err);
      res.status(status).json({ error: message });
    });
  }
  return { ingest, read, summary, registry, maxBodyBytes };
}

/** An own property of a JSON object: never one inherited from Object.prototype. */
function ownField(value: unknown, name: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
}

function columns(report: DriftReport | undefined) {
  return report ? [...report.features, ...(report.prediction ? [{ ...report.prediction, name: 'prediction' }] : [])] : [];
}

/** Listens on port and host; resolves once listening. */
export function listen(handler: RequestListener, port: number, host = '0.0.0.0'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(handler);
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
