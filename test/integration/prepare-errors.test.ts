// Unreadable cells in a training file: one run names every column that has them, with a count and
// the first row of each, and says to list placeholders such as "--" in features.cells.naValues.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrainingRunSpec } from '../../operator/src/api/v1alpha1/training-run.js';
import { runPipeline } from '../../operator/src/training/pipeline.js';
import { repoRoot } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';

let work: string;
let csv: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'orchard-prepare-errors-'));
  // The salaries file with placeholders: "--" in remote_ratio on every 50th row, "n/a" in work_year on every 200th.
  const [header, ...lines] = (await readFile(join(repoRoot, 'data', 'ai-jobs-salaries', 'salaries.csv'), 'utf8')).trim().split(/\r?\n/);
  const names = header!.split(',');
  const [year, remote] = [names.indexOf('work_year'), names.indexOf('remote_ratio')];
  const edited = lines.slice(0, 4000).map((line, i) => {
    const cells = line.split(',');
    if (i % 50 === 7) cells[remote] = '--';
    if (i % 200 === 3) cells[year] = 'n/a';
    return cells.join(',');
  });
  csv = join(work, 'placeholders.csv');
  await writeFile(csv, `${[header, ...edited].join('\n')}\n`);
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const spec = (cells?: object): TrainingRunSpec => {
  const base = exampleTrainingRun('salaries.yaml');
  return {
    ...base,
    data: { ...base.data, source: { uri: `file://${csv}` }, filters: [] },
    features: { ...base.features, ...(cells ? { cells } : {}) },
  } as TrainingRunSpec;
};

describe('unreadable cells', () => {
  it('are reported for every column in one run, each with its count and first row, with naValues as the fix', async () => {
    const out = join(work, 'bad');
    const error = await runPipeline({ spec: spec(), workDir: out, producerVersion: 'test' }, ['prepare']).then(() => undefined, (err: Error) => err);
    expect(error?.name).toBe('PrepareError');
    expect(error!.message).toMatch(
      new RegExp(
        '^2 columns have values the model cannot read: ' +
          '"remote_ratio" in 80 rows \\(first: row 8 of file://.*placeholders\\.csv: "--" is not a number [^;]*\\); ' +
          '"work_year" in 20 rows \\(first: row 4 of file://.*placeholders\\.csv: "n/a" is not a number [^;]*\\)\\. ' +
          'If a placeholder such as "--" or "\\?" stands for a missing value, list it in features\\.cells\\.naValues',
      ),
    );
    expect(existsSync(join(out, 'prepared', 'dataset.json'))).toBe(false);
  }, 120_000);

  it('read as missing once listed in features.cells.naValues', async () => {
    await runPipeline({ spec: spec({ naValues: ['--', 'n/a'] }), workDir: join(work, 'good'), producerVersion: 'test' }, ['prepare']);
  }, 120_000);
});
