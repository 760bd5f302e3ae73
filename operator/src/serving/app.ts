// The scoring HTTP API: Open Inference Protocol v2 (so KServe and Triton clients work unchanged)
// and a plain JSON route for raw records, which go through the shared feature spec. Every request
// is validated before the model sees it; any problem is a 4xx JSON error naming the field.
import express, { type NextFunction, type Request, type Response } from 'express';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { driftPrediction } from '../drift/counts.js';
import type { ModelOutputs } from '../export/onnx-runner.js';
import type { EncodedRow } from '../features/transform.js';
import type { DriftSender } from './drift-sender.js';
import type { Route, ScoringMetrics } from './metrics.js';
import type { ServedModel } from './model.js';
import { parseInferRequest, parseInstances, passedThrough, RequestError } from './requests.js';
import { DEFAULT_EXTRA_FIELDS, type ExtraFields } from './spec.js';

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
  /**
   * Body bytes all requests together may hold at once. A body costs up to ~6 times its size while
   * it is read, decoded and parsed (see docs/serving-limits.md); past the budget a request gets 413
   * with Retry-After.
   */
  bodyBudgetBytes: number;
  drift?: DriftSender;
  /** What a record's fields beyond the model's inputs do: the model's serving.extraFields. */
  extraFields?: ExtraFields;
  /** Picks the challenger for a request: random below percent unless a test fixes it. */
  random?: () => number;
  /** Where unexpected failures are logged: the scorer's own log. */
  log: (msg: string, fields?: Record<string, unknown>) => void;
}

export const VERSION_HEADER = 'orchard-model-version';

/** Status for a client that closed its connection before the answer, as nginx counts it: not a server error. */
export const CLIENT_CLOSED = 499;

/** Body bytes held by requests in flight, against one budget for the whole scorer. */
class BodyBudget {
  private held = 0;
  constructor(readonly limit: number) {}

  /** Takes n bytes if they fit; the caller gives them back once the body is no longer held. */
  take(n: number): boolean {
    if (this.held + n > this.limit) return false;
    this.held += n;
    return true;
  }

  give(n: number): void {
    this.held -= n;
  }
}

/** A body refused for the budget, not for itself: the same request fits a moment later. */
class BudgetError extends RequestError {}

/** A body the connection could not finish (timed out, or not valid HTTP): the connection closes after the answer. */
class ConnectionError extends RequestError {}

/** A request whose body is being read: the clientError handler fails it when its socket times out. */
interface BodyRead {
  fail(err: RequestError): void;
}

const JSON_TYPE = /^application\/(?:[a-z0-9!#$&^_.+-]+\+)?json$/;

/** Only JSON is scored: a text/plain or form POST (what a cross-origin page may send unasked) gets 415. */
function checkContentType(header: string | undefined): void {
  const fix = 'send the body as JSON with content-type: application/json';
  if (header === undefined || header.trim() === '') throw new RequestError(415, `content-type: missing: ${fix}`);
  const [type, ...params] = header.split(';').map((p) => p.trim().toLowerCase());
  if (!JSON_TYPE.test(type!)) throw new RequestError(415, `content-type: "${header.slice(0, 60)}" is not JSON: ${fix}`);
  for (const param of params) {
    const [name, value] = param.split('=').map((p) => p.trim().replace(/^"(.*)"$/, '$1'));
    if (name === 'charset' && value !== 'utf-8' && value !== 'utf8') throw new RequestError(415, `content-type: charset "${value}" is not UTF-8: send the body as UTF-8 JSON`);
  }
}

interface BodyLimits {
  /** Bytes at most. */
  limit: number;
  /** Value separators at most: what the largest legal request holds, with room to spare. */
  maxValues: number;
  budget: BodyBudget;
  /** The bytes this request holds of the budget, given back by the caller once it is answered. */
  lease: { held: number };
  /** Bodies being read, by socket. */
  reads: WeakMap<object, BodyRead>;
}

/**
 * The first bytes of every body are not charged to the budget: ordinary requests never wait on
 * it, whoever holds it, and the connection cap bounds them (1024 × 64 KiB = 64 MiB).
 */
const FREE_BODY_BYTES = 65_536;

/** A buffer for a declared length, or none when even its address space is refused: chunks then. */
function allocate(bytes: number): Buffer | undefined {
  try {
    return Buffer.allocUnsafe(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Counts commas, stopping past `max`: a body's values cost JSON.parse up to 40 bytes each (26
 * million "0.5," in 100 MiB took a scorer past 1 GiB), so a body with more of them than any
 * legal request has is refused before it is decoded or parsed. Buffer.indexOf scans natively:
 * ~0.1 ms per MiB, against ~2 ms for a loop over the bytes.
 */
function countCommas(bytes: Buffer, max: number): number {
  let n = 0;
  for (let i = bytes.indexOf(44); i !== -1 && n <= max; i = bytes.indexOf(44, i + 1)) n++;
  return n;
}

/**
 * Reads a JSON body up to `limit` bytes, charging what arrives to the budget. Leaner than
 * body-parser on the scoring routes, where its content-type negotiation and decoding layers show
 * in profiles; the checks that matter stay. Refused bodies are drained unread, so the connection
 * stays usable and the client reads its answer instead of a reset.
 */
function readJson(req: IncomingMessage, { limit, maxValues, budget, lease, reads }: BodyLimits): Promise<unknown> {
  // Built only when thrown: an Error captures a stack, which every accepted request would pay for.
  const tooLarge = () => new RequestError(413, `request body: over the limit of ${limit} bytes: send fewer rows per request`);
  // 413, not 503: RFC 9110 gives 413 a Retry-After for a temporary condition, and a flood of big
  // bodies is the client side's doing; a 5xx would page whoever watches OrchardScoringErrors.
  const busy = () => new BudgetError(413, 'request body: the scorer holds as many request bodies as its memory allows: retry shortly, or send fewer rows per request');
  return new Promise((resolve, reject) => {
    const header = req.headers['content-length'];
    const declared = header === undefined ? undefined : Number(header);
    if (declared !== undefined && declared > limit) {
      req.resume();
      return reject(tooLarge());
    }
    // A declared length gets one buffer, so the body is never copied while concatenating. Its
    // pages are touched, and charged, only as bytes arrive: a client that declares and then
    // trickles holds nothing.
    let whole = declared ? allocate(declared) : undefined;
    let chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (err: RequestError | undefined, value?: unknown) => {
      if (settled) return;
      settled = true;
      if (reads.get(req.socket) === read) reads.delete(req.socket);
      if (!err) return resolve(value);
      // The bytes are dropped now; what else arrives is discarded unread.
      whole = undefined;
      chunks = [];
      budget.give(lease.held);
      lease.held = 0;
      reject(err);
    };
    const read: BodyRead = { fail: (err) => settle(err) };
    reads.set(req.socket, read);
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      const before = size;
      size += chunk.length;
      if (size > limit) return settle(tooLarge());
      const charge = Math.max(0, size - FREE_BODY_BYTES) - Math.max(0, before - FREE_BODY_BYTES);
      if (charge > 0) {
        if (!budget.take(charge)) return settle(busy());
        lease.held += charge;
      }
      if (whole) chunk.copy(whole, before);
      else chunks.push(chunk);
    });
    req.on('error', () => settle(new RequestError(CLIENT_CLOSED, 'request body: the client closed the connection before the body was complete')));
    req.on('close', () => settle(new RequestError(CLIENT_CLOSED, 'request body: the client closed the connection before the body was complete')));
    req.on('end', () => {
      if (settled) return;
      let bytes = whole ?? (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      whole = undefined;
      chunks = [];
      if (bytes.length > 65_536 && countCommas(bytes, maxValues) > maxValues) {
        return settle(new RequestError(413, `request body: more than ${maxValues} values, more than a request of the largest batch holds: send fewer rows per request`));
      }
      let text = bytes.toString('utf8');
      bytes = Buffer.alloc(0); // the bytes are garbage once decoded: only the text is parsed
      // A byte order mark is legal at the start of UTF-8 JSON; JSON.parse would refuse it.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (!text.trim()) return settle(new RequestError(400, 'request body: empty: send a JSON object'));
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (err) {
        return settle(new RequestError(400, `request body: malformed JSON: ${(err as Error).message.slice(0, 200)}`));
      }
      settle(undefined, body);
    });
  });
}

function decodeSegment(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RequestError(400, `${what}: "${segment.slice(0, 60)}" is not valid percent-encoding`);
  }
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

/** The scorer's request listener: scoring routes on a direct path, everything else through express. */
export type ScoringHandler = ((req: IncomingMessage, res: ServerResponse) => void) & {
  /** The server's clientError listener: timeouts and unparsable requests get a JSON 4xx and are counted. */
  clientError: (err: NodeJS.ErrnoException, socket: Duplex) => void;
};

interface ScoringRoute {
  pattern: RegExp;
  route: Route;
  answer: (model: ServedModel, body: unknown) => Promise<unknown>;
}

export function createScoringApp(options: ScoringAppOptions): ScoringHandler {
  const { state, metrics } = options;
  const random = options.random ?? Math.random;
  const budget = new BodyBudget(Math.max(options.bodyBudgetBytes, options.maxBodyBytes));
  const reads = new WeakMap<object, BodyRead>();
  /** A failure's status and message; server-side failures are logged with their stack, not shown. */
  const failure = (err: unknown, where: Record<string, unknown>) => {
    const status = statusOf(err);
    if (status === CLIENT_CLOSED) options.log('client closed the connection before the answer', { ...where, status });
    else if (status >= 500) options.log('request failed', { ...where, error: (err as Error)?.stack ?? String(err) });
    return { status, message: messageOf(err) };
  };
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);

  // Route label and timing for every response; draining answers ask clients to reconnect elsewhere.
  app.use((req, res, next) => {
    const started = performance.now();
    const route = routeOf(req.path, req.method);
    if (state.draining) res.setHeader('connection', 'close');
    res.on('finish', () => metrics.observeRequest(route, res.statusCode, (performance.now() - started) / 1000));
    next();
  });

  // A legal request has at most a value per input (or column, with its key) per row, and each
  // value may carry a few commas inside its text: four times that, plus the request's own fields.
  const extraFields = options.extraFields ?? DEFAULT_EXTRA_FIELDS;
  // Ignore and PassThrough take whole rows of a data file, which may hold columns the model never reads.
  const rowWidth = extraFields.policy === 'Reject' ? 0 : 256;
  const maxValues = () => {
    const width = Math.max(rowWidth, ...[state.champion, state.challenger?.model].flatMap((m) => (m ? [m.schema.inputs.length, m.columns.length] : [])));
    return 4 * (options.maxBatchRows + 1) * (width + 2) + 1024;
  };
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

  /** Open Inference Protocol v2: one [N, 1] tensor per model input in, the asked-for output tensors out. */
  async function infer(model: ServedModel, body: unknown) {
    const names = outputNames(model);
    const request = parseInferRequest(body, model, options.maxBatchRows, names, extraFields);
    const out = await score(model, request.rows);
    const n = request.rows.length;
    const tensor = (name: string) => {
      if (name === 'raw') return { name, datatype: 'FP64', shape: [n, out.dimension], data: Array.from(out.raw) };
      if (name === 'probabilities') return { name, datatype: 'FP64', shape: [n, out.probabilities!.length / n], data: Array.from(out.probabilities!) };
      return { name, datatype: 'FP64', shape: [n], data: Array.from(out.prediction!) };
    };
    return {
      model_name: model.name,
      model_version: String(model.version),
      ...(request.id !== undefined ? { id: request.id } : {}),
      outputs: [...(request.outputs ?? names).map(tensor), ...(request.passedThrough ?? [])],
    };
  }

  /** KServe's V1 protocol shape: raw records in, predictions (and class probabilities) out. */
  async function predict(model: ServedModel, body: unknown) {
    const rows = parseInstances(body, model, options.maxBatchRows, extraFields);
    const out = await score(model, rows);
    const echoed = passedThrough(body, model, extraFields);
    const passThrough = echoed ? { passThrough: echoed } : {};
    const classes = model.schema.classNames;
    if (!classes) return { model_name: model.name, model_version: String(model.version), predictions: Array.from(out.prediction!), ...passThrough };
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
    return { model_name: model.name, model_version: String(model.version), predictions, probabilities, ...passThrough };
  }

  // Scoring takes a direct path: express's routing and response layers cost a scoring request
  // more than its parsing and validation do. Other paths (and odd variants of these) go to express.
  const scoringRoutes: ScoringRoute[] = [
    { pattern: /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/infer$/, route: 'v2_infer', answer: infer },
    { pattern: /^\/v1\/models\/([^/]+):predict$/, route: 'v1_predict', answer: predict },
    { pattern: /^\/v1\/models\/([^/]+)\/versions\/([^/]+)\/predict$/, route: 'v1_predict', answer: predict },
  ];

  async function scoreRequest(route: ScoringRoute, match: RegExpExecArray, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    let status = 200;
    let text: string;
    let version: number | undefined;
    const lease = { held: 0 };
    let failedBusy = false;
    let closing = false;
    try {
      checkContentType(req.headers['content-type']);
      const body = await readJson(req, { limit: options.maxBodyBytes, maxValues: maxValues(), budget, lease, reads });
      const model = resolve(decodeSegment(match[1]!, 'model name'), match[2] === undefined ? undefined : decodeSegment(match[2], 'model version'));
      text = JSON.stringify(await route.answer(model, body));
      version = model.version;
    } catch (err) {
      failedBusy = err instanceof BudgetError;
      closing = err instanceof ConnectionError;
      const failed = failure(err, { route: route.route });
      status = failed.status;
      text = JSON.stringify({ error: failed.message });
    } finally {
      budget.give(lease.held);
    }
    const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) };
    if (version !== undefined) headers[VERSION_HEADER] = String(version);
    if (failedBusy) headers['retry-after'] = '1';
    // A body the server stopped reading leaves the connection mid-request: close it.
    if (state.draining || closing) headers.connection = 'close';
    if (res.destroyed) {
      // The client left while its request was scored: the answer has no one to go to.
      if (status !== CLIENT_CLOSED) status = failure(new RequestError(CLIENT_CLOSED, 'client closed the connection before the answer'), { route: route.route }).status;
    } else {
      res.writeHead(status, headers);
      res.end(text);
    }
    metrics.observeRequest(route.route, status, (performance.now() - started) / 1000);
  }

  const modelRoutes = ['/v2/models/:name', '/v2/models/:name/versions/:version'];
  app.post('/v1/models/:target', (req) => {
    throw new RequestError(404, `no route POST ${req.path}: use /v1/models/<name>:predict`);
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
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const { status, message } = failure(err, { path: req.path });
    res.status(status).json({ error: message });
  });

  async function score(model: ServedModel, rows: EncodedRow[]): Promise<ModelOutputs> {
    const out = await model.score(rows);
    const { rows: scored, predictions: histogram } = metrics.forVersion(model.version);
    scored.inc(rows.length);
    const { task, classNames } = model.schema;
    if (task === 'Regression') {
      histogram(out.prediction!);
      if (model === state.champion) options.drift?.push(rows, out.prediction!);
      return out;
    }
    const predictions: (number | string)[] = [];
    const observed = new Float64Array(rows.length);
    for (let r = 0; r < rows.length; r++) {
      const p = driftPrediction(task, out, r, classNames);
      predictions.push(p);
      observed[r] = typeof p === 'number' ? p : classNames!.indexOf(p);
    }
    histogram(observed);
    // Only the champion's traffic is compared with its training reference.
    if (model === state.champion) options.drift?.push(rows, predictions);
    return out;
  }

  /** Each connection's latest request: an error mid-body belongs to a request already counted. */
  const latest = new WeakMap<object, IncomingMessage>();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    latest.set(req.socket, req);
    if (req.method === 'POST' && req.url) {
      const q = req.url.indexOf('?');
      const path = q < 0 ? req.url : req.url.slice(0, q);
      for (const route of scoringRoutes) {
        const match = route.pattern.exec(path);
        if (match) return void scoreRequest(route, match, req, res);
      }
    }
    app(req, res);
  };

  // Node's own answer to these is a bare status line with no body and no count in the metrics.
  const clientError = (err: NodeJS.ErrnoException, socket: Duplex) => {
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    // The connection ended mid-request (mid-body too): the client is gone, there is no one to answer.
    const gone = !socket.writable || err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'HPE_INVALID_EOF_STATE';
    const read = reads.get(socket);
    if (read) {
      // The scoring route answers (and counts) its own request; it closes the connection after.
      if (gone) return void socket.destroy();
      if (timedOut) return read.fail(new ConnectionError(408, 'request body: not complete within the server\'s request timeout: send the body faster, or fewer rows per request'));
      return read.fail(new ConnectionError(400, `request body: not valid HTTP/1.1 (${err.code ?? 'parse error'}): send a well-formed body`));
    }
    if (gone) {
      // Closed mid-headers: a request that reached no route, still one a client gave up on.
      const last = latest.get(socket);
      if (err.code === 'HPE_INVALID_EOF_STATE' && (!last || last.complete)) metrics.observeRequest('other', CLIENT_CLOSED, 0);
      return void socket.destroy();
    }
    const status = timedOut ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const message = timedOut
      ? 'request: headers not complete within the server\'s headers timeout: send the whole request head at once'
      : status === 431
        ? 'request: headers too large: send fewer or shorter headers'
        : `request: not valid HTTP/1.1 (${err.code ?? 'parse error'}): send a well-formed request`;
    const text = JSON.stringify({ error: message });
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
    metrics.observeRequest('other', status, 0);
  };
  return Object.assign(handler, { clientError });
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
  // express's body of a request whose client is gone: the client's doing, not the server's.
  if ((err as { code?: unknown })?.code === 'ECONNRESET') return CLIENT_CLOSED;
  const status = (err as { status?: unknown })?.status;
  // express's own client errors (a path that does not decode) are the client's.
  if (typeof status === 'number' && status >= 400 && status < 500) return 400;
  return 500;
}

function messageOf(err: unknown): string {
  if (err instanceof RequestError) return err.message;
  const e = err as { message?: string; status?: number };
  if (typeof e?.status === 'number' && e.status < 500) return `request body: ${e.message}`;
  return 'internal error: the request could not be scored; it has been logged';
}
