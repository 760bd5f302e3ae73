// Real models for serving tests, trained once per test file from the shipped examples.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrainingRunSpec } from '../../operator/src/api/v1alpha1/training-run.js';
import { readSource } from '../../operator/src/artifacts/sources.js';
import { runPipeline } from '../../operator/src/training/pipeline.js';
import { exampleTrainingRun } from './examples.js';

export interface TrainedModel {
  uri: string;
  spec: TrainingRunSpec;
  /** Raw records as a client would send them (every column the model reads), from the example's data. */
  records: Record<string, string | number | null>[];
}

/**
 * Records of a data source as a client would send them: every column the model at `uri` reads,
 * numbers for numeric features. `where` picks rows by their raw values.
 */
export async function readRecords(
  uri: string,
  source: TrainingRunSpec['data']['source'],
  options: { limit?: number; where?: (value: (column: string) => string | null) => boolean } = {},
): Promise<Record<string, string | number | null>[]> {
  const schema = JSON.parse(await readFile(new URL('input-schema.json', uri), 'utf8'));
  const columns: string[] = [...new Set<string>(schema.features.columns.map((f: { name: string; column?: string }) => f.column ?? f.name))];
  const numeric = new Set<string>(schema.features.columns.filter((f: { type: string }) => f.type === 'Numeric').map((f: { name: string; column?: string }) => f.column ?? f.name));
  const table = await readSource(source);
  const index = new Map(table.columns.map((c, i) => [c, i]));
  const rows = options.where ? table.rows.filter((row) => options.where!((c) => row[index.get(c)!] ?? null)) : table.rows;
  return rows.slice(0, options.limit ?? rows.length).map((row) =>
    Object.fromEntries(
      columns.map((c) => {
        const v = row[index.get(c)!] ?? null;
        return [c, v !== null && numeric.has(c) && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v];
      }),
    ),
  );
}

/** Trains `example` (fewer trees for speed when asked) and publishes it under `dir`. */
export async function trainExample(example: string, dir: string, catboost?: object): Promise<TrainedModel> {
  const base = exampleTrainingRun(example);
  const spec = (catboost ? { ...base, catboost: { ...base.catboost, ...catboost } } : base) as TrainingRunSpec;
  const uri = `file://${join(dir, 'model')}/`;
  await runPipeline({ spec, workDir: join(dir, 'work'), artifactUri: uri, producerVersion: 'test' });
  const records = await readRecords(uri, spec.data.testSource ?? spec.data.source, { limit: 2000 });
  return { uri, spec, records };
}
