// `orchard drift`: the drift monitor beside each scorer. It takes every scored row (model inputs and
// prediction) over loopback, keeps a sliding window of counts on the training reference's bins, and
// serves the window (/v1/drift, merged by the operator across Pods) and per-feature scores (/metrics).
import express, { type NextFunction, type Request, type Response } from 'express';
import { createServer, type RequestListener, type Server } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import type { DriftSidecarSpec } from './spec.js';
import { parseDriftCounts, type DriftCounts } from '../drift/counts.js';
import { evaluateDrift, type DriftReport } from '../drift/evaluate.js';
import { DriftWindow } from '../drift/window.js';
import type { ReferenceProfile } from '../features/profile.js';
import type { InputSchema } from '../features/schema.js';
import type { EncodedRow } from '../features/transform.js';

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
  app: express.Express;
  summary(): DriftSummary;
  registry: Registry;
}

const MAX_ROWS_PER_POST = 100_000;

class BadRows extends Error {}

export function createDriftSidecar(spec: DriftSidecarSpec, schema: InputSchema, profile: ReferenceProfile, now: () => number = Date.now): DriftSidecar {
  const names = schema.inputs.map((i) => i.name);
  const numeric = schema.inputs.map((i) => i.type === 'Numeric');
  const window = new DriftWindow(profile, names, { windowRows: spec.windowRows, windowSeconds: spec.windowSeconds });
  const driftShare = Number(spec.driftShare);
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

  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.post('/v1/rows', express.json({ limit: '32mb' }), (req, res) => {
    const t = now();
    const { rows, predictions } = (req.body ?? {}) as { rows?: unknown; predictions?: unknown };
    if (!Array.isArray(rows) || !Array.isArray(predictions) || rows.length !== predictions.length || rows.length > MAX_ROWS_PER_POST) {
      throw new BadRows(`expected {"rows": [[...], ...], "predictions": [...]} of equal length, at most ${MAX_ROWS_PER_POST} rows`);
    }
    const decoded: EncodedRow[] = rows.map((row, r) => {
      if (!Array.isArray(row) || row.length !== names.length) throw new BadRows(`rows[${r}]: expected ${names.length} values (${names.join(', ')})`);
      return row.map((v, j) => (numeric[j] ? (typeof v === 'number' ? v : Number.NaN) : typeof v === 'string' ? v : ''));
    });
    decoded.forEach((row, r) => {
      const p = predictions[r];
      window.add(row, typeof p === 'number' || typeof p === 'string' ? p : undefined, t);
    });
    received += decoded.length;
    res.status(204).end();
  });
  // Count blocks from the scorer, which counts its rows itself (see serving/drift-sender.ts).
  app.post('/v1/blocks', express.json({ limit: '32mb' }), (req, res) => {
    const t = now();
    const blocks = (req.body ?? {}).blocks as unknown;
    if (!Array.isArray(blocks)) throw new BadRows('expected {"blocks": [{"counts", "first", "last"}, ...]}');
    const parsed = blocks.map((b, i) => {
      const block = b as { counts?: unknown; first?: unknown; last?: unknown };
      if (typeof block?.first !== 'number' || typeof block.last !== 'number') throw new BadRows(`blocks[${i}]: expected numeric first and last times`);
      try {
        return { counts: parseDriftCounts(block.counts, `blocks[${i}].counts`), first: block.first, last: block.last };
      } catch (err) {
        throw new BadRows((err as Error).message);
      }
    });
    for (const b of parsed) {
      try {
        window.addBlock(b.counts, b.first, b.last, t);
      } catch (err) {
        throw new BadRows((err as Error).message);
      }
      received += b.counts.rows;
    }
    res.status(204).end();
  });
  app.get('/v1/drift', (_req, res) => void res.json(summary()));
  app.get('/metrics', async (_req, res) => {
    scraped = undefined;
    res.type(registry.contentType).send(await registry.metrics());
  });
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const status = err instanceof BadRows ? 400 : typeof (err as { status?: unknown }).status === 'number' && (err as { status: number }).status < 500 ? (err as { status: number }).status : 500;
    res.status(status).json({ error: err instanceof Error ? err.message : String(err) });
  });
  return { app, summary, registry };
}

function columns(report: DriftReport | undefined) {
  return report ? [...report.features, ...(report.prediction ? [{ ...report.prediction, name: 'prediction' }] : [])] : [];
}

/** Listens on the spec's port; resolves once listening. */
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
