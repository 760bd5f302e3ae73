// serving.extraFields over real HTTP on loopback, with a model trained from the salaries example:
// whole rows of the training file (target, id and left-out columns) are refused under Reject,
// scored as their inputs alone under Ignore (the default), and answered with their ids under PassThrough.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrainingRunSpec } from '../../operator/src/api/v1alpha1/training-run.js';
import { startScorer, type RunningScorer } from '../../operator/src/serving/server.js';
import type { ExtraFields } from '../../operator/src/serving/spec.js';
import { runPipeline } from '../../operator/src/training/pipeline.js';
import { repoRoot } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';

let dir: string;
let modelUri: string;
/** Rows of the training file as they are: every column, numbers as numbers. */
let fullRows: Record<string, string | number>[];
let inputRows: Record<string, string | number>[];
const scorers: RunningScorer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orchard-extra-fields-'));
  const base = exampleTrainingRun('salaries.yaml');
  const spec = { ...base, catboost: { ...base.catboost, iterations: 40 }, features: { ...base.features, idColumns: ['salary_currency'] } } as TrainingRunSpec;
  modelUri = `file://${join(dir, 'model')}/`;
  await runPipeline({ spec, workDir: join(dir, 'work'), artifactUri: modelUri, producerVersion: 'test' });
  const [header, ...lines] = (await readFile(join(repoRoot, 'data', 'ai-jobs-salaries', 'salaries.csv'), 'utf8')).trim().split(/\r?\n/).slice(0, 21);
  const names = header!.split(',');
  fullRows = lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [names[i]!, /^[0-9]+$/.test(v) ? Number(v) : v])));
  const inputs = spec.features.columns.map((c) => c.column ?? c.name);
  inputRows = fullRows.map((r) => Object.fromEntries(inputs.map((c) => [c, r[c]!])));
}, 240_000);

afterAll(async () => {
  await Promise.all(scorers.map((s) => s.shutdown(0)));
  await rm(dir, { recursive: true, force: true });
});

async function scorer(extraFields?: ExtraFields): Promise<string> {
  const s = await startScorer(
    { model: 'm', version: 1, modelUri, maxBatchRows: 100, maxBodyBytes: 1 << 20, port: 0, ...(extraFields ? { extraFields } : {}) },
    { host: '127.0.0.1', log: () => {} },
  );
  scorers.push(s);
  return `http://127.0.0.1:${(s.server.address() as { port: number }).port}`;
}

function post(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      let answer = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (answer += c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(answer) }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

describe('fields a model does not read', () => {
  it('Reject: a row of the training file is a 400 naming its first extra field and the fix', async () => {
    const url = await scorer({ policy: 'Reject' });
    const a = await post(`${url}/v1/models/m:predict`, { instances: fullRows });
    expect(a.status).toBe(400);
    expect(a.json.error).toMatch(/^instances\[0\]\.salary: unknown field: the model reads .*set the policy to Ignore\)$/);
  });

  it('Ignore, the default: rows of the training file score as their inputs alone', async () => {
    const url = await scorer();
    const full = await post(`${url}/v1/models/m:predict`, { instances: fullRows });
    const inputs = await post(`${url}/v1/models/m:predict`, { instances: inputRows });
    expect([full.status, full.json.error]).toEqual([200, undefined]);
    expect(full.json.predictions).toHaveLength(fullRows.length);
    expect(full.json.predictions).toEqual(inputs.json.predictions);
    expect(full.json.passThrough).toBeUndefined();
    const misspelt = await post(`${url}/v1/models/m:predict`, { instances: [{ ...Object.fromEntries(Object.entries(fullRows[0]!).filter(([k]) => k !== 'job_title')), job_tittle: 'x' }] });
    expect([misspelt.status, misspelt.json.error]).toEqual([400, expect.stringMatching(/^instances\[0\]\.job_title: missing: .*the record has job_tittle: is it misspelt\?$/)]);
  });

  it("PassThrough: each prediction comes with the model's idColumns, or the fields named", async () => {
    const byId = await post(`${await scorer({ policy: 'PassThrough' })}/v1/models/m:predict`, { instances: fullRows });
    expect(byId.status).toBe(200);
    expect(byId.json.passThrough).toEqual(fullRows.map((r) => ({ salary_currency: r.salary_currency })));
    const named = await scorer({ policy: 'PassThrough', passThrough: ['salary', 'row_id'] });
    const a = await post(`${named}/v1/models/m:predict`, { instances: fullRows });
    expect(a.json.passThrough).toEqual(fullRows.map((r) => ({ salary: r.salary, row_id: null })));
    expect(a.json.predictions).toEqual(byId.json.predictions);
    // Open Inference Protocol: the named tensor comes back among the outputs, as it was sent.
    const id = { name: 'salary', datatype: 'INT64', shape: [1], data: [fullRows[0]!.salary] };
    const tensors = Object.entries(inputRows[0]!).map(([name, v]) => ({ name, datatype: typeof v === 'number' ? 'FP64' : 'BYTES', shape: [1], data: [v] }));
    const v2 = await post(`${named}/v2/models/m/infer`, { inputs: [...tensors, id], outputs: [{ name: 'prediction' }] });
    expect(v2.status).toBe(200);
    expect(v2.json.outputs).toEqual([{ name: 'prediction', datatype: 'FP64', shape: [1], data: [a.json.predictions[0]] }, id]);
  });
});
