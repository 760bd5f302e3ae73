// The exported ONNX model gives CatBoost's own predictions: models are trained here, on the
// shipped data sets, and both CatBoost and onnxruntime-node score the same rows, including rows
// with categories never seen in training and with missing values.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrainingRunSpec } from '../../operator/src/api/v1alpha1/training-run.js';
import { inputSchema } from '../../operator/src/features/schema.js';
import type { EncodedRow } from '../../operator/src/features/transform.js';
import { createSession, runModel } from '../../operator/src/export/onnx-runner.js';
import { checkParity, PARITY_TOLERANCE, type ExportReport } from '../../operator/src/training/export.js';
import { runPipeline, workPaths } from '../../operator/src/training/pipeline.js';
import { encodedRowsToTsv, readPreparedTsv } from '../../operator/src/training/tsv.js';
import { exampleTrainingRun } from '../support/examples.js';

const work = await mkdtemp(join(tmpdir(), 'orchard-parity-'));
afterAll(() => rm(work, { recursive: true, force: true }));

// At 200 iterations and more CatBoost combines categorical features by default (below, it does not).
interface Case {
  title: string;
  example: string;
  catboost: TrainingRunSpec['catboost'];
  /** What a log target's prediction estimates, when not the example's own. */
  estimate?: 'Mean';
  expect: (report: ExportReport) => void;
}

const cases: Case[] = [
  {
    title: 'UCI Adult, binary: one-hot splits, CTRs on single features and combinations',
    example: 'adult.yaml',
    catboost: { iterations: 200, learningRate: '0.15', depth: 6, randomSeed: 0, oneHotMaxSize: 6 },
    expect: (r) => {
      expect(r.summary.oneHotFeatures).toBeGreaterThan(0);
      expect(r.summary.combinationCtrs).toBeGreaterThan(0);
    },
  },
  {
    title: 'UCI Adult, binary: depthwise (non-symmetric) trees, NaN as the largest value',
    example: 'adult.yaml',
    catboost: { iterations: 80, learningRate: '0.2', depth: 5, randomSeed: 0, growPolicy: 'Depthwise', extra: { nan_mode: 'Max' } },
    expect: (r) => expect(r.summary.ctrs).toBeGreaterThan(0),
  },
  {
    title: 'salaries, regression of log(salary) with the inverse transform in the graph',
    example: 'salaries.yaml',
    catboost: { iterations: 200, learningRate: '0.15', depth: 6, randomSeed: 0 },
    expect: (r) => {
      expect(r.summary.combinationCtrs).toBeGreaterThan(0);
      expect(r.summary.outputs).toContain('prediction');
    },
  },
  {
    title: 'salaries, regression of log(salary) estimating the mean: the smearing factor multiplies in the graph',
    example: 'salaries.yaml',
    catboost: { iterations: 200, learningRate: '0.15', depth: 6, randomSeed: 0 },
    estimate: 'Mean',
    expect: (r) => {
      expect(r.targetSmearing).toBeGreaterThan(1);
      expect(r.parity.maxRelativeError['prediction']).toBeLessThanOrEqual(1e-12);
    },
  },
  {
    title: 'salaries, 4-class experience_level',
    example: 'salaries-experience.yaml',
    catboost: { iterations: 200, learningRate: '0.2', depth: 5, randomSeed: 0 },
    expect: (r) => {
      expect(r.summary.combinationCtrs).toBeGreaterThan(0);
      expect(r.summary.outputs).toContain('probabilities');
    },
  },
  {
    title: 'salaries, 4-class experience_level: lossguide trees of at most 16 leaves, balanced class weights, Bernoulli subsample',
    example: 'salaries-experience.yaml',
    catboost: { iterations: 80, learningRate: '0.2', depth: 6, randomSeed: 0, growPolicy: 'Lossguide', maxLeaves: 16, autoClassWeights: 'Balanced', bootstrapType: 'Bernoulli', subsample: '0.8' },
    expect: (r) => expect(r.summary.outputs).toContain('probabilities'),
  },
];

/** Test rows, then the same rows with one category replaced by an unseen one, one number missing, one category missing. */
function perturbed(types: ('Numeric' | 'Categorical')[], rows: EncodedRow[]): EncodedRow[] {
  const cats = types.flatMap((t, j) => (t === 'Categorical' ? [j] : []));
  const nums = types.flatMap((t, j) => (t === 'Numeric' ? [j] : []));
  const out: EncodedRow[] = [];
  rows.slice(0, 400).forEach((row, r) => {
    const unseen = row.slice();
    unseen[cats[r % cats.length]!] = `never seen ${r}`;
    const allUnseen = row.map((v, j) => (types[j] === 'Categorical' ? `never seen ${r}/${j}` : v));
    const noNumber = row.slice();
    noNumber[nums[r % nums.length]!] = Number.NaN;
    const noCategory = row.slice();
    noCategory[cats[(r + 1) % cats.length]!] = '';
    out.push(unseen, allUnseen, noNumber, noCategory);
  });
  return out;
}

describe('ONNX export matches CatBoost', () => {
  it.each(cases.map((c) => [c.title, c] as const))('%s', async (_title, c) => {
    const dir = join(work, c.title.replace(/[^a-z0-9]+/gi, '-'));
    const example = exampleTrainingRun(c.example);
    const spec = { ...example, catboost: c.catboost, ...(c.estimate ? { features: { ...example.features, target: { ...example.features.target, estimate: c.estimate } } } : {}) };
    await runPipeline({ spec, workDir: dir, producerVersion: 'test' }, ['prepare', 'train', 'export']);
    const { preparedDir, modelDir } = workPaths(dir);
    const trained = JSON.parse(await readFile(join(modelDir, 'metrics.json'), 'utf8'));
    expect(trained.params.grow_policy).toBe(c.catboost.growPolicy ?? 'SymmetricTree');

    // Export already compared every test row; its report says how closely.
    const report = JSON.parse(await readFile(join(modelDir, 'export.json'), 'utf8')) as ExportReport;
    expect(report.parity.rows).toBeGreaterThan(1000);
    for (const err of Object.values(report.parity.maxError)) expect(err).toBeLessThanOrEqual(PARITY_TOLERANCE);
    c.expect(report);

    // Unseen categories and missing values, scored by both.
    const schema = inputSchema.parse(JSON.parse(await readFile(join(preparedDir, 'input-schema.json'), 'utf8')));
    const test = await readPreparedTsv(join(preparedDir, 'test.tsv'), schema.inputs);
    const rows = perturbed(schema.inputs.map((i) => i.type), test.rows);
    const path = join(dir, 'perturbed.tsv');
    await writeFile(path, encodedRowsToTsv(schema.inputs, rows));
    const onnx = await readFile(join(modelDir, 'model.onnx'));
    const parity = await checkParity(onnx, schema, rows, path, modelDir, preparedDir);
    expect(parity.rows).toBe(rows.length);
    for (const err of Object.values(parity.maxError)) expect(err).toBeLessThanOrEqual(PARITY_TOLERANCE);

    // The perturbations matter: an unseen category changes most predictions.
    const session = await createSession(onnx);
    const original = await runModel(session, schema.inputs, test.rows.slice(0, 400));
    const changed = await runModel(session, schema.inputs, rows.filter((_, i) => i % 4 === 1));
    await session.release();
    const differ = original.raw.filter((v, i) => v !== changed.raw[i]).length;
    expect(differ / original.raw.length).toBeGreaterThan(0.5);
  }, 300_000);
});
