// `orchard serve` as a process: hundreds of malformed and hostile requests get 4xx JSON errors, the
// valid requests sent in between get the right answers, the process lives on; on SIGTERM it
// drains: ready turns false, requests keep being answered, nothing accepted is dropped.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readArtifact } from '../../operator/src/artifacts/store.js';
import { createSession, runModel } from '../../operator/src/export/onnx-runner.js';
import { inputSchema } from '../../operator/src/features/schema.js';
import { jsonRecordReader, recordEncoder } from '../../operator/src/features/transform.js';
import { repoRoot } from '../support/cluster.js';
import { trainExample, type TrainedModel } from '../support/models.js';
import { eventually, freePort } from '../support/wait.js';

let dir: string;
let model: TrainedModel;
let child: ChildProcess;
let url: string;
let exited: Promise<number | null>;
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

function send(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, agent, headers: body !== undefined ? { ...headers, 'content-length': String(Buffer.byteLength(body)) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, contentType: String(res.headers['content-type']), text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orchard-robust-'));
  model = await trainExample('salaries.yaml', dir);
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const spec = { model: 'salaries', version: 3, modelUri: model.uri, maxBatchRows: 100, maxBodyBytes: 1 << 20, port };
  child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'operator/src/training/cli.ts'), 'serve'], {
    env: { ...process.env, ORCHARD_SERVING_SPEC: JSON.stringify(spec), ORCHARD_DRAIN_DELAY_MS: '1000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((r) => child.on('exit', (code) => r(code)));
  await eventually('the scorer to be ready', async () => (await send('GET', '/v2/health/ready').catch(() => undefined))?.status === 200, 60_000, 200);
}, 240_000);

afterAll(async () => {
  if (child.exitCode === null) child.kill('SIGKILL');
  agent.destroy();
  await rm(dir, { recursive: true, force: true });
});

/** A small seeded generator, so a failing case can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

function hostileRequests(): { name: string; method: string; path: string; body?: string | Buffer }[] {
  const random = rng(42);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  const good = model.records[0]!;
  const columns = Object.keys(good);
  const junk = (): unknown => pick<() => unknown>([() => random() * 1e6, () => 'x'.repeat(Math.floor(random() * 50)), () => [1, 'a', null], () => ({ a: { b: [] } }), () => true, () => null])();
  const v1 = '/v1/models/salaries:predict';
  const v2 = '/v2/models/salaries/infer';
  const out: { name: string; method: string; path: string; body?: string | Buffer }[] = [];
  const add = (name: string, body: unknown, path = v1, method = 'POST') => out.push({ name, method, path, body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) });
  for (let i = 0; i < 60; i++) add(`random JSON ${i}`, junk());
  for (let i = 0; i < 60; i++) {
    const column = pick(columns);
    add(`wrong type for ${column} (${i})`, { instances: [{ ...good, [column]: pick<unknown>([[1], { v: 1 }, [], { $gt: '' }]) }] });
  }
  for (const n of ['1e400', '-1e400', '1e999999', 'NaN', 'Infinity', '-Infinity', '0x10', '1_000', '--1', '.e1']) {
    add(`number ${n} as text`, `{"instances": [${JSON.stringify(good).replace(/"remote_ratio":[^,}]+/, `"remote_ratio":${n}`)}]}`);
    add(`number ${n} as string`, { instances: [{ ...good, work_year: n }] });
  }
  add('10 MB body', Buffer.alloc(10 << 20, 'a'));
  add('10 MB of valid-looking JSON', JSON.stringify({ instances: Array.from({ length: 40_000 }, () => good) }));
  for (let i = 0; i < 20; i++) add(`unknown field ${i}`, { instances: [{ ...good, [`extra_${i}`]: i }] });
  for (const key of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty']) add(`key ${key}`, `{"instances":[${JSON.stringify(good).slice(0, -1)},"${key}":{"polluted":true}}]}`);
  add('prototype pollution at the top', '{"__proto__": {"instances": []}, "instances": []}');
  for (const body of [{ instances: [] }, { instances: null }, {}, { instances: {} }, { instances: [{}] }, { instances: [null] }, { instances: [[]] }]) add(`empty or null ${JSON.stringify(body)}`, body);
  for (const key of ['名前', 'Ωmega', '🙂', 'work_year\u0000', 'w\u200bork_year']) add(`unicode key ${key}`, { instances: [{ ...good, [key]: 1 }] });
  add('over the batch limit', { instances: Array.from({ length: 101 }, () => good) });
  add('nesting 100000 deep', '['.repeat(100_000) + ']'.repeat(100_000));
  add('truncated JSON', JSON.stringify({ instances: [good] }).slice(0, 30));
  add('invalid UTF-8 in JSON', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]));
  add('empty body', '');
  add('a JSON string body', '"instances"');
  add('duplicate keys', '{"instances": [], "instances": []}');
  // Open Inference Protocol tensors gone wrong.
  const tensor = (name: string, datatype: string, data: unknown[], shape: unknown = [data.length, 1]) => ({ name, datatype, shape, data });
  const inputs = () => columns.map((c) => tensor(c, typeof good[c] === 'number' ? 'FP32' : 'BYTES', [good[c]]));
  add('OIP no inputs', { inputs: [] }, v2);
  add('OIP inputs not an array', { inputs: {} }, v2);
  add('OIP missing input', { inputs: inputs().slice(1) }, v2);
  add('OIP unknown input', { inputs: [...inputs(), tensor('nope', 'FP32', [1])] }, v2);
  add('OIP duplicate input', { inputs: [...inputs(), inputs()[0]] }, v2);
  add('OIP string in FP32', { inputs: inputs().map((t) => (t.datatype === 'FP32' ? { ...t, data: ['12'] } : t)) }, v2);
  add('OIP number in BYTES', { inputs: inputs().map((t) => (t.datatype === 'BYTES' ? { ...t, data: [12] } : t)) }, v2);
  add('OIP wrong datatype', { inputs: inputs().map((t) => ({ ...t, datatype: 'FP99' })) }, v2);
  add('OIP shape mismatch', { inputs: inputs().map((t, i) => (i === 2 ? { ...t, shape: [2, 1] } : t)) }, v2);
  add('OIP negative shape', { inputs: inputs().map((t) => ({ ...t, shape: [-1, 1] })) }, v2);
  add('OIP 3-d shape', { inputs: inputs().map((t) => ({ ...t, shape: [1, 1, 1] })) }, v2);
  add('OIP data length mismatch', { inputs: inputs().map((t) => ({ ...t, data: [...t.data, ...t.data] })) }, v2);
  add('OIP unknown output', { inputs: inputs(), outputs: [{ name: 'secret' }] }, v2);
  add('OIP id not a string', { id: 7, inputs: inputs() }, v2);
  add('OIP too many rows', { inputs: inputs().map((t) => ({ ...t, shape: [101, 1], data: Array(101).fill(t.data[0]) })) }, v2);
  add('OIP Infinity as text', JSON.stringify({ inputs: inputs() }).replace(/"data":\[(\d+)\]/, '"data":[Infinity]'), v2);
  // Routes and models that do not exist.
  add('unknown model v1', { instances: [good] }, '/v1/models/other:predict');
  add('unknown model v2', { inputs: inputs() }, '/v2/models/other/infer');
  add('unknown version', { inputs: inputs() }, '/v2/models/salaries/versions/9/infer');
  add('v1 without :predict', { instances: [good] }, '/v1/models/salaries');
  add('unknown route', { instances: [good] }, '/v3/anything');
  add('GET on infer', undefined, v2, 'GET');
  add('DELETE on a model', undefined, '/v2/models/salaries', 'DELETE');
  add('path traversal', undefined, '/v2/models/..%2f..%2fetc%2fpasswd', 'GET');
  add('very long path', undefined, `/v2/models/${'a'.repeat(5000)}`, 'GET');
  return out;
}

describe('orchard serve under hostile input', () => {
  it('answers every malformed or hostile request with a 4xx JSON error, and valid ones in between correctly', async () => {
    // Valid requests, including odd but legal values: unseen and unicode categories, huge finite numbers, nulls.
    const good = model.records[0]!;
    const valid = [
      ...model.records.slice(0, 20),
      { ...good, job_title: 'Ingénieur des données 🙂' },
      { ...good, company_location: '\ud800' },
      { ...good, remote_ratio: 1e308 },
      { ...good, work_year: -1e308 },
      { ...good, remote_ratio: null, job_title: null },
      { ...good, employment_type: '' },
    ];
    const schema = inputSchema.parse(JSON.parse((await readArtifact(model.uri, 'input-schema.json')).toString('utf8')));
    const session = await createSession(await readArtifact(model.uri, 'model.onnx'));
    const encode = recordEncoder(schema);
    const expected = Array.from((await runModel(session, schema.inputs, valid.map((r) => encode(jsonRecordReader(r))))).prediction!);
    await session.release();

    const hostile = hostileRequests();
    expect(hostile.length).toBeGreaterThanOrEqual(200);
    const failures: string[] = [];
    for (const [i, h] of hostile.entries()) {
      let answer: Answer | undefined;
      try {
        answer = await send(h.method, h.path, h.body);
      } catch (err) {
        failures.push(`${h.name}: no answer (${(err as Error).message})`);
      }
      if (answer) {
        let parsed: any;
        try {
          parsed = JSON.parse(answer.text);
        } catch {
          parsed = undefined;
        }
        const ok = answer.status >= 400 && answer.status < 500 && /application\/json/.test(answer.contentType) && typeof parsed?.error === 'string' && parsed.error.length > 0;
        if (!ok) failures.push(`${h.name}: HTTP ${answer.status} ${answer.text.slice(0, 120)}`);
      }
      if (i % 10 === 9) {
        const k = (i / 10) % valid.length | 0;
        const a = await send('POST', '/v1/models/salaries:predict', JSON.stringify({ instances: [valid[k]] }));
        const prediction = a.status === 200 ? JSON.parse(a.text).predictions[0] : undefined;
        if (prediction === undefined || Math.abs(prediction - expected[k]!) > 1e-9 * Math.abs(expected[k]!)) failures.push(`valid request ${k} after ${h.name}: HTTP ${a.status} ${a.text.slice(0, 120)}`);
      }
    }
    expect(failures).toEqual([]);

    const all = await send('POST', '/v1/models/salaries:predict', JSON.stringify({ instances: valid }));
    expect(all.status).toBe(200);
    const got: number[] = JSON.parse(all.text).predictions;
    got.forEach((p, k) => expect(Math.abs(p - expected[k]!)).toBeLessThanOrEqual(1e-9 * Math.abs(expected[k]!)));
    expect(child.exitCode).toBeNull();
    expect((await send('GET', '/v2/health/live')).status).toBe(200);
    const metrics = (await send('GET', '/metrics')).text;
    expect(metrics).not.toMatch(/orchard_scoring_requests_total\{[^}]*code="5\d\d"/);
    expect(metrics).toMatch(/orchard_scoring_requests_total\{route="v1_predict",code="400"\} \d+/);
  }, 120_000);

  it('drains on SIGTERM: not ready at once, every request answered while its endpoint is withdrawn, then exits 0', async () => {
    const record = JSON.stringify({ instances: [model.records[1]] });
    const results = { ok: 0, failed: [] as string[] };
    // What kube-proxy does once readiness fails: no new requests reach the Pod (well within the drain delay).
    let withdrawn = false;
    const loop = async () => {
      while (!withdrawn) {
        try {
          const a = await send('POST', '/v1/models/salaries:predict', record);
          if (a.status === 200) results.ok++;
          else results.failed.push(`HTTP ${a.status}`);
        } catch (err) {
          results.failed.push((err as Error).message);
        }
      }
    };
    const loops = Array.from({ length: 8 }, loop);
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    const signalled = results.ok;
    await new Promise((r) => setTimeout(r, 200));
    expect((await send('GET', '/v2/health/ready')).status).toBe(503);
    await new Promise((r) => setTimeout(r, 300));
    withdrawn = true;
    await Promise.all(loops);
    expect(await exited).toBe(0);
    expect(results.failed).toEqual([]);
    expect(results.ok).toBeGreaterThan(signalled); // served on through the drain delay
  }, 60_000);
});
