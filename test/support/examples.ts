// The shipped examples, as specs that read this checkout's data/ instead of the image's /opt/orchard/data.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { trainingRunSpec, type TrainingRunSpec } from '../../operator/src/api/v1alpha1/training-run.js';
import { repoRoot } from './cluster.js';

export function exampleTrainingRun(file: string): TrainingRunSpec {
  const docs = parseAllDocuments(readFileSync(join(repoRoot, 'data', 'examples', file), 'utf8')).map((d) => d.toJSON());
  const run = docs.find((d) => d?.kind === 'TrainingRun');
  if (!run) throw new Error(`${file} has no TrainingRun`);
  const local = JSON.parse(JSON.stringify(run.spec).replaceAll('file:///opt/orchard/data/', `file://${join(repoRoot, 'data')}/`));
  return trainingRunSpec.parse(local);
}
