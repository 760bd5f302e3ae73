// Models at the edges of what CatBoost emits still export, and the ONNX graph gives CatBoost's own
// predictions: trees that are a lone leaf (CatBoost writes `"splits": null`), models that read no
// feature at all, only categorical or only numeric features. The data is generated here; where
// training alone does not produce such trees, CatBoost itself loads an edited model.json and
// writes it back, so the exporter sees CatBoost's own writing and the parity oracle is CatBoost.
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainingRunSpec, type TrainingRunSpec } from '../../operator/src/api/v1alpha1/training-run.js';
import { createSession, runModel } from '../../operator/src/export/onnx-runner.js';
import { inputSchema } from '../../operator/src/features/schema.js';
import { inverseLabel } from '../../operator/src/features/target.js';
import type { ExportReport } from '../../operator/src/training/export.js';
import { readPreparedTsv } from '../../operator/src/training/tsv.js';
import { runPipeline, workPaths } from '../../operator/src/training/pipeline.js';
import { trainerCommand } from '../../operator/src/training/trainer.js';

const work = await mkdtemp(join(tmpdir(), 'orchard-export-edges-'));
afterAll(() => rm(work, { recursive: true, force: true }));

/** mulberry32, so every run trains on the same rows. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CITIES = ['north', 'south', 'east', 'west', 'centre'];
const csv = join(work, 'rows.csv');
const rand = random(11);
const lines = ['city,kind,x,w,price,grade'];
for (let i = 0; i < 1500; i++) {
  const city = CITIES[Math.floor(rand() * CITIES.length)]!;
  const kind = rand() < 0.5 ? 'flat' : 'house';
  const x = rand() * 10;
  const w = rand() < 0.05 ? '' : (rand() * 3).toFixed(3);
  const score = CITIES.indexOf(city) * 0.3 + (kind === 'house' ? 0.5 : 0) + 0.2 * x + (w === '' ? 0 : Number(w)) * 0.4 + rand();
  lines.push([city, kind, x.toFixed(4), w, (50_000 * Math.exp(score / 3)).toFixed(0), score < 2 ? 'low' : score < 3.5 ? 'mid' : 'high'].join(','));
}
await writeFile(csv, `${lines.join('\n')}\n`);

const TARGETS = { Regression: { column: 'price', transform: 'Log' }, BinaryClassification: { column: 'kind' }, MulticlassClassification: { column: 'grade' } };

function spec(task: TrainingRunSpec['task'], columns: string[], catboost: Record<string, unknown>): TrainingRunSpec {
  const types: Record<string, 'Numeric' | 'Categorical'> = { city: 'Categorical', kind: 'Categorical', grade: 'Categorical', x: 'Numeric', w: 'Numeric' };
  return trainingRunSpec.parse({
    modelRef: { name: 'edges' },
    task,
    data: { source: { uri: `file://${csv}` }, split: { strategy: 'Random', validationFraction: '0.1', testFraction: '0.2', seed: 3 } },
    features: {
      target: TARGETS[task],
      columns: columns.map((name) => ({ name, type: types[name] })),
    },
    catboost: { iterations: 30, learningRate: '0.2', depth: 3, randomSeed: 0, ...catboost },
  });
}

/** Runs Python with CatBoost on `code`, with argv[1] the model directory. */
function python(code: string, modelDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(trainerCommand().python, ['-c', code, modelDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`python exited ${code}: ${stderr}`))));
  });
}

// Edits model.json's oblivious trees, has CatBoost load the result and write both model.cbm (the
// parity oracle) and model.json back, so the file exported is CatBoost's own writing.
const rewrite = (edit: string) => `
import catboost, json, sys
d = sys.argv[1]
m = json.load(open(d + '/model.json'))
trees = m['oblivious_trees']
dim = len(trees[0]['leaf_values']) >> len(trees[0]['splits'] or [])
${edit}
json.dump(m, open(d + '/edited.json', 'w'))
model = catboost.CatBoost()
model.load_model(d + '/edited.json', format='json')
model.save_model(d + '/model.cbm')
model.save_model(d + '/model.json', format='json')
`;
// A lone leaf between real trees, as CatBoost grows when no split beats none.
const LONE_LEAVES = rewrite(`
for i in (0, 7, len(trees)):
    trees.insert(i, {'leaf_values': [0.125 * (k + 1) for k in range(dim)], 'leaf_weights': [1000], 'splits': []})
`);
// Every tree a lone leaf: the model reads no feature.
const ALL_LONE_LEAVES = rewrite(`
m['oblivious_trees'] = [{'leaf_values': t['leaf_values'][:dim], 'leaf_weights': [1000], 'splits': []} for t in trees]
`);

interface Case {
  title: string;
  spec: TrainingRunSpec;
  edit?: string;
  check?: (report: ExportReport, modelJson: string) => void;
}

const cases: Case[] = [
  {
    title: 'regression whose trees are all a lone leaf (Depthwise, min_data_in_leaf above the row count)',
    spec: spec('Regression', ['city', 'kind', 'x', 'w'], { growPolicy: 'Depthwise', extra: { min_data_in_leaf: '100000' } }),
    check: (r) => expect(r.summary.nodes).toBe(0),
  },
  {
    title: 'regression with oblivious trees without splits among others',
    spec: spec('Regression', ['city', 'kind', 'x', 'w'], {}),
    edit: LONE_LEAVES,
    check: (r, json) => {
      expect(json).toMatch(/"splits":\s*null/);
      expect(r.summary.nodes).toBeGreaterThan(0);
    },
  },
  {
    title: 'multiclass whose oblivious trees are all without splits',
    spec: spec('MulticlassClassification', ['city', 'kind', 'x', 'w'], {}),
    edit: ALL_LONE_LEAVES,
    check: (r, json) => {
      expect(json).toMatch(/"splits":\s*null/);
      expect(r.summary.nodes).toBe(0);
    },
  },
  {
    title: 'binary with only categorical features and lone leaves',
    spec: spec('BinaryClassification', ['city', 'grade'], { oneHotMaxSize: 3 }),
    edit: LONE_LEAVES,
    check: (r) => expect(r.summary.ctrs + r.summary.oneHotFeatures).toBeGreaterThan(0),
  },
  {
    title: 'multiclass with only numeric features',
    spec: spec('MulticlassClassification', ['x', 'w'], {}),
    check: (r) => expect(r.summary.ctrs + r.summary.oneHotFeatures).toBe(0),
  },
];

describe('export of edge-case CatBoost models', () => {
  it.each(cases.map((c) => [c.title, c] as const))('%s', async (_title, c) => {
    const dir = join(work, c.title.replace(/[^a-z0-9]+/gi, '-'));
    await runPipeline({ spec: c.spec, workDir: dir, producerVersion: 'test' }, ['prepare', 'train']);
    const { modelDir } = workPaths(dir);
    if (c.edit) await python(c.edit, modelDir);
    await runPipeline({ spec: c.spec, workDir: dir, producerVersion: 'test' }, ['export']);

    // Export compared every test row with CatBoost's predict on model.cbm; the report says how closely.
    const report = JSON.parse(await readFile(join(modelDir, 'export.json'), 'utf8')) as ExportReport;
    expect(report.parity.rows).toBeGreaterThan(200);
    for (const err of Object.values(report.parity.maxError)) expect(err).toBeLessThanOrEqual(1e-12);
    if (report.parity.maxRelativeError['prediction'] !== undefined) expect(report.parity.maxRelativeError['prediction']).toBeLessThanOrEqual(1e-12);
    c.check?.(report, await readFile(join(modelDir, 'model.json'), 'utf8'));
  }, 120_000);
});

describe('estimate Mean of a log target', () => {
  const targets = [
    { title: 'Log', target: { column: 'price', transform: 'Log', estimate: 'Mean' }, mean: (z: number, s: number) => Math.exp(z) * s },
    { title: 'Log1p in thousands', target: { column: 'price', transform: 'Log1p', scale: '1000', estimate: 'Mean' }, mean: (z: number, s: number) => (Math.exp(z) * s - 1) * 1000 },
  ];
  it.each(targets.map((t) => [t.title, t] as const))('%s: the graph multiplies by the trainer’s smearing factor, and its predictions give the trainer’s test metrics', async (_title, t) => {
    const dir = join(work, `mean-${t.title.replace(/[^a-z0-9]+/gi, '-')}`);
    const base = spec('Regression', ['city', 'kind', 'x', 'w'], {});
    const run = trainingRunSpec.parse({ ...base, features: { ...base.features, target: t.target } });
    await runPipeline({ spec: run, workDir: dir, producerVersion: 'test' }, ['prepare', 'train', 'export']);
    const { preparedDir, modelDir } = workPaths(dir);
    const metrics = JSON.parse(await readFile(join(modelDir, 'metrics.json'), 'utf8'));
    const report = JSON.parse(await readFile(join(modelDir, 'export.json'), 'utf8')) as ExportReport;
    const s = metrics.targetSmearing as number;
    expect(s).toBeGreaterThan(1);
    expect(report.targetSmearing).toBe(s);
    for (const err of Object.values(report.parity.maxError)) expect(err).toBeLessThanOrEqual(1e-12);

    const schema = inputSchema.parse(JSON.parse(await readFile(join(preparedDir, 'input-schema.json'), 'utf8')));
    const test = await readPreparedTsv(join(preparedDir, 'test.tsv'), schema.inputs);
    const session = await createSession(await readFile(join(modelDir, 'model.onnx')));
    const out = await runModel(session, schema.inputs, test.rows);
    await session.release();
    const actual = Array.from(test.labels, inverseLabel(schema.features.target));
    const predicted = Array.from(out.prediction!);
    predicted.forEach((p, i) => expect(Math.abs(p - t.mean(out.raw[i]!, s))).toBeLessThanOrEqual(1e-12 * Math.abs(p)));
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const errors = predicted.map((p, i) => p - actual[i]!);
    expect(Math.abs(Math.sqrt(mean(errors.map((e) => e * e))) / metrics.metrics.RMSE - 1)).toBeLessThan(1e-9);
    expect(Math.abs(mean(errors.map(Math.abs)) / metrics.metrics.MAE - 1)).toBeLessThan(1e-9);
  }, 120_000);
});
