// Batch scoring reproduces training's own test metrics on the same rows: the feature spec, the
// ONNX model and the metrics are one implementation from training to scoring.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scoringJobSpec } from '../../operator/src/api/v1alpha1/scoring-job.js';
import { readArtifactText, readManifest } from '../../operator/src/artifacts/store.js';
import { mergeStats, metricsFromStats } from '../../operator/src/batch/metrics.js';
import { scoreShard, type ShardSummary } from '../../operator/src/batch/score.js';
import { runPipeline, workPaths } from '../../operator/src/training/pipeline.js';
import { exampleTrainingRun } from '../support/examples.js';

let work: string;
let modelUri: string;
let trained: { metrics: Record<string, number> };
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
    for (const name of ['LogLoss', 'Accuracy', 'AUC']) expect(metrics[name]).toBeCloseTo(trained.metrics[name]!, 9);

    const csv = await readArtifactText(summary.outputUri, 'predictions.csv');
    const lines = csv.trimEnd().split('\n');
    expect(lines[0]).toBe('age,sex,prediction,probability_<=50K,probability_>50K');
    expect(lines).toHaveLength(16282);
    expect(lines[1]).toMatch(/^25,Male,(<=50K|>50K),0\.\d+,0\.\d+$/);
  }, 120_000);

  it('three shards split the rows, reject a bad row with its reason, and merge to the same metrics', async () => {
    const bad = join(work, 'bad.csv');
    await writeFile(bad, 'old, Private, 1, HS-grad, 9, Never-married, Sales, Own-child, White, Male, 0, 0, 40, United-States, <=50K\n');
    const extra = { ...adult.data.testSource!, uri: `file://${bad}` };
    const summaries: ShardSummary[] = [];
    for (let shard = 0; shard < 3; shard++) summaries.push(await scoreShard({ spec: job(3, 'three', [extra]), modelUri, shard }));
    expect(summaries.map((s) => s.rows).reduce((a, b) => a + b, 0)).toBe(16281);
    expect(summaries.map((s) => s.rows).every((n) => Math.abs(n - 16281 / 3) <= 1)).toBe(true);
    expect(summaries.map((s) => s.rejected).reduce((a, b) => a + b, 0)).toBe(1);
    expect(summaries.flatMap((s) => s.errors)).toEqual([expect.stringMatching(/bad\.csv row 1: age: "old" is not a number/)]);
    const merged = metricsFromStats('BinaryClassification', mergeStats(summaries.map((s) => s.stats!))!);
    expect(merged.LogLoss).toBeCloseTo(trained.metrics.LogLoss!, 9);
    expect(merged.Accuracy).toBeCloseTo(trained.metrics.Accuracy!, 9);
    expect(Math.abs(merged.AUC! - trained.metrics.AUC!)).toBeLessThan(0.002); // binned across shards
    for (const s of summaries) expect((await readManifest(s.outputUri)).files.map((f) => f.name).sort()).toEqual(['predictions.csv', 'summary.json']);
    expect(summaries[2]!.outputUri).toMatch(/three\/shard-00002-of-00003\/$/);
  }, 120_000);
});
