// The model's feature contract: the same raw rows of a messy file (padded strings, "--"
// placeholders, ranges such as "45-65", pattern cells, unseen values, nulls) become the same model
// inputs in training's prepared files, in the scorer and in `orchard score`, whose ScoringJob names
// no csv options at all; the scorer answers over real HTTP what the model gives those inputs.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scoringJobSpec } from '../../operator/src/api/v1alpha1/scoring-job.js';
import { trainingRunSpec } from '../../operator/src/api/v1alpha1/training-run.js';
import { readSource } from '../../operator/src/artifacts/sources.js';
import { publishArtifacts, readArtifact, readArtifactText, readManifest } from '../../operator/src/artifacts/store.js';
import { scoreShard } from '../../operator/src/batch/score.js';
import { createSession, runModel } from '../../operator/src/export/onnx-runner.js';
import { inputSchema, type InputSchema } from '../../operator/src/features/schema.js';
import { jsonRecordReader, PATTERN_MAX_CELL, recordEncoder, type EncodedRow } from '../../operator/src/features/transform.js';
import { loadServedModel } from '../../operator/src/serving/model.js';
import { startScorer, type RunningScorer } from '../../operator/src/serving/server.js';
import { runPipeline, workPaths } from '../../operator/src/training/pipeline.js';
import { readPreparedTsv } from '../../operator/src/training/tsv.js';
import { exampleTrainingRun } from '../support/examples.js';

let dir: string;
let csv: string;
let modelUri: string;
let schema: InputSchema;
let records: Record<string, string | null>[];
const scorers: RunningScorer[] = [];

/** mulberry32: the same file on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A house-price file written the way such files are: padding, "--", ranges, units in the cells. */
function messyHouses(rows: number): string {
  const rand = random(15);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const pad = (s: string) => pick(['', '', ' ', '  ']) + s + pick(['', '', ' ']);
  const lines = ['id,district,area,age,rooms,zone,tags,price'];
  for (let i = 0; i < rows; i++) {
    // Playa and Puerto appear once each: unseen by training wherever the split puts them.
    const district = i === 7 ? 'Playa' : i === 11 ? 'Puerto' : pick(['Centro', 'Centro', 'Norte', 'Sur', 'Este']);
    const area = 40 + Math.floor(rand() * 160);
    const low = pick([0, 5, 15, 25, 45, 65]);
    const age = rand() < 0.15 ? String(low) : `${low}-${low + pick([5, 10, 20])}`;
    const rooms = 1 + Math.floor(rand() * 5);
    const zone = pick(['A', 'B', 'C']);
    const price = area * (district === 'Centro' ? 3000 : 2000) + rooms * 10_000 - low * 500 + Math.floor(rand() * 20_000);
    lines.push([
      i,
      rand() < 0.08 ? '--' : pad(district),
      rand() < 0.08 ? '--' : rand() < 0.05 ? '' : pad(String(area)),
      rand() < 0.08 ? '--' : rand() < 0.05 ? '' : pad(age),
      rand() < 0.06 ? '--' : pad(`${rooms} ${rooms === 1 ? 'room' : 'rooms'}`),
      rand() < 0.1 ? 'unknown' : pad(`${zone}-${Math.floor(rand() * 40)}`),
      rand() < 0.1 ? '--' : rand() < 0.05 ? '' : pad(pick(['pool', 'garden', 'pool;garden', 'garden; lift', 'lift'])),
      price,
    ].join(','));
  }
  return `${lines.join('\n')}\n`;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orchard-contract-'));
  csv = join(dir, 'houses.csv');
  await writeFile(csv, messyHouses(600));
  modelUri = `file://${join(dir, 'model')}/`;
  const base = exampleTrainingRun('salaries.yaml');
  const spec = trainingRunSpec.parse({
    ...base,
    task: 'Regression',
    // Trim the old way, as a reading option, and "--" the new way, in the feature spec: both must reach the model.
    data: { source: { uri: `file://${csv}`, csv: { whitespace: 'Trim' } }, split: { validationFraction: '0.2', testFraction: '0.2', seed: 3 } },
    features: {
      target: { column: 'price', transform: 'Log' },
      cells: { naValues: ['--'] },
      columns: [
        { name: 'district', type: 'Categorical' },
        { name: 'area', type: 'Numeric' },
        { name: 'age', type: 'Numeric', range: {} },
        { name: 'age_low', column: 'age', type: 'Numeric', range: { value: 'Lower' } },
        { name: 'rooms', type: 'Numeric', pattern: { regex: '^([0-9]+) rooms?$' } },
        { name: 'zone', type: 'Categorical', pattern: { regex: '^([A-Z])-', noMatch: 'Missing' } },
        { name: 'tags', type: 'MultiLabel', multiLabel: { topK: 3 } },
      ],
    },
    catboost: { iterations: 40, depth: 4, learningRate: '0.3', randomSeed: 0 },
  });
  await runPipeline({ spec, workDir: join(dir, 'run'), artifactUri: modelUri, producerVersion: 'test' });
  schema = inputSchema.parse(JSON.parse(await readArtifactText(modelUri, 'input-schema.json')));
  // Records as a client sends them: the file's cells as they are, with no reading options at all.
  const raw = await readSource({ uri: `file://${csv}` });
  const columns = ['district', 'area', 'age', 'rooms', 'zone', 'tags'];
  records = raw.rows.map((row) => Object.fromEntries(columns.map((c) => [c, row[raw.columns.indexOf(c)] ?? null])));
}, 240_000);

afterAll(async () => {
  await Promise.all(scorers.map((s) => s.shutdown(0)));
  await rm(dir, { recursive: true, force: true });
});

/** An encoded row as a comparable key: NaN (missing) kept apart from every number and string. */
const key = (row: EncodedRow) => JSON.stringify(row.map((v) => (typeof v === 'number' && Number.isNaN(v) ? 'NaN' : v)));
const sortedKeys = (rows: EncodedRow[]) => rows.map(key).sort();

function post(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      let out = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (out += c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(out) }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

async function scorerUrl(uri: string): Promise<string> {
  const scorer = await startScorer({ model: 'm', version: 1, modelUri: uri, maxBatchRows: 1000, maxBodyBytes: 1 << 20, port: 0 } as never, { host: '127.0.0.1', log: () => {} });
  scorers.push(scorer);
  return `http://127.0.0.1:${((scorer.server as Server).address() as { port: number }).port}/v1/models/m:predict`;
}

describe('the feature contract', () => {
  it('is written into the input schema: the csv Trim and the spec naValues together', () => {
    expect(schema.version).toBe(2);
    expect(schema.features.cells).toEqual({ whitespace: 'Trim', naValues: ['--'] });
    // The file is as messy as the test claims.
    expect(records.some((r) => r.district === ' Centro' || r.district === 'Centro ')).toBe(true);
    expect(records.filter((r) => r.area === '--').length).toBeGreaterThan(10);
    expect(records.some((r) => r.age === null)).toBe(true);
    expect(records.some((r) => /^ *\d+-\d+ *$/.test(r.age ?? ''))).toBe(true);
  });

  it('gives prepare, the scorer and orchard score the same model inputs for the same raw rows, and the scorer answers with them over HTTP', async () => {
    // Training's inputs: every row lands in one of the three prepared files.
    const prepared = join(workPaths(join(dir, 'run')).preparedDir);
    const trained: EncodedRow[] = [];
    for (const part of ['train', 'validation', 'test']) trained.push(...(await readPreparedTsv(join(prepared, `${part}.tsv`), schema.inputs)).rows);
    expect(trained).toHaveLength(records.length);

    // The scorer's encoder, as loaded from the published model.
    const served = await loadServedModel('houses', 1, modelUri);
    const online = records.map((r) => served.encode(jsonRecordReader(r)));
    await served.release();

    // orchard score, on the same file, with a ScoringJob that says nothing about csv options.
    const batch: EncodedRow[] = [];
    const job = scoringJobSpec.parse({ modelRef: { name: 'houses' }, input: { sources: [{ uri: `file://${csv}` }] }, output: { uri: `file://${join(dir, 'scored')}/` } });
    const summary = await scoreShard({ spec: job, modelUri, shard: 0, onEncoded: (rows) => batch.push(...rows) });
    expect(summary).toMatchObject({ rows: records.length, rejected: 0 });

    expect(online.map(key)).toEqual(batch.map(key));
    expect(sortedKeys(online)).toEqual(sortedKeys(trained));
    // Padding and placeholders really were normalised, and the ranges and patterns read.
    const at = (name: string) => schema.inputs.findIndex((i) => i.name === name);
    const i = records.findIndex((r) => r.district === ' Centro' && / *(\d+)-(\d+) */.test(r.age ?? '') && r.rooms !== '--');
    const [, lo, hi] = / *(\d+)-(\d+) */.exec(records[i]!.age!)!;
    expect(online[i]![at('district')]).toBe('Centro');
    expect(online[i]![at('age')]).toBe((Number(lo!) + Number(hi!)) / 2);
    expect(online[i]![at('age_low')]).toBe(Number(lo));
    expect(online[i]![at('rooms')]).toBe(Number(/\d+/.exec(records[i]!.rooms!)![0]));
    expect(online[records.findIndex((r) => r.area === '--')]![at('area')]).toBeNaN();
    expect(online[records.findIndex((r) => r.zone === 'unknown')]![at('zone')]).toBe('');

    // Over HTTP: raw records in, the model's answers to exactly these inputs out.
    const url = await scorerUrl(modelUri);
    const answer = await post(url, { instances: records });
    expect(answer.status).toBe(200);
    const session = await createSession(await readArtifact(modelUri, 'model.onnx'));
    const expected = await runModel(session, schema.inputs, batch);
    await session.release();
    expect(answer.json.predictions).toHaveLength(records.length);
    // One batch or several: onnxruntime sums the trees in another order, a few ulps apart.
    answer.json.predictions.forEach((p: number, r: number) => expect(Math.abs(p - expected.prediction![r]!)).toBeLessThanOrEqual(1e-12 * Math.abs(p)));
  });

  it('answers 400 naming the feature for cells a range or pattern cannot read, and for cells too long to search', async () => {
    const url = await scorerUrl(modelUri);
    const good = { district: 'Centro', area: '80', age: '45-65', rooms: '3 rooms', zone: 'B-1', tags: 'pool' };
    expect(await post(url, { instances: [{ ...good, rooms: 'three rooms' }] })).toEqual({
      status: 400,
      json: { error: 'instances[0].rooms: "three rooms" does not match pattern.regex: send a value it matches, or set pattern.noMatch to Missing' },
    });
    expect(await post(url, { instances: [{ ...good, age: '65-45' }] })).toMatchObject({ status: 400, json: { error: expect.stringMatching(/^instances\[0\]\.age: "65-45" has its lower bound above its upper bound/) } });
    // Refused by its length, before the pattern runs. (No timing bound: this pattern reads 12,806
    // characters in microseconds, so a time limit on the round trip would prove nothing.)
    const long = await post(url, { instances: [{ ...good, rooms: `${'9'.repeat(PATTERN_MAX_CELL * 100)} rooms` }] });
    expect(long.status).toBe(400);
    expect(long.json.error).toMatch(new RegExp(`^instances\\[0\\]\\.rooms: .* is ${PATTERN_MAX_CELL * 100 + 6} characters, over the ${PATTERN_MAX_CELL} a pattern reads`));
  });

  it('leaves a model published without cells as it was: a padded category is unseen, "--" is a 400', async () => {
    // The same model as input schema version 1 wrote it: no cells, no range, no pattern.
    const oldUri = `file://${join(dir, 'model-v1')}/`;
    const old = structuredClone(schema) as any;
    old.version = 1;
    delete old.features.cells;
    for (const f of old.features.columns) {
      delete f.range;
      delete f.pattern;
    }
    const files = await Promise.all((await readManifest(modelUri)).files.map(async (f) => ({ name: f.name, bytes: f.name === 'input-schema.json' ? Buffer.from(JSON.stringify(old)) : await readArtifact(modelUri, f.name) })));
    await publishArtifacts(oldUri, files);
    const url = await scorerUrl(oldUri);
    const padded = { district: ' Centro', area: '80', age: '50', rooms: '3', zone: 'B', tags: 'pool' };
    const encoded = recordEncoder(inputSchema.parse(old))(jsonRecordReader(padded));
    expect(encoded[schema.inputs.findIndex((i) => i.name === 'district')]).toBe(' Centro');
    const answer = await post(url, { instances: [padded] });
    expect(answer.status).toBe(200);
    const session = await createSession(await readArtifact(oldUri, 'model.onnx'));
    const expected = await runModel(session, schema.inputs, [encoded]);
    await session.release();
    expect(Math.abs(answer.json.predictions[0] - expected.prediction![0]!)).toBeLessThanOrEqual(1e-12 * Math.abs(expected.prediction![0]!));
    expect(await post(url, { instances: [{ ...padded, area: '--' }] })).toMatchObject({ status: 400, json: { error: expect.stringMatching(/^instances\[0\]\.area: "--" is not a number/) } });
  });
});
