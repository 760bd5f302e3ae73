// The scoring HTTP API: Open Inference Protocol v2 (so KServe and Triton clients work unchanged)
// and a plain JSON route for raw records, which go through the shared feature spec. Every request
// is validated before the model sees it; any problem is a 4xx JSON error naming the field.
import express, { type NextFunction, type Request, type Response } from 'express';
import { driftPrediction } from '../drift/counts.js';
import type { ModelOutputs } from '../export/onnx-runner.js';
import type { EncodedRow } from '../features/transform.js';
import type { DriftSender } from './drift-sender.js';
import type { Route, ScoringMetrics } from './metrics.js';
import type { ServedModel } from './model.js';
import { parseInferRequest, parseInstances, RequestError } from './requests.js';

export interface ScoringState {
  champion: ServedModel;
  challenger?: { model: ServedModel; percent: number };
  ready: boolean;
  draining: boolean;
}

export interface ScoringAppOptions {
  state: ScoringState;
  metrics: ScoringMetrics;
  maxBatchRows: number;
  maxBodyBytes: number;
  drift?: DriftSender;
  /** Picks the challenger for a request: random below percent unless a test fixes it. */
  random?: () => number;
}

export const VERSION_HEADER = 'orchard-model-version';

/**
 * Reads a JSON body up to `limit` bytes. Leaner than body-parser on the scoring routes, where its
 * content-type negotiation and decoding layers show in profiles; the checks that matter stay.
 */
function jsonBody(limit: number) {
  const tooLarge = `request body: over the limit of ${limit} bytes: send fewer rows per request`;
  return (req: Request, _res: Response, next: NextFunction) => {
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      req.resume(); // drained, so the connection stays usable for the next request
      return next(new RequestError(400, tooLarge));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('error', next);
    req.on('end', () => {
      if (size > limit) return next(new RequestError(400, tooLarge));
      const text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).toString('utf8');
      if (!text.trim()) return next(new RequestError(400, 'request body: empty: send a JSON object'));
      try {
        req.body = JSON.parse(text);
      } catch (err) {
        return next(new RequestError(400, `request body: malformed JSON: ${(err as Error).message}`));
      }
      next();
    });
  };
}

/** res.json without the freshness and ETag work a scoring answer never needs. */
function sendJson(res: Response, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const SERVER = { name: 'orchard', version: '0.1.0', extensions: ['model_repository'] };

function outputNames(model: ServedModel): string[] {
  return ['raw', ...(model.schema.classNames ? ['probabilities'] : ['prediction'])];
}

function datatypeOf(type: 'Numeric' | 'Categorical') {
  return type === 'Numeric' ? 'FP32' : 'BYTES';
}

function metadata(model: ServedModel, versions: number[]) {
  const k = model.schema.classNames?.length;
  return {
    name: model.name,
    versions: versions.map(String),
    platform: 'onnxruntime_onnx',
    inputs: model.schema.inputs.map((i) => ({ name: i.name, datatype: datatypeOf(i.type), shape: [-1, 1] })),
    outputs: [
      { name: 'raw', datatype: 'FP64', shape: [-1, k && k > 2 ? k : 1] },
      k ? { name: 'probabilities', datatype: 'FP64', shape: [-1, k] } : { name: 'prediction', datatype: 'FP64', shape: [-1] },
    ],
    parameters: { task: model.schema.task, ...(model.schema.classNames ? { class_names: model.schema.classNames } : {}) },
  };
}

export function createScoringApp(options: ScoringAppOptions): express.Express {
  const { state, metrics } = options;
  const random = options.random ?? Math.random;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);

  // Route label and timing for every response; draining answers ask clients to reconnect elsewhere.
  app.use((req, res, next) => {
    const started = performance.now();
    const route = routeOf(req.path, req.method);
    res.locals.route = route;
    if (state.draining) res.setHeader('connection', 'close');
    res.on('finish', () => metrics.observeRequest(route, res.statusCode, (performance.now() - started) / 1000));
    next();
  });

  const versions = () => [state.champion.version, ...(state.challenger ? [state.challenger.model.version] : [])];
  /** The model a request names: a version when given, else the champion or, for the canary share, the challenger. */
  const resolve = (name: string, version: string | undefined): ServedModel => {
    if (name !== state.champion.name) throw new RequestError(404, `model "${name}" is not served here (this server serves "${state.champion.name}")`);
    if (version === undefined) {
      const c = state.challenger;
      return c && random() * 100 < c.percent ? c.model : state.champion;
    }
    const found = [state.champion, state.challenger?.model].find((m) => m && String(m.version) === version);
    if (!found) throw new RequestError(404, `version "${version}" of "${name}" is not served here (versions: ${versions().join(', ')})`);
    return found;
  };

  const modelRoutes = ['/v2/models/:name', '/v2/models/:name/versions/:version'];
  // Scoring first: the routes every request but probes takes.
  const json = jsonBody(options.maxBodyBytes);
  app.post(
    modelRoutes.map((r) => `${r}/infer`),
    json,
    async (req, res) => {
      const model = resolve(req.params.name as string, req.params.version as string | undefined);
      const names = outputNames(model);
      const request = parseInferRequest(req.body, model, options.maxBatchRows, names);
      const out = await score(model, request.rows);
      const n = request.rows.length;
      const tensors: Record<string, { name: string; datatype: string; shape: number[]; data: number[] }> = {
        raw: { name: 'raw', datatype: 'FP64', shape: [n, out.dimension], data: Array.from(out.raw) },
      };
      if (out.probabilities) tensors.probabilities = { name: 'probabilities', datatype: 'FP64', shape: [n, out.probabilities.length / n], data: Array.from(out.probabilities) };
      if (out.prediction) tensors.prediction = { name: 'prediction', datatype: 'FP64', shape: [n], data: Array.from(out.prediction) };
      res.setHeader(VERSION_HEADER, String(model.version));
      sendJson(res, {
        model_name: model.name,
        model_version: String(model.version),
        ...(request.id !== undefined ? { id: request.id } : {}),
        outputs: (request.outputs ?? names).map((name) => tensors[name]!),
      });
    },
  );

  // KServe's V1 protocol shape: raw records in, predictions (and class probabilities) out.
  app.post(['/v1/models/:target', '/v1/models/:name/versions/:version/predict'], json, async (req, res) => {
    let name = req.params.name as string | undefined;
    if (name === undefined) {
      const target = req.params.target as string;
      if (!target.endsWith(':predict')) throw new RequestError(404, `no route POST ${req.path}: use /v1/models/<name>:predict`);
      name = target.slice(0, -':predict'.length);
    }
    const model = resolve(name, req.params.version as string | undefined);
    const rows = parseInstances(req.body, model, options.maxBatchRows);
    const out = await score(model, rows);
    const classes = model.schema.classNames;
    res.setHeader(VERSION_HEADER, String(model.version));
    if (!classes) {
      sendJson(res, { model_name: model.name, model_version: String(model.version), predictions: Array.from(out.prediction!) });
      return;
    }
    const k = classes.length;
    const predictions: string[] = [];
    const probabilities: Record<string, number>[] = [];
    for (let r = 0; r < rows.length; r++) {
      const p = out.probabilities!.subarray(r * k, (r + 1) * k);
      let best = 0;
      for (let c = 1; c < k; c++) if (p[c]! > p[best]!) best = c;
      predictions.push(k === 2 ? classes[p[1]! > 0.5 ? 1 : 0]! : classes[best]!);
      probabilities.push(Object.fromEntries(classes.map((c, i) => [c, p[i]!])));
    }
    sendJson(res, { model_name: model.name, model_version: String(model.version), predictions, probabilities });
  });

  app.get('/v2/health/live', (_req, res) => void res.json({ live: true }));
  app.get('/v2/health/ready', (_req, res) => void res.status(state.ready && !state.draining ? 200 : 503).json({ ready: state.ready && !state.draining }));
  app.get('/v2', (_req, res) => void res.json(SERVER));
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.get(modelRoutes, (req, res) => {
    const model = resolve(req.params.name as string, req.params.version as string | undefined);
    res.json(metadata(model, req.params.version ? [model.version] : versions()));
  });
  app.get(modelRoutes.map((r) => `${r}/ready`), (req, res) => {
    resolve(req.params.name as string, req.params.version as string | undefined);
    res.json({ name: req.params.name, ready: state.ready });
  });

  app.use((req, _res, next) => next(new RequestError(404, `no route ${req.method} ${req.path}`)));
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    res.status(statusOf(err)).json({ error: messageOf(err, options.maxBodyBytes) });
  });

  async function score(model: ServedModel, rows: EncodedRow[]): Promise<ModelOutputs> {
    const out = await model.score(rows);
    const { rows: scored, predictions: histogram } = metrics.forVersion(model.version);
    scored.inc(rows.length);
    const predictions: (number | string)[] = [];
    for (let r = 0; r < rows.length; r++) {
      const p = driftPrediction(model.schema.task, out, r, model.schema.classNames);
      predictions.push(p);
      histogram.observe(typeof p === 'number' ? p : model.schema.classNames!.indexOf(p));
    }
    // Only the champion's traffic is compared with its training reference.
    if (model === state.champion) options.drift?.push(rows, predictions);
    return out;
  }

  return app;
}

function routeOf(path: string, method: string): Route {
  if (path.startsWith('/v2/health')) return 'health';
  if (path === '/metrics') return 'metrics';
  if (method === 'POST' && path.startsWith('/v2/models/') && path.endsWith('/infer')) return 'v2_infer';
  if (method === 'POST' && path.startsWith('/v1/models/')) return 'v1_predict';
  if (method === 'GET' && path.startsWith('/v2')) return 'v2_metadata';
  return 'other';
}

function statusOf(err: unknown): number {
  if (err instanceof RequestError) return err.status;
  const status = (err as { status?: unknown; type?: unknown })?.status;
  // body-parser's own errors (malformed JSON, body too large, bad encoding) are the client's.
  if (typeof status === 'number' && status >= 400 && status < 500) return 400;
  return 500;
}

function messageOf(err: unknown, maxBodyBytes: number): string {
  if (err instanceof RequestError) return err.message;
  const e = err as { type?: string; message?: string; status?: number };
  if (e?.type === 'entity.too.large') return `request body: over the limit of ${maxBodyBytes} bytes: send fewer rows per request`;
  if (e?.type === 'entity.parse.failed') return `request body: malformed JSON: ${e.message}`;
  if (typeof e?.status === 'number' && e.status < 500) return `request body: ${e.message}`;
  return 'internal error: the request could not be scored; it has been logged';
}
