// The shipped examples, trained with their own settings, reach the quality the README states.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPipeline, workPaths } from '../../operator/src/training/pipeline.js';
import { exampleTrainingRun } from '../support/examples.js';

const work = await mkdtemp(join(tmpdir(), 'orchard-quality-'));
afterAll(() => rm(work, { recursive: true, force: true }));

async function train(example: string) {
  const dir = join(work, example);
  await runPipeline({ spec: exampleTrainingRun(example), workDir: dir, producerVersion: 'test' }, ['prepare', 'train', 'export']);
  return JSON.parse(await readFile(join(workPaths(dir).modelDir, 'metrics.json'), 'utf8'));
}

describe('shipped examples', () => {
  it('UCI Adult: test log loss at most 0.275 and AUC at least 0.92 on UCI\'s own test split', async () => {
    const { metrics } = await train('adult.yaml');
    expect(metrics.LogLoss).toBeLessThanOrEqual(0.275);
    expect(metrics.AUC).toBeGreaterThanOrEqual(0.92);
  }, 600_000);

  it('salaries: beats the mean predictor on the leak-free test split', async () => {
    const { metrics, baseline } = await train('salaries.yaml');
    expect(metrics.RMSE).toBeLessThan(0.9 * baseline.RMSE);
    expect(metrics.MAE).toBeLessThan(0.9 * baseline.MAE);
    expect(metrics.R2).toBeGreaterThan(0.2);
  }, 300_000);
});
