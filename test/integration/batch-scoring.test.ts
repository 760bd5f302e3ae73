// Batch scoring reproduces training's own test metrics on the same rows: the feature spec, the
// ONNX model and the metrics are one implementation from training to scoring. Its drift counts
// add up across shards and judge UCI's test split against the training profile.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scoringJobSpec } from '../../operator/src/api/v1alpha1/scoring-job.js';
import { readArtifactText, readManifest } from '../../operator/src/artifacts/store.js';
import { mergeStats, metricsFromStats } from '../../operator/src/batch/metrics.js';
import { scoreShard, type ShardSummary } from '../../operator/src/batch/score.js';
import { mergeCounts, parseDriftCounts, type DriftCounts } from '../../operator/src/drift/counts.js';
import { evaluateDrift } from '../../operator/src/drift/evaluate.js';
import { parseReferenceProfile } from '../../operator/src/features/profile.js';
import { runPipeline, workPaths } from '../../operator/src/training/pipeline.js';
import { exampleTrainingRun } from '../support/examples.js';

let work: string;
let modelUri: string;
let trained: { metrics: Record<string, number> };
let oneShardDrift: DriftCounts | undefined;
const adult = exampleTrainingRun('adult.yaml');

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'orchard-batch-'));
  modelUri = `file://${join(work, 'model')}/`;
  const spec = { ...adult, catboost: { iterations: 200, learningRate: '0.15', depth: 6, randomSeed: 0 } };
  await runPipeline({ spec, workDir: join(work, 'run'), artifactUri: modelUri, producerVersion: 'test' });
  trained = JSON.parse(await readFile(join(workPaths(join(work, 'run')).modelDir, 'metrics.json'), 'utf8'));
}, 300_000);

afterAll(() => rm(work, { recursive: true, force: true }));

const job = (shards: number, out: string, extra: object[] = []) =>
  scoringJobSpec.parse({
    modelRef: { name: 'adult-income' },
    input: { sources: [adult.data.testSource, ...extra], labelColumn: 'income' },
    output: { uri: `file://${join(work, out)}/`, passthroughColumns: ['age', 'sex'] },
    shards,
    parallelism: shards,
  });

describe('batch scoring', () => {
  it('one shard: the same log loss, accuracy and AUC as training measured on its test split', async () => {
    const summary = await scoreShard({ spec: job(1, 'one'), modelUri, shard: 0 });
    expect(summary).toMatchObject({ rows: 16281, rejected: 0 });
    const metrics = metricsFromStats('BinaryClassification', summary.stats!);
    for (const name of ['LogLoss', 'Accuracy', 'AUC', 'Precision', 'Recall', 'F1']) expect(metrics[name]).toBeCloseTo(trained.metrics[name]!, 9);

    const csv = await readArtifactText(summary.outputUri, 'predictions.csv');
    const lines = csv.trimEnd().split('\n');
    expect(lines[0]).toBe('age,sex,prediction,probability_<=50K,probability_>50K');
    expect(lines).toHaveLength(16282);
    expect(lines[1]).toMatch(/^25,Male,(<=50K|>50K),0\.\d+,0\.\d+$/);

    // Drift counts: every scored row once per input and once for its predicted probability.
    const drift = parseDriftCounts(JSON.parse(await readArtifactText(summary.outputUri, 'summary.json')).drift, 'summary.json');
    expect(drift).toEqual(summary.drift);
    expect(drift.rows).toBe(16281);
    expect(Object.keys(drift.inputs)).toHaveLength(14);
    for (const slots of [...Object.values(drift.inputs), drift.prediction!]) expect(slots.reduce((a, b) => a + b, 0)).toBe(16281);
    oneShardDrift = drift;
  }, 120_000);

  it('UCI\'s test split does not drift from the training split', async () => {
    const profile = parseReferenceProfile(JSON.parse(await readArtifactText(modelUri, 'reference-profile.json')));
    const report = evaluateDrift(profile, oneShardDrift!);
    expect(report).toMatchObject({ rows: 16281, driftedFeatures: 0, datasetDrift: false });
    const tests = Object.fromEntries(report.features.map((f) => [f.name, f.test]));
    expect(tests).toMatchObject({ age: 'Wasserstein', fnlwgt: 'Wasserstein', 'capital-gain': 'Wasserstein', sex: 'JensenShannon', education: 'JensenShannon' });
    for (const f of report.features) expect([f.name, f.score < 0.05]).toEqual([f.name, true]);
    expect(report.prediction).toMatchObject({ test: 'Wasserstein', drifted: false });
  });

  it('three shards split the rows, reject a bad row with its reason, and merge to the same metrics', async () => {
    const bad = join(work, 'bad.csv');
    await writeFile(bad, 'old, Private, 1, HS-grad, 9, Never-married, Sales, Own-child, White, Male, 0, 0, 40, United-States, <=50K\n');
    const extra = { ...adult.data.testSource!, uri: `file://${bad}` };
    const summaries: ShardSummary[] = [];
    for (let shard = 0; shard < 3; shard++) summaries.push(await scoreShard({ spec: job(3, 'three', [extra]), modelUri, shard }));
    expect(summaries.map((s) => s.rows).reduce((a, b) => a + b, 0)).toBe(16281);
    // Shards split the file by byte range, so their row counts differ by how long the rows are.
    expect(summaries.map((s) => s.rows).every((n) => Math.abs(n - 16281 / 3) <= 16281 * 0.02)).toBe(true);
    expect(summaries.map((s) => s.rejected).reduce((a, b) => a + b, 0)).toBe(1);
    expect(summaries.flatMap((s) => s.errors)).toEqual([expect.stringMatching(/bad\.csv row 1: age: "old" is not a number/)]);
    const merged = metricsFromStats('BinaryClassification', mergeStats(summaries.map((s) => s.stats!))!);
    expect(merged.LogLoss).toBeCloseTo(trained.metrics.LogLoss!, 9);
    expect(merged.Accuracy).toBeCloseTo(trained.metrics.Accuracy!, 9);
    for (const name of ['Precision', 'Recall', 'F1']) expect(merged[name]).toBeCloseTo(trained.metrics[name]!, 9);
    expect(Math.abs(merged.AUC! - trained.metrics.AUC!)).toBeLessThan(0.002); // binned across shards
    for (const s of summaries) expect((await readManifest(s.outputUri)).files.map((f) => f.name).sort()).toEqual(['predictions.csv', 'summary.json']);
    expect(summaries[2]!.outputUri).toMatch(/three\/shard-00002-of-00003\/$/);
    // The rejected row is in no shard's counts; together the shards count what one shard did.
    expect(summaries.map((s) => s.drift!.rows)).toEqual(summaries.map((s) => s.rows));
    expect(mergeCounts(summaries.map((s) => s.drift!))).toEqual(oneShardDrift);
  }, 120_000);
});
