// The scorer's HTTP surface against what a hostile or broken client does: values named like
// Object.prototype members, clients that abort, bodies that would take the scorer's memory, slow
// headers and bodies, too many connections, non-JSON content types and OIP tensors their datatype
// cannot hold. Each answer is a 4xx JSON error naming the input and the fix, never a 5xx. A real
// scorer on loopback, a model trained from the shipped salaries example, raw sockets as clients.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scorerLimitsFromEnv, startScorer, type RunningScorer, type ScorerLimits } from '../../operator/src/serving/server.js';
import { trainExample, type TrainedModel } from '../support/models.js';
import { eventually } from '../support/wait.js';

let dir: string;
let model: TrainedModel;
/** The same model with remote_ratio read through a valueMap ("half" → 50), the way a user's spec may map text. */
let mappedUri: string;
const scorers: RunningScorer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orchard-scoring-http-'));
  model = await trainExample('salaries.yaml', dir);
  const mapped = join(dir, 'mapped');
  await cp(fileURLToPath(model.uri), mapped, { recursive: true });
  const schema = JSON.parse(await readFile(join(mapped, 'input-schema.json'), 'utf8'));
  schema.features.columns.find((f: { name: string }) => f.name === 'remote_ratio').valueMap = { none: '0', half: '50', full: '100' };
  const bytes = JSON.stringify(schema);
  await writeFile(join(mapped, 'input-schema.json'), bytes);
  // Published as such: the manifest records the changed schema's digest.
  const manifest = JSON.parse(await readFile(join(mapped, 'manifest.json'), 'utf8'));
  manifest.files.find((f: { name: string }) => f.name === 'input-schema.json').sha256 = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(mapped, 'manifest.json'), JSON.stringify(manifest));
  mappedUri = `file://${mapped}/`;
}, 240_000);

afterAll(async () => {
  await Promise.all(scorers.map((s) => s.shutdown(0)));
  await rm(dir, { recursive: true, force: true });
});

interface Scorer {
  port: number;
  scorer: RunningScorer;
  logs: { msg: string; fields: Record<string, unknown> }[];
}

/** `reject`: extraFields Reject, where an unknown field is a 400 and the values cap counts only the model's inputs. */
async function scorer(limits: Partial<ScorerLimits> = {}, maxBodyBytes = 1 << 20, modelUri = model.uri, reject = false): Promise<Scorer> {
  const logs: Scorer['logs'] = [];
  const extraFields = reject ? { extraFields: { policy: 'Reject' as const } } : {};
  const s = await startScorer({ model: 'salaries', version: 1, modelUri, maxBatchRows: 100, maxBodyBytes, port: 0, ...extraFields }, { host: '127.0.0.1', log: (msg, fields = {}) => logs.push({ msg, fields }), limits });
  scorers.push(s);
  return { port: (s.server.address() as { port: number }).port, scorer: s, logs };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: any;
}

function post(port: number, path: string, body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A raw connection: what it writes, when, and everything that comes back until it closes. */
function raw(port: number): { socket: Socket; received: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  const received = new Promise<string>((resolve) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
  });
  return { socket, received };
}

const connections = (s: RunningScorer) => new Promise<number>((resolve, reject) => s.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
const requestsTotal = async (s: RunningScorer) => (await s.metrics.requests.get()).values.map((v) => ({ code: String(v.labels.code), route: String(v.labels.route), n: v.value }));
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);
const V1 = '/v1/models/salaries:predict';
const V2 = '/v2/models/salaries/infer';

describe('the scorer under hostile HTTP', () => {
  it('answers a value or field named like an Object.prototype member as data or as a 400 naming the field, never a 500', async () => {
    const { port, scorer: s } = await scorer({}, 1 << 20, mappedUri, true);
    const good = model.records[0]!;
    const half = await post(port, V1, JSON.stringify({ instances: [{ ...good, remote_ratio: 'half' }, { ...good, remote_ratio: 50 }] }));
    expect(half.json.predictions[0]).toBe(half.json.predictions[1]);
    for (const name of PROTOTYPE_NAMES) {
      const numeric = await post(port, V1, JSON.stringify({ instances: [{ ...good, remote_ratio: name }] }));
      expect([numeric.status, numeric.json.error]).toEqual([400, `instances[0].remote_ratio: "${name}" is not a number (send a decimal number, or map the value with valueMap)`]);
      const category = await post(port, V1, JSON.stringify({ instances: [{ ...good, job_title: name, company_size: name }] }));
      expect([category.status, typeof category.json.predictions?.[0]]).toEqual([200, 'number']);
      const field = await post(port, V1, `{"instances": [${JSON.stringify(good).slice(0, -1)}, ${JSON.stringify(name)}: 1}]}`);
      expect([field.status, field.json.error]).toEqual([400, expect.stringMatching(new RegExp(`^instances\\[0\\]\\.${name}: unknown field`))]);
    }
    expect((await requestsTotal(s)).filter((r) => r.code.startsWith('5'))).toEqual([]);
  });

  it('counts a client that aborts as 499 and logs it without a stack, not as a 500', async () => {
    const { port, scorer: s, logs } = await scorer();
    for (let i = 0; i < 3; i++) {
      const { socket, received } = raw(port);
      socket.write(`POST ${V1} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"instances": [`);
      await new Promise((r) => setTimeout(r, 50));
      socket.destroy();
      await received;
    }
    await eventually('the aborts to be counted', async () => (await requestsTotal(s)).some((r) => r.code === '499' && r.n === 3), 5000, 20);
    expect(await requestsTotal(s)).toEqual([{ route: 'v1_predict', code: '499', n: 3 }]);
    const aborts = logs.filter((l) => l.fields.status === 499);
    expect(aborts).toHaveLength(3);
    expect(logs.filter((l) => l.msg === 'request failed' || 'error' in l.fields)).toEqual([]);
  });

  it('holds request bodies within the budget: the one that would exceed it gets 413 with Retry-After, small ones pass, a body over maxBodyBytes gets 413 without', async () => {
    const { port, scorer: s } = await scorer({ bodyBudgetBytes: 200_000 }, 200_000, model.uri, true);
    const body = JSON.stringify({ instances: [model.records[0]] });
    const head = (length: string) => `POST ${V1} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${length}\r\n\r\n`;
    // Declaring a length holds nothing: only bytes that arrive are charged, past each body's first 64 KiB.
    const declared = Array.from({ length: 8 }, () => raw(port));
    await Promise.all(declared.map(({ socket }) => new Promise((r) => socket.write(head('content-length: 190000') + body, r))));
    // Written, and the 8 connections accepted: the server reads their heads before the next
    // connection's 150 kB has all arrived, so the 150 kB body meets 8 declared lengths.
    await eventually('the 8 connections to be accepted', () => connections(s).then((n) => n === 8), 5000, 10);
    expect((await post(port, V1, body.padEnd(150_000, ' '))).status).toBe(200);
    // Two slow bodies that have sent 150 kB each hold 2 × 84,464 bytes of the 200,000.
    const slow = [raw(port), raw(port)];
    for (const { socket } of slow) socket.write(head('content-length: 190000') + body.padEnd(150_000, ' '));
    // Until the server has read the slow bodies a 100 kB one still fits; without a budget it always would.
    const refused = await eventually('a 100 kB body to be refused for the budget', async () => {
      const a = await post(port, V1, body.padEnd(100_000, ' '));
      return a.status === 413 && a;
    }, 10_000, 20);
    expect([refused.status, refused.headers['retry-after'], refused.json.error]).toEqual([413, '1', expect.stringMatching(/^request body: the scorer holds as many request bodies as its memory allows: retry shortly/)]);
    // A body without a declared length is charged chunk by chunk, against the same budget.
    const chunked = raw(port);
    chunked.socket.write(`POST ${V1} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`);
    chunked.socket.end(`${(100_000).toString(16)}\r\n${' '.repeat(100_000)}\r\n0\r\n\r\n`);
    expect(await chunked.received).toMatch(/^HTTP\/1\.1 413 [^]*retry-after: 1[^]*"error":"request body: the scorer holds/i);
    // Small bodies are never charged: whoever holds the budget, ordinary requests are scored.
    expect((await post(port, V1, body.padEnd(60_000, ' '))).status).toBe(200);
    // The budget frees as bodies finish: the refused request now scores.
    for (const { socket } of [...slow, ...declared]) socket.destroy();
    await eventually('the budget to free', async () => (await post(port, V1, body.padEnd(100_000, ' '))).status === 200, 5000, 20);
    const tooLarge = await post(port, V1, ' '.repeat(200_001));
    expect([tooLarge.status, tooLarge.headers['retry-after'], tooLarge.json.error]).toEqual([413, undefined, 'request body: over the limit of 200000 bytes: send fewer rows per request']);
    // Within the byte limit, but more values than any legal request holds: refused before it is parsed.
    const values = await post(port, V2, `{"inputs": [{"name": "work_year", "datatype": "FP64", "shape": [1, 1], "data": [${'0,'.repeat(90_000)}0]}]}`);
    expect([values.status, values.json.error]).toEqual([413, 'request body: more than 5064 values, more than a request of the largest batch holds: send fewer rows per request']);
    expect((await requestsTotal(s)).filter((r) => r.code.startsWith('5'))).toEqual([]);
  });

  it('cuts slow headers and slow bodies at their timeouts with a JSON 408, and keeps idle keep-alive connections', async () => {
    const { port, scorer: s } = await scorer({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const started = performance.now();
    const headers = raw(port);
    headers.socket.write(`POST ${V1} HTTP/1.1\r\nhost: x\r\n`);
    const body = raw(port);
    body.socket.write(`POST ${V1} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"inst`);
    const [h, b] = await Promise.all([headers.received, body.received]);
    // Well under the 10 s default headers timeout, and Node's own 30 s check interval, it rules out.
    expect(performance.now() - started).toBeLessThan(9000);
    expect(h).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n[^]*\r\n\r\n\{"error":"request: headers not complete within the server's headers timeout/);
    expect(b).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n[^]*connection: close[^]*\r\n\r\n\{"error":"request body: not complete within the server's request timeout: send the body faster/i);
    expect(await requestsTotal(s)).toEqual(expect.arrayContaining([{ route: 'other', code: '408', n: 1 }, { route: 'v1_predict', code: '408', n: 1 }]));

    // An idle keep-alive connection is not cut by the headers timeout: a proxy may reuse it.
    const idle = raw(port);
    const ask = `GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n`;
    idle.socket.write(ask);
    await new Promise((r) => setTimeout(r, 900));
    idle.socket.end(ask);
    expect((await idle.received).match(/HTTP\/1\.1 200/g)).toHaveLength(2);
  });

  it('drops connections over the cap on arrival, counts them, and takes new ones once held ones close', async () => {
    // The default headers timeout: a short one could cut a held connection on a busy machine, and
    // the fifth would then be let in and answered 408.
    const { port, scorer: s } = await scorer({ maxConnections: 4 });
    const held = Array.from({ length: 4 }, () => raw(port));
    await eventually('the 4 connections to be held', () => connections(s).then((n) => n === 4), 5000, 10);
    const fifth = raw(port);
    expect(await fifth.received).toBe('');
    expect((await s.metrics.connectionsDropped.get()).values[0]?.value).toBe(1);
    for (const { socket } of held) socket.destroy();
    await Promise.all(held.map(({ received }) => received));
    await eventually('the held connections to close', () => connections(s).then((n) => n === 0), 5000, 10);
    expect((await post(port, V1, JSON.stringify({ instances: [model.records[0]] }))).status).toBe(200);
    expect((await s.metrics.connectionsDropped.get()).values[0]?.value).toBe(1);
  });

  it('scores only JSON: 415 for other content types, charset and +json accepted, a byte order mark too; 431 for oversize headers', async () => {
    const { port } = await scorer();
    const body = JSON.stringify({ instances: [model.records[0]] });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'json', '']) {
      const a = await post(port, V1, body, type ? { 'content-type': type } : {});
      expect([a.status, a.json.error]).toEqual([415, expect.stringMatching(/^content-type: .*send the body as JSON with content-type: application\/json$/)]);
    }
    expect((await post(port, V1, body, { 'content-type': 'application/json; charset=latin1' })).json.error).toBe('content-type: charset "latin1" is not UTF-8: send the body as UTF-8 JSON');
    for (const type of ['application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"', 'application/vnd.kserve+json']) {
      expect((await post(port, V1, body, { 'content-type': type })).status).toBe(200);
    }
    const oversize = raw(port);
    oversize.socket.write(`POST ${V1} HTTP/1.1\r\nhost: x\r\nx-padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(await oversize.received).toMatch(/^HTTP\/1\.1 431 [^]*\r\n\r\n\{"error":"request: headers too large: send fewer or shorter headers"\}$/);
    const bom = await post(port, V1, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)]));
    expect([bom.status, typeof bom.json.predictions[0]]).toEqual([200, 'number']);
  });

  it('refuses OIP values their datatype cannot hold and data that does not match its shape', async () => {
    const { port, scorer: s } = await scorer();
    const good = model.records[0]!;
    const tensors = (work_year: object) => ({
      inputs: Object.entries(good).map(([name, v]) => ({ name, datatype: typeof v === 'number' ? 'FP64' : 'BYTES', shape: [1, 1], data: [v], ...(name === 'work_year' ? work_year : {}) })),
    });
    const index = Object.keys(good).indexOf('work_year');
    const cases: [object, string][] = [
      [{ datatype: 'INT8', data: [1e30] }, `inputs[${index}] (work_year).data[0]: 1e+30 is out of INT8's range -128..127: send a wider datatype such as FP64`],
      [{ datatype: 'UINT8', data: [-5] }, `inputs[${index}] (work_year).data[0]: -5 is out of UINT8's range 0..255: send a wider datatype such as FP64`],
      [{ datatype: 'INT32', data: [2022.7] }, `inputs[${index}] (work_year).data[0]: 2022.7 is not an integer: INT32 holds integers (send FP64 for fractions)`],
      [{ datatype: 'BOOL', data: [2022] }, `inputs[${index}] (work_year).data[0]: expected true, false or null for BOOL, got 2022`],
      [{ data: [2022, 2023] }, `inputs[${index}] (work_year).data: 2 values for shape [1,1]: send 1 values, one per row`],
      [{ data: [[2022, 2023]] }, `inputs[${index}] (work_year).data[0]: expected [value] as shape [1,1] says, got an array of 2: the data is ragged`],
    ];
    for (const [tensor, message] of cases) {
      const a = await post(port, V2, JSON.stringify(tensors(tensor)));
      expect([a.status, a.json.error]).toEqual([400, message]);
    }
    expect((await post(port, V2, JSON.stringify(tensors({ datatype: 'INT16', data: [[2022]] })))).status).toBe(200);
    expect((await requestsTotal(s)).filter((r) => r.code.startsWith('5'))).toEqual([]);
  });

  it('takes its limits from ORCHARD_SCORER_* and refuses a bad one, naming the variable and the fix', () => {
    expect(scorerLimitsFromEnv({ ORCHARD_SCORER_REQUEST_TIMEOUT_MS: '5000', ORCHARD_SCORER_MAX_CONNECTIONS: '64', ORCHARD_SCORER_BODY_BUDGET_BYTES: '' })).toEqual({ requestTimeoutMs: 5000, maxConnections: 64 });
    expect(() => scorerLimitsFromEnv({ ORCHARD_SCORER_BODY_BUDGET_BYTES: '64Mi' })).toThrow('ORCHARD_SCORER_BODY_BUDGET_BYTES: "64Mi" is not a positive integer: set it to one, or unset it for the default 67108864');
    expect(() => scorerLimitsFromEnv({ ORCHARD_SCORER_HEADERS_TIMEOUT_MS: '0' })).toThrow(/^ORCHARD_SCORER_HEADERS_TIMEOUT_MS: "0" is not a positive integer/);
    expect(() => scorerLimitsFromEnv({ ORCHARD_SCORER_HEADERS_TIMEOUT_MS: '40000' })).toThrow("ORCHARD_SCORER_HEADERS_TIMEOUT_MS (40000) is over ORCHARD_SCORER_REQUEST_TIMEOUT_MS (30000): the body's timeout includes the headers'");
  });
});
