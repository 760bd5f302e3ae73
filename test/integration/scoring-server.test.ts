// The scorer over real HTTP on loopback, with models trained from the shipped examples: answers
// match the model run in-process, Open Inference Protocol and raw records agree, concurrent
// requests coalesce, the canary share holds, drift rows flow without ever holding scoring up.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import type { RequestListener, Server } from 'node:http';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { readArtifact } from '../../operator/src/artifacts/store.js';
import { createSession, runModel } from '../../operator/src/export/onnx-runner.js';
import { parseReferenceProfile } from '../../operator/src/features/profile.js';
import { inputSchema } from '../../operator/src/features/schema.js';
import { jsonRecordReader, recordEncoder } from '../../operator/src/features/transform.js';
import { createDriftSidecar, listen } from '../../operator/src/serving/drift-sidecar.js';
import { startScorer, type RunningScorer } from '../../operator/src/serving/server.js';
import { readRecords, trainExample, type TrainedModel } from '../support/models.js';
import { closedPort } from '../support/wait.js';

let dir: string;
let salaries: TrainedModel;
let adult: TrainedModel;
const scorers: RunningScorer[] = [];
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orchard-serving-'));
  salaries = await trainExample('salaries.yaml', join(dir, 'salaries'));
  adult = await trainExample('adult.yaml', join(dir, 'adult'), { iterations: 100, learningRate: '0.2', earlyStoppingRounds: 50 });
}, 240_000);

afterAll(async () => {
  await Promise.all(scorers.map((s) => s.shutdown(0)));
  agent.destroy();
  await rm(dir, { recursive: true, force: true });
});

async function scorer(model: TrainedModel, extra: object = {}): Promise<{ url: string; scorer: RunningScorer }> {
  const s = await startScorer({ model: 'm', version: 1, modelUri: model.uri, maxBatchRows: 1000, maxBodyBytes: 1 << 20, port: 0, ...extra }, { host: '127.0.0.1', log: () => {} });
  scorers.push(s);
  return { url: `http://127.0.0.1:${(s.server.address() as { port: number }).port}`, scorer: s };
}

function http(url: string, method: string, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: any; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers: body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: text ? JSON.parse(text) : undefined, ms: performance.now() - started }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const predict = (url: string, instances: object[], path = '/v1/models/m:predict') => http(`${url}${path}`, 'POST', JSON.stringify({ instances }));

async function inProcess(model: TrainedModel, records: object[]) {
  const schema = inputSchema.parse(JSON.parse((await readArtifact(model.uri, 'input-schema.json')).toString('utf8')));
  const session = await createSession(await readArtifact(model.uri, 'model.onnx'));
  const encode = recordEncoder(schema);
  const out = await runModel(session, schema.inputs, records.map((r) => encode(jsonRecordReader(r as Record<string, unknown>))));
  await session.release();
  return { schema, out };
}

describe('the scoring server', () => {
  it('answers raw records as the model does in-process, and Open Inference Protocol tensors the same', async () => {
    const { url } = await scorer(salaries);
    const records = salaries.records.slice(0, 200);
    const { schema, out } = await inProcess(salaries, records);
    const answers = await Promise.all([0, 50, 100, 150].map((i) => predict(url, records.slice(i, i + 50))));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.headers['orchard-model-version']).toBe('1');
    }
    expectClose(answers.flatMap((a) => a.json.predictions), out.prediction!);

    const rows = records.slice(0, 20).map((r) => recordEncoder(schema)(jsonRecordReader(r)));
    const inputs = schema.inputs.map((input, j) => ({
      name: input.name,
      shape: [rows.length, 1],
      datatype: input.type === 'Numeric' ? 'FP32' : 'BYTES',
      data: rows.map((row) => (Number.isNaN(row[j]) ? null : row[j])),
    }));
    const oip = await http(`${url}/v2/models/m/versions/1/infer`, 'POST', JSON.stringify({ id: 'r-1', inputs, outputs: [{ name: 'prediction' }] }));
    expect(oip.status).toBe(200);
    expect(oip.json).toEqual({ model_name: 'm', model_version: '1', id: 'r-1', outputs: [{ name: 'prediction', datatype: 'FP64', shape: [20], data: expect.any(Array) }] });
    expectClose(oip.json.outputs[0].data, out.prediction!.subarray(0, 20));

    const meta = await http(`${url}/v2/models/m`, 'GET');
    expect(meta.json).toMatchObject({ name: 'm', versions: ['1'], platform: 'onnxruntime_onnx', inputs: inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: [-1, 1] })) });
    expect((await http(`${url}/v2/health/ready`, 'GET')).status).toBe(200);
    expect((await http(`${url}/v2/models/m/ready`, 'GET')).json).toEqual({ name: 'm', ready: true });
    expect(await http(`${url}/v2/models/other/infer`, 'POST', '{}')).toMatchObject({ status: 404, json: { error: 'model "other" is not served here (this server serves "m")' } });
    expect(await http(`${url}/v2/models/m/versions/7`, 'GET')).toMatchObject({ status: 404, json: { error: 'version "7" of "m" is not served here (versions: 1)' } });
  });

  it('returns class labels and probabilities for a classifier', async () => {
    const { url } = await scorer(adult);
    const records = adult.records.slice(0, 100);
    const { schema, out } = await inProcess(adult, records);
    const a = await predict(url, records);
    expect(a.status).toBe(200);
    const classes = schema.classNames!;
    a.json.probabilities.forEach((p: Record<string, number>, r: number) => {
      expect(Object.keys(p)).toEqual(classes);
      expectClose([p[classes[1]!]!], [out.probabilities![2 * r + 1]!]);
      expect(a.json.predictions[r]).toBe(p[classes[1]!]! > 0.5 ? classes[1] : classes[0]);
    });
  });

  it('names the field and the fix for bad input', async () => {
    const { url } = await scorer(salaries, { extraFields: { policy: 'Reject' } });
    const good = salaries.records[0]!;
    const cases: [unknown, RegExp][] = [
      [{ instances: [] }, /^instances: the batch is empty/],
      [{ instances: [{ ...good, work_year: 'soon' }] }, /^instances\[0\]\.work_year: "soon" is not a number/],
      [{ instances: [{ ...good, job_tittle: 'x' }] }, /^instances\[0\]\.job_tittle: unknown field/],
      [{ instances: [Object.fromEntries(Object.entries(good).filter(([k]) => k !== 'job_title'))] }, /^instances\[0\]\.job_title: missing/],
      [{ instances: [{ ...good, remote_ratio: [1] }] }, /^instances\[0\]\.remote_ratio: expected a string, number or null, got an array/],
      [{ instances: Array.from({ length: 1001 }, () => good) }, /^instances: 1001 rows is over the limit of 1000/],
      [{ records: [good] }, /^records: unknown field/],
      [[good], /^request body: expected a JSON object/],
    ];
    for (const [body, message] of cases) {
      const a = await http(`${url}/v1/models/m:predict`, 'POST', JSON.stringify(body));
      expect([a.status, a.json.error]).toEqual([400, expect.stringMatching(message)]);
    }
    const big = await http(`${url}/v1/models/m:predict`, 'POST', JSON.stringify({ instances: Array.from({ length: 900 }, () => ({ ...good, job_title: 'x'.repeat(2000) })) }));
    expect([big.status, big.json.error]).toEqual([413, 'request body: over the limit of 1048576 bytes: send fewer rows per request']);
  });

  it('coalesces concurrent requests into micro-batches, and health answers under load', async () => {
    const { url, scorer: s } = await scorer(salaries);
    const records = salaries.records.slice(0, 300);
    const { out } = await inProcess(salaries, records);
    const runs = async () => (await s.metrics.batchRows.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    const before = await runs();
    const answers = await Promise.all(records.map((r) => predict(url, [r])));
    expectClose(answers.map((a) => a.json.predictions[0]), out.prediction!);
    const used = (await runs()) - before;
    expect(used).toBeLessThan(records.length / 3);

    // Heavy batches keep the model busy; a health check waits at most for the run in progress.
    const load = Promise.all(Array.from({ length: 30 }, () => predict(url, salaries.records.slice(0, 1000))));
    await new Promise((r) => setTimeout(r, 20));
    const health = await http(`${url}/v2/health/live`, 'GET');
    expect(health.status).toBe(200);
    expect(health.ms).toBeLessThan(500);
    expect((await load).every((a) => a.status === 200)).toBe(true);
  });

  it('sends the challenger its share of requests, and a named version always', async () => {
    const { url } = await scorer(salaries, { challenger: { version: 2, modelUri: salaries.uri, percent: 30 } });
    const record = salaries.records[0]!;
    const answers = await Promise.all(Array.from({ length: 1000 }, () => predict(url, [record])));
    const challenger = answers.filter((a) => a.headers['orchard-model-version'] === '2').length;
    expect(challenger).toBeGreaterThan(240); // 300 expected; ±4 standard deviations
    expect(challenger).toBeLessThan(360);
    for (const v of ['1', '2']) {
      const a = await predict(url, [record], `/v1/models/m/versions/${v}/predict`);
      expect(a.headers['orchard-model-version']).toBe(v);
    }
    expect((await http(`${url}/v2/models/m`, 'GET')).json.versions).toEqual(['1', '2']);
  });

  it('counts every scored row into the drift monitor, and scores on unaffected when the monitor is gone', async () => {
    const schema = inputSchema.parse(JSON.parse((await readArtifact(salaries.uri, 'input-schema.json')).toString('utf8')));
    const profile = parseReferenceProfile(JSON.parse((await readArtifact(salaries.uri, 'reference-profile.json')).toString('utf8')));
    const sidecar = createDriftSidecar({ model: 'm', version: 1, modelUri: salaries.uri, port: 0, windowRows: 5000, windowSeconds: 3600, minRows: 100, driftShare: '0.5' }, schema, profile);
    // Below the ephemeral range, so no port-0 bind of another worker takes it while the monitor is gone.
    let monitor: Server = await listenBelowEphemeral(sidecar.ingest);
    const { port } = monitor.address() as AddressInfo;
    const { url, scorer: s } = await scorer(salaries, { driftUrl: `http://127.0.0.1:${port}/v1/blocks` });
    for (let i = 0; i < 500; i += 100) expect((await predict(url, salaries.records.slice(i, i + 100))).status).toBe(200);
    const summary = await waitFor(() => (sidecar.summary().rows === 500 ? sidecar.summary() : undefined));
    expect(summary.report).toBeDefined();
    expect(summary.counts.inputs.job_title!.reduce((a, b) => a + b, 0)).toBe(500);

    await new Promise<void>((r) => monitor.close(() => r()));
    const dropped = async () => (await s.metrics.driftDropped.get()).values.reduce((n, v) => n + v.value, 0);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => predict(url, salaries.records.slice(i * 10, i * 10 + 10))));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(await waitFor(async () => ((await dropped()) >= 200 ? dropped() : undefined))).toBeGreaterThanOrEqual(200);
    monitor = await relisten(sidecar.ingest, port);
    await predict(url, salaries.records.slice(0, 10));
    await waitFor(() => (sidecar.summary().rows === 510 ? true : undefined));
    monitor.close();
  });

  it('served 2024 traffic, the monitor finds the drift from the 2020–2023 training data and names the inputs that moved; resampled training years do not drift', async () => {
    const schema = inputSchema.parse(JSON.parse((await readArtifact(salaries.uri, 'input-schema.json')).toString('utf8')));
    const profile = parseReferenceProfile(JSON.parse((await readArtifact(salaries.uri, 'reference-profile.json')).toString('utf8')));
    const year = (y: (c: string) => string | null) => Number(y('work_year'));
    const recent = await readRecords(salaries.uri, salaries.spec.data.source, { where: (v) => year(v) === 2024 });
    const past = await readRecords(salaries.uri, salaries.spec.data.source, { where: (v) => year(v) <= 2023 });
    const window = 5000;
    const serveThrough = async (records: object[]) => {
      const sidecar = createDriftSidecar({ model: 'm', version: 1, modelUri: salaries.uri, port: 0, windowRows: window, windowSeconds: 3600, minRows: 500, driftShare: '0.5' }, schema, profile);
      const monitor = await listen(sidecar.ingest, 0, '127.0.0.1');
      const { port } = monitor.address() as AddressInfo;
      const { url, scorer: s } = await scorer(salaries, { driftUrl: `http://127.0.0.1:${port}/v1/blocks` });
      for (let i = 0; i < records.length; i += 500) expect((await predict(url, records.slice(i, i + 500))).status).toBe(200);
      const summary = await waitFor(() => (sidecar.summary().rows === Math.min(window, records.length) ? sidecar.summary() : undefined));
      await s.shutdown(0);
      monitor.close();
      return summary.report!;
    };

    // The last 5,000 rows of 2024 traffic.
    const drifted = await serveThrough(recent.slice(-window));
    expect(drifted.datasetDrift).toBe(true);
    const named = drifted.features.filter((f) => f.drifted).map((f) => f.name);
    expect(named).toEqual(expect.arrayContaining(['work_year', 'job_title']));
    expect(named).not.toContain('employment_type');
    expect(drifted.driftedShare).toBeGreaterThanOrEqual(0.5);

    // Training years' traffic, resampled with replacement (seeded): no dataset drift.
    let seed = 11;
    const random = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    const calm = await serveThrough(Array.from({ length: window }, () => past[Math.floor(random() * past.length)]!));
    expect(calm.datasetDrift).toBe(false);
  }, 60_000);
});

/** The same model on the same rows; batch composition may move the last bit of exp(). */
function expectClose(actual: number[], expected: ArrayLike<number>): void {
  expect(actual).toHaveLength(expected.length);
  const worst = actual.reduce((w, a, i) => Math.max(w, Math.abs(a - expected[i]!) / Math.max(1, Math.abs(expected[i]!))), 0);
  expect(worst).toBeLessThan(1e-12);
}

async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A free port below the ephemeral range: closedPort() only probes it, so a rare probe of another worker may hold it for a moment. */
async function listenBelowEphemeral(handler: RequestListener): Promise<Server> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await listen(handler, await closedPort(), '127.0.0.1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 5) throw err;
    }
  }
}

/** The monitor back on its old port: only another worker's brief closedPort() probe can hold it meanwhile. */
async function relisten(handler: RequestListener, port: number): Promise<Server> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await listen(handler, port, '127.0.0.1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 20) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
