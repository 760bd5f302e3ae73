// The Python trainer (images/trainer/orchard_trainer.py) on small prepared directories written here
// by hand: what `train` writes, that its metrics agree with `predict`'s scores, and that bad input
// fails with one line and leaves no model behind.
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classificationStats, metricsFromStats } from '../../operator/src/batch/metrics.js';
import type { PreparedDataset } from '../../operator/src/training/prepared.js';
import { trainerCommand } from '../../operator/src/training/trainer.js';

const work = await mkdtemp(join(tmpdir(), 'orchard-trainer-'));
afterAll(() => rm(work, { recursive: true, force: true }));

type Task = PreparedDataset['task'];
const COLOURS = ['red', 'green', 'blue', 'NA', '']; // "NA" and "" are categories, not missing values
const FEATURES: PreparedDataset['features'] = [
  { name: 'colour', type: 'Categorical' },
  { name: 'x', type: 'Numeric' },
  { name: 'z', type: 'Numeric' },
];
const SPLITS = { train: 420, validation: 60, test: 120 };

/** mulberry32: a small deterministic generator, so every run trains on the same rows. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 600 rows whose label depends on all three features (plus noise), split train/validation/test. */
async function prepared(name: string, task: Task, catboost: Partial<PreparedDataset['catboost']> = {}): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  const rand = random(7);
  const effect: Record<string, number> = { red: 1, green: -0.5, blue: 0.2, NA: 0, '': 0.4 };
  const rows: string[] = [];
  for (let i = 0; i < SPLITS.train + SPLITS.validation + SPLITS.test; i++) {
    const colour = COLOURS[Math.floor(rand() * COLOURS.length)]!;
    const x = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    const missing = rand() < 0.05;
    const z = rand();
    const score = effect[colour]! + 1.5 * (missing ? 0 : x) + z + 0.4 * (rand() - 0.5);
    const label = task === 'Regression' ? Math.log1p(Math.exp(score) * 3) : task === 'BinaryClassification' ? Number(score > 0.6) : score < 0 ? 0 : score < 1.2 ? 1 : 2;
    rows.push([String(label), colour, missing ? '' : String(x), String(z)].join('\t'));
  }
  const header = ['label', ...FEATURES.map((f) => f.name)].join('\t');
  let start = 0;
  for (const [split, count] of Object.entries(SPLITS)) {
    await writeFile(join(dir, `${split}.tsv`), [header, ...rows.slice(start, start + count)].map((l) => `${l}\n`).join(''));
    start += count;
  }
  const dataset: PreparedDataset = {
    version: 1,
    task,
    features: FEATURES,
    ...(task === 'BinaryClassification' ? { classNames: ['no', 'yes'] } : task === 'MulticlassClassification' ? { classNames: ['low', 'mid', 'high'] } : {}),
    target: { column: 'y', transform: task === 'Regression' ? 'Log1p' : 'None', scale: task === 'Regression' ? 1000 : 1 },
    rows: SPLITS,
    catboost: { iterations: 50, depth: 4, randomSeed: 0, learningRate: 0.2, ...catboost },
    compute: { device: 'CPU', gpus: 0 },
    evaluation: { topFraction: 0.1 },
  };
  await writeFile(join(dir, 'dataset.json'), `${JSON.stringify(dataset, null, 2)}\n`);
  return dir;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function trainer(args: string[]): Promise<Run> {
  const { python, script } = trainerCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(python, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function train(data: string): Promise<{ out: string; run: Run; metrics: any; shap: { name: string; importance: number }[] }> {
  const out = join(data, '..', `${data.split('/').at(-1)}-model`);
  const run = await trainer(['train', '--data', data, '--out', out]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const json = async (file: string) => JSON.parse(await readFile(join(out, file), 'utf8'));
  return { out, run, metrics: await json('metrics.json'), shap: await json('shap.json') };
}

/** `predict` on test.tsv: the header and one row of float64 per test row. */
async function predict(data: string, out: string): Promise<{ header: string[]; rows: number[][]; labels: number[] }> {
  const file = join(out, 'test-predictions.tsv');
  const run = await trainer(['predict', '--model', join(out, 'model.cbm'), '--data', join(data, 'test.tsv'), '--dataset', join(data, 'dataset.json'), '--out', file]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const [header, ...lines] = (await readFile(file, 'utf8')).trimEnd().split('\n');
  const labels = (await readFile(join(data, 'test.tsv'), 'utf8')).trimEnd().split('\n').slice(1).map((l) => Number(l.split('\t')[0]));
  return { header: header!.split('\t'), rows: lines.map((l) => l.split('\t').map(Number)), labels };
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;

function expectCommon(out: string, metrics: any, shap: { name: string; importance: number }[], stdout: string) {
  for (const file of ['model.cbm', 'model.json', 'metrics.json', 'shap.json']) expect(existsSync(join(out, file))).toBe(true);
  expect(metrics.iterations).toBe(50);
  expect(metrics.treeCount).toBeGreaterThan(0);
  expect(metrics.treeCount).toBeLessThanOrEqual(50);
  expect(metrics.device).toBe('CPU');
  expect(metrics.catboostVersion).toBe('1.2.10');
  expect(metrics.trainSeconds).toBeGreaterThan(0);
  expect(metrics.params.random_seed).toBe(0);
  for (const v of [...Object.values(metrics.metrics), ...Object.values(metrics.baseline)]) expect(Number.isFinite(v)).toBe(true);
  expect(shap.map((f) => f.name).sort()).toEqual(FEATURES.map((f) => f.name).sort());
  expect(shap.map((f) => f.importance)).toEqual(shap.map((f) => f.importance).sort((a, b) => b - a));
  expect(shap[0]!.importance).toBeGreaterThan(0);
  // Progress: one line per ~10% of the iterations, then a summary.
  expect(stdout.split('\n').filter((l) => /^train: iteration \d+\/50, /.test(l)).length).toBeGreaterThanOrEqual(5);
  expect(stdout).toMatch(/^train: done in /m);
}

const argmax = (values: number[]) => values.indexOf(Math.max(...values));

/** [true class][predicted class] → rows. */
function confusion(labels: number[], predicted: number[], classes: number): number[][] {
  const cm = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  labels.forEach((l, i) => cm[l]![predicted[i]!]!++);
  return cm;
}

/** Each class against the rest, from a (possibly weighted) confusion matrix. */
function scores(cm: number[][]): { precision: number; recall: number; f1: number }[] {
  return cm.map((row, k) => {
    const tp = row[k]!;
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = cm.reduce((s, r) => s + r[k]!, 0);
    return { precision: predicted ? tp / predicted : 0, recall: support ? tp / support : 0, f1: support + predicted ? (2 * tp) / (support + predicted) : 0 };
  });
}

/** Ten equal-width bins of `p`: rows, mean p and the share of hits in each. */
function expectCalibration(calibration: any, kind: string, p: number[], hit: boolean[]) {
  expect(calibration.kind).toBe(kind);
  expect(calibration.bins).toHaveLength(10);
  let ece = 0;
  calibration.bins.forEach((bin: any, b: number) => {
    const inside = p.map((v, i) => i).filter((i) => Math.min(9, Math.floor(p[i]! * 10)) === b);
    expect(bin.count).toBe(inside.length);
    if (!inside.length) return;
    const predicted = mean(inside.map((i) => p[i]!));
    const observed = mean(inside.map((i) => Number(hit[i])));
    expect(bin.meanPredicted).toBeCloseTo(predicted, 12);
    expect(bin.observed).toBeCloseTo(observed, 12);
    ece += (inside.length / p.length) * Math.abs(observed - predicted);
  });
  expect(calibration.expectedCalibrationError).toBeCloseTo(ece, 12);
}

/** The shapes an SVG holds by class, read with Python's XML parser (it throws on malformed XML). */
async function svgShapes(file: string): Promise<Record<string, number>> {
  const { python } = trainerCommand();
  const code = [
    'import collections, json, sys, xml.etree.ElementTree as ET',
    'root = ET.parse(sys.argv[1]).getroot()',
    "assert root.tag == '{http://www.w3.org/2000/svg}svg', root.tag",
    "print(json.dumps(collections.Counter(e.get('class') for e in root.iter() if e.get('class'))))",
  ].join('\n');
  const run = await new Promise<Run>((resolve, reject) => {
    const child = spawn(python, ['-c', code, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout);
}

describe('orchard_trainer.py train and predict', () => {
  test('regression: RMSE, MAE and R2 in original units agree with predict on test.tsv', async () => {
    const data = await prepared('regression', 'Regression');
    const { out, run, metrics, shap } = await train(data);
    expectCommon(out, metrics, shap, run.stdout);
    expect(metrics.task).toBe('Regression');
    expect(metrics.lossFunction).toBe('RMSE');
    // Without early stopping the validation split only informs: all 50 trees are kept.
    expect(metrics.bestIteration).toBeLessThan(50);
    expect(metrics.treeCount).toBe(50);
    expect(metrics.params.use_best_model).toBe(false);
    expect(metrics.metrics.R2).toBeGreaterThan(0.5);
    expect(metrics.metrics.R2).toBeLessThanOrEqual(1);
    expect(metrics.baseline.R2).toBeLessThanOrEqual(0);
    expect(metrics.metrics.RMSE).toBeLessThan(metrics.baseline.RMSE);

    const { header, rows, labels } = await predict(data, out);
    expect(header).toEqual(['raw_0']);
    expect(rows).toHaveLength(SPLITS.test);
    const original = (y: number) => Math.expm1(y) * 1000;
    const errors = rows.map((r, i) => original(r[0]!) - original(labels[i]!));
    expect(relative(Math.sqrt(mean(errors.map((e) => e * e))), metrics.metrics.RMSE)).toBeLessThan(1e-9);
    expect(relative(mean(errors.map(Math.abs)), metrics.metrics.MAE)).toBeLessThan(1e-9);

    // The JSON model carries the category strings, verbatim ("NA" and "" included), for the exporter.
    const model = JSON.parse(await readFile(join(out, 'model.json'), 'utf8'));
    expect(model.features_info.cat_features_hash.map((h: { value: string }) => h.value).sort()).toEqual([...COLOURS].sort());
    // estimate Median (the default): exp of the predicted log, no smearing factor.
    expect(metrics.targetSmearing).toBeUndefined();
  });

  test('regression, estimate Mean: the smearing factor is mean exp(residual) on train.tsv, and test metrics apply exp(z)·s − 1 (Log1p)', async () => {
    const data = await prepared('regression-mean', 'Regression');
    const datasetPath = join(data, 'dataset.json');
    const dataset = JSON.parse(await readFile(datasetPath, 'utf8')) as PreparedDataset;
    await writeFile(datasetPath, JSON.stringify({ ...dataset, target: { ...dataset.target, estimate: 'Mean' } }));
    const { out, run, metrics } = await train(data);
    const s = metrics.targetSmearing as number;
    expect(s).toBeGreaterThan(1);
    expect(run.stdout).toContain(`train: predictions estimate the mean: smearing factor ${s.toPrecision(6).replace(/\.?0+$/, '')} from the training split`);

    // Duan's estimator on the training split, from CatBoost's own raw scores.
    const file = join(out, 'train-predictions.tsv');
    const scored = await trainer(['predict', '--model', join(out, 'model.cbm'), '--data', join(data, 'train.tsv'), '--dataset', datasetPath, '--out', file]);
    expect(scored.code).toBe(0);
    const trainRaw = (await readFile(file, 'utf8')).trimEnd().split('\n').slice(1).map(Number);
    const trainLabels = (await readFile(join(data, 'train.tsv'), 'utf8')).trimEnd().split('\n').slice(1).map((l) => Number(l.split('\t')[0]));
    expect(relative(mean(trainLabels.map((y, i) => Math.exp(y - trainRaw[i]!))), s)).toBeLessThan(1e-12);

    // Test metrics use the mean estimate, and it is closer on average than exp(z) − 1 alone.
    const { rows, labels } = await predict(data, out);
    const actual = labels.map((y) => Math.expm1(y) * 1000);
    const meanPrediction = rows.map((r) => (Math.exp(r[0]!) * s - 1) * 1000);
    const errors = meanPrediction.map((p, i) => p - actual[i]!);
    expect(relative(Math.sqrt(mean(errors.map((e) => e * e))), metrics.metrics.RMSE)).toBeLessThan(1e-9);
    expect(relative(mean(errors.map(Math.abs)), metrics.metrics.MAE)).toBeLessThan(1e-9);
    const medianPrediction = rows.map((r) => Math.expm1(r[0]!) * 1000);
    expect(Math.abs(mean(meanPrediction) - mean(actual))).toBeLessThan(Math.abs(mean(medianPrediction) - mean(actual)));
  });

  test('binary: a learnable signal gives AUC well above 0.5; probabilities are CatBoost sigmoid outputs summing to 1', async () => {
    const data = await prepared('binary', 'BinaryClassification', { earlyStoppingRounds: 5, learningRate: 0.6 });
    const { out, run, metrics, shap } = await train(data);
    expectCommon(out, metrics, shap, run.stdout);
    expect(run.stdout).toMatch(/^train: iteration \d+\/50, validation Logloss [\d.]+ \(best [\d.]+ at \d+\)$/m);
    const m = metrics.metrics;
    expect(m.AUC).toBeGreaterThan(0.8);
    expect(m.AUC).toBeLessThanOrEqual(1);
    expect(metrics.baseline.AUC).toBe(0.5);
    expect(m.LogLoss).toBeLessThan(metrics.baseline.LogLoss);
    for (const k of ['Accuracy', 'F1', 'PrecisionAtK', 'RecallAtK']) {
      expect(m[k]).toBeGreaterThanOrEqual(0);
      expect(m[k]).toBeLessThanOrEqual(1);
    }
    expect(m.LiftAtK).toBeGreaterThan(1);
    // Early stopping (at this learning rate it does stop) keeps the trees up to the best validation iteration.
    expect(run.stdout).toMatch(/^train: done in [\d.]+ s, stopped early after \d+ iterations, \d+ trees; test AUC /m);
    expect(metrics.treeCount).toBeLessThan(50);
    expect(metrics.treeCount).toBe(metrics.bestIteration + 1);
    expect(metrics.params.use_best_model).toBe(true);

    const { header, rows, labels } = await predict(data, out);
    expect(header).toEqual(['raw_0', 'proba_0', 'proba_1']);
    for (const [raw, p0, p1] of rows) {
      expect(Math.abs(p0! + p1! - 1)).toBeLessThan(1e-15);
      expect(relative(1 / (1 + Math.exp(-raw!)), p1!)).toBeLessThan(1e-12);
    }
    // AUC from every (positive, negative) pair, ties counting one half.
    const pos = rows.filter((_, i) => labels[i] === 1).map((r) => r[2]!);
    const neg = rows.filter((_, i) => labels[i] === 0).map((r) => r[2]!);
    const wins = pos.reduce((s, p) => s + neg.reduce((t, q) => t + (p > q ? 1 : p === q ? 0.5 : 0), 0), 0);
    expect(relative(wins / (pos.length * neg.length), m.AUC)).toBeLessThan(1e-12);
    const clip = (p: number) => Math.min(Math.max(p, 1e-15), 1 - 1e-15);
    const logloss = mean(rows.map((r, i) => -Math.log(clip(labels[i] === 1 ? r[2]! : r[1]!))));
    expect(relative(logloss, m.LogLoss)).toBeLessThan(1e-9);
  });

  test('multiclass: three classes, one raw score and probability per class', async () => {
    const data = await prepared('multiclass', 'MulticlassClassification');
    const { out, run, metrics, shap } = await train(data);
    expectCommon(out, metrics, shap, run.stdout);
    expect(metrics.lossFunction).toBe('MultiClass');
    expect(metrics.params.class_names).toEqual([0, 1, 2]);
    expect(metrics.metrics.Accuracy).toBeGreaterThan(metrics.baseline.Accuracy);
    expect(metrics.metrics.LogLoss).toBeLessThan(metrics.baseline.LogLoss);

    const { header, rows, labels } = await predict(data, out);
    expect(header).toEqual(['raw_0', 'raw_1', 'raw_2', 'proba_0', 'proba_1', 'proba_2']);
    for (const r of rows) {
      expect(Math.abs(r[3]! + r[4]! + r[5]! - 1)).toBeLessThan(1e-12);
      const top = Math.max(r[0]!, r[1]!, r[2]!);
      const e = r.slice(0, 3).map((v) => Math.exp(v - top));
      const sum = e[0]! + e[1]! + e[2]!;
      e.forEach((v, k) => expect(relative(v / sum, r[3 + k]!)).toBeLessThan(1e-12));
    }
    const accuracy = mean(rows.map((r, i) => Number(r.slice(3).indexOf(Math.max(...r.slice(3))) === labels[i])));
    expect(relative(accuracy, metrics.metrics.Accuracy)).toBeLessThan(1e-12);
  });

  test('multiclass evaluation: per-class precision, recall and F1, macro-F1, balanced accuracy and the confusion matrix agree with predict', async () => {
    const data = await prepared('multiclass-report', 'MulticlassClassification');
    const { out, metrics } = await train(data);
    const { rows, labels } = await predict(data, out);
    const predicted = rows.map((r) => argmax(r.slice(3)));
    const cm = confusion(labels, predicted, 3);
    expect(metrics.confusionMatrix).toEqual({ labels: ['low', 'mid', 'high'], counts: cm });
    const perClass = scores(cm);
    expect(metrics.classes.map((c: any) => c.name)).toEqual(['low', 'mid', 'high']);
    metrics.classes.forEach((c: any, k: number) => {
      expect(c.support).toBe(labels.filter((l) => l === k).length);
      for (const key of ['precision', 'recall', 'f1'] as const) expect(c[key]).toBeCloseTo(perClass[k]![key], 12);
    });
    expect(metrics.metrics.MacroF1).toBeCloseTo(mean(perClass.map((c) => c.f1)), 12);
    expect(metrics.metrics.BalancedAccuracy).toBeCloseTo(mean(perClass.map((c) => c.recall)), 12);
    expect(metrics.weightedMetrics).toBeUndefined(); // no class weights, nothing to weigh
    // Batch scoring and the champion comparison compute the same numbers from the same probabilities.
    const batch = metricsFromStats('MulticlassClassification', classificationStats('MulticlassClassification', labels, rows.flatMap((r) => r.slice(3)), 3));
    for (const k of ['MacroF1', 'BalancedAccuracy', 'Accuracy', 'LogLoss']) expect(batch[k]).toBeCloseTo(metrics.metrics[k], 12);
    // Multiclass calibration is on the predicted class's probability against how often it is right.
    expectCalibration(metrics.calibration, 'PredictedClass', rows.map((r) => Math.max(...r.slice(3))), predicted.map((p, i) => p === labels[i]));
  });

  test('binary evaluation: precision, recall and F1 at 0.5, the confusion matrix and calibration bins agree with predict', async () => {
    const data = await prepared('binary-report', 'BinaryClassification');
    const { out, metrics } = await train(data);
    const { rows, labels } = await predict(data, out);
    const predicted = rows.map((r) => (r[2]! > 0.5 ? 1 : 0));
    const cm = confusion(labels, predicted, 2);
    expect(metrics.confusionMatrix).toEqual({ labels: ['no', 'yes'], counts: cm });
    const [tn, fp] = cm[0]!;
    const [fn, tp] = cm[1]!;
    expect(metrics.metrics.Precision).toBeCloseTo(tp! / (tp! + fp!), 12);
    expect(metrics.metrics.Recall).toBeCloseTo(tp! / (tp! + fn!), 12);
    expect(metrics.metrics.F1).toBeCloseTo((2 * tp!) / (2 * tp! + fp! + fn!), 12);
    expect(metrics.metrics.Accuracy).toBeCloseTo((tp! + tn!) / labels.length, 12);
    expectCalibration(metrics.calibration, 'PositiveClass', rows.map((r) => r[2]!), labels.map((l) => l === 1));
    const batch = metricsFromStats('BinaryClassification', classificationStats('BinaryClassification', labels, rows.flatMap((r) => r.slice(1)), 2));
    for (const k of ['Precision', 'Recall', 'F1', 'Accuracy']) expect(batch[k]).toBeCloseTo(metrics.metrics[k], 12);
  });

  test('named fields reach CatBoost (Lossguide, maxLeaves, Bernoulli subsample, evalMetric, autoClassWeights); weighted metrics sit beside the unweighted', async () => {
    const named = { growPolicy: 'Lossguide', maxLeaves: 8, bootstrapType: 'Bernoulli', subsample: 0.8, evalMetric: 'TotalF1', autoClassWeights: 'Balanced' } as const;
    const data = await prepared('weighted', 'MulticlassClassification', named);
    const { out, run, metrics } = await train(data);
    const params = JSON.parse(await readFile(join(out, 'model.json'), 'utf8')).model_info.params;
    expect(params.tree_learner_options).toMatchObject({ grow_policy: 'Lossguide', max_leaves: 8, bootstrap: { type: 'Bernoulli', subsample: expect.closeTo(0.8, 6) } });
    expect(params.metrics.eval_metric.type).toBe('TotalF1');
    expect(params.data_processing_options.auto_class_weights).toBe('Balanced');
    expect(run.stdout).toMatch(/^train: iteration \d+\/50, validation TotalF1 /m);

    // Balanced: each class weighs (largest class count) / (its count) in the training split.
    const trainLabels = (await readFile(join(data, 'train.tsv'), 'utf8')).trimEnd().split('\n').slice(1).map((l) => Number(l.split('\t')[0]));
    const counts = [0, 1, 2].map((k) => trainLabels.filter((l) => l === k).length);
    const weights = counts.map((n) => Math.max(...counts) / n);
    metrics.classWeights.forEach((w: number, k: number) => expect(relative(w, weights[k]!)).toBeLessThan(1e-6));

    const { rows, labels } = await predict(data, out);
    const w = labels.map((l) => metrics.classWeights[l] as number);
    const total = w.reduce((a, b) => a + b, 0);
    const predicted = rows.map((r) => argmax(r.slice(3)));
    const weighted = metrics.weightedMetrics;
    expect(weighted.LogLoss).toBeCloseTo(-rows.reduce((s, r, i) => s + w[i]! * Math.log(Math.max(1e-15, r[3 + labels[i]!]!)), 0) / total, 12);
    expect(weighted.Accuracy).toBeCloseTo(w.reduce((s, wi, i) => s + (predicted[i] === labels[i] ? wi : 0), 0) / total, 12);
    const weightedCm = [0, 1, 2].map((t) => [0, 1, 2].map((p) => labels.reduce((s, l, i) => s + (l === t && predicted[i] === p ? w[i]! : 0), 0)));
    expect(weighted.MacroF1).toBeCloseTo(mean(scores(weightedCm).map((c) => c.f1)), 12);
    // Class-constant weights leave each class's recall, so balanced accuracy, unchanged.
    expect(weighted.BalancedAccuracy).toBeCloseTo(metrics.metrics.BalancedAccuracy, 12);
    expect(metrics.metrics.MacroF1).toBeCloseTo(mean(scores(confusion(labels, predicted, 3)).map((c) => c.f1)), 12);
    expect(run.stdout).toMatch(/^train: test weighted by class \(low [\d.]+, mid [\d.]+, high [\d.]+\): LogLoss /m);
  });

  test('binary with explicit class weights: weighted precision, recall, F1, log loss and accuracy beside the unweighted', async () => {
    const data = await prepared('binary-weighted', 'BinaryClassification', { classWeights: [1, 3] });
    const { out, run, metrics } = await train(data);
    expect(metrics.params.class_weights).toEqual([1, 3]);
    expect(metrics.classWeights).toEqual([1, 3]);
    const { rows, labels } = await predict(data, out);
    const w = labels.map((l) => (l === 1 ? 3 : 1));
    const total = w.reduce((a, b) => a + b, 0);
    const predicted = rows.map((r) => (r[2]! > 0.5 ? 1 : 0));
    const sum = (f: (i: number) => number) => labels.reduce((s, _, i) => s + f(i), 0);
    const tp = sum((i) => (labels[i] === 1 && predicted[i] === 1 ? w[i]! : 0));
    const fp = sum((i) => (labels[i] === 0 && predicted[i] === 1 ? w[i]! : 0));
    const fn = sum((i) => (labels[i] === 1 && predicted[i] === 0 ? w[i]! : 0));
    const clip = (p: number) => Math.min(Math.max(p, 1e-15), 1 - 1e-15);
    expect(metrics.weightedMetrics).toEqual({
      LogLoss: expect.closeTo(-sum((i) => w[i]! * Math.log(clip(rows[i]![1 + labels[i]!]!))) / total, 12),
      Accuracy: expect.closeTo(sum((i) => (predicted[i] === labels[i] ? w[i]! : 0)) / total, 12),
      Precision: expect.closeTo(tp / (tp + fp), 12),
      Recall: expect.closeTo(tp / (tp + fn), 12),
      F1: expect.closeTo((2 * tp) / (2 * tp + fp + fn), 12),
    });
    // Weights of 1 and 3 leave recall as it is and lower the weighted share of false positives.
    expect(metrics.weightedMetrics.Recall).toBeCloseTo(metrics.metrics.Recall, 12);
    expect(run.stdout).toMatch(/^train: test weighted by class \(no 1, yes 3\): LogLoss /m);
  });

  test('a two-class MulticlassClassification run with class weights is evaluated as multiclass, not as binary', async () => {
    const data = await prepared('multiclass-two', 'MulticlassClassification', { autoClassWeights: 'Balanced' });
    for (const split of Object.keys(SPLITS)) {
      const lines = (await readFile(join(data, `${split}.tsv`), 'utf8')).split('\n');
      await writeFile(join(data, `${split}.tsv`), lines.map((l, i) => (i > 0 && l.startsWith('2\t') ? `1${l.slice(1)}` : l)).join('\n'));
    }
    const dataset = JSON.parse(await readFile(join(data, 'dataset.json'), 'utf8'));
    await writeFile(join(data, 'dataset.json'), JSON.stringify({ ...dataset, classNames: ['low', 'high'] }));
    const { metrics } = await train(data);
    expect(Object.keys(metrics.metrics).sort()).toEqual(['Accuracy', 'BalancedAccuracy', 'LogLoss', 'MacroF1']);
    expect(Object.keys(metrics.weightedMetrics).sort()).toEqual(['Accuracy', 'BalancedAccuracy', 'LogLoss', 'MacroF1']);
    expect(metrics.calibration.kind).toBe('PredictedClass');
  });

  test('plots: SVG files beside metrics.json that parse as XML, one bar per feature and one cell per class pair', async () => {
    const regression = await train(await prepared('plots-regression', 'Regression'));
    expect(regression.metrics.plots).toEqual(['feature-importance.svg']);
    expect(await svgShapes(join(regression.out, 'feature-importance.svg'))).toEqual({ bar: FEATURES.length });
    expect(existsSync(join(regression.out, 'calibration.svg'))).toBe(false);

    const multiclass = await train(await prepared('plots-multiclass', 'MulticlassClassification'));
    expect(multiclass.metrics.plots).toEqual(['calibration.svg', 'confusion-matrix.svg', 'feature-importance.svg']);
    expect(await svgShapes(join(multiclass.out, 'feature-importance.svg'))).toEqual({ bar: FEATURES.length });
    expect(await svgShapes(join(multiclass.out, 'confusion-matrix.svg'))).toEqual({ cell: 9 });
    const filled = multiclass.metrics.calibration.bins.filter((b: { count: number }) => b.count > 0).length;
    expect(await svgShapes(join(multiclass.out, 'calibration.svg'))).toEqual({ point: filled });
    // Feature and class names are user text: the chart shows them as text, never as markup.
    const { python, script } = trainerCommand();
    const code = [
      'import sys, xml.etree.ElementTree as ET',
      'sys.path.insert(0, sys.argv[1])',
      'import orchard_trainer as t',
      "name = '<script>alert(1)</script> & \"x\"'",
      "root = ET.fromstring(t.importance_svg([{'name': name, 'importance': 1.0}]))",
      "texts = [e.text for e in root.iter('{http://www.w3.org/2000/svg}text')]",
      "assert name in texts and not list(root.iter('{http://www.w3.org/2000/svg}script')), texts",
      "root = ET.fromstring(t.confusion_svg({'labels': [name, 'b'], 'counts': [[1, 0], [0, 1]]}))",
      "assert not list(root.iter('{http://www.w3.org/2000/svg}script'))",
      "print('ok')",
    ].join('\n');
    const escaped = await new Promise<string>((resolve, reject) => {
      const child = spawn(python, ['-c', code, join(script, '..')], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.on('error', reject);
      child.on('close', () => resolve(stdout.trim()));
    });
    expect(escaped).toBe('ok');
  });

  describe('bad input: exit code 2, one line naming the problem, no model written', () => {
    const failing = async (name: string, damage: (dir: string) => Promise<void>, said: RegExp) => {
      const data = await prepared(name, 'BinaryClassification');
      await damage(data);
      const out = join(work, `${name}-model`);
      const run = await trainer(['train', '--data', data, '--out', out]);
      expect(run.code).toBe(2);
      const lines = run.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^orchard train: /);
      expect(lines[0]).toMatch(said);
      expect(run.stderr).not.toContain('Traceback');
      expect(existsSync(out)).toBe(false);
    };
    const edit = async (file: string, change: (lines: string[]) => void) => {
      const lines = (await readFile(file, 'utf8')).split('\n');
      change(lines);
      await writeFile(file, lines.join('\n'));
    };

    test('a header that differs from dataset.json', () =>
      failing('bad-header', (d) => edit(join(d, 'test.tsv'), (l) => (l[0] = 'label\tcolour\tx\tzz')), /test\.tsv: header column 4 is "zz" but dataset\.json expects "z"/));

    test('a non-numeric value in a Numeric column', () =>
      failing(
        'bad-number',
        (d) => edit(join(d, 'validation.tsv'), (l) => (l[4] = l[4]!.replace(/\t[^\t]*$/, '\tabc'))),
        /validation\.tsv line 5: Numeric column "z" has "abc"/,
      ));

    test('an evalMetric CatBoost does not know', () =>
      failing(
        'bad-eval-metric',
        async (d) => {
          const dataset = JSON.parse(await readFile(join(d, 'dataset.json'), 'utf8'));
          await writeFile(join(d, 'dataset.json'), JSON.stringify({ ...dataset, catboost: { ...dataset.catboost, evalMetric: 'Foo' } }));
        },
        /CatBoost refused to train: Key 'Foo' not found .*; check spec\.catboost \(lossFunction, evalMetric, extra\)/,
      ));

    test('an empty test split', () =>
      failing('no-test', (d) => edit(join(d, 'test.tsv'), (l) => l.splice(1)), /test\.tsv has no rows: the test split is empty/));
  });
});
