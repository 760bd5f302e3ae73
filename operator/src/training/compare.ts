// The champion at training time, scored on this run's test split: promotion can then compare a
// retrained model with the one it would replace on the same, recent rows, instead of refusing to
// compare metrics measured on different test data.
import type { Storage } from '@google-cloud/storage';
import { previewFileNames } from '../artifacts/errors.js';
import { readArtifact } from '../artifacts/store.js';
import { labelStats, metricsFromStats } from '../batch/metrics.js';
import { createSession, runModel } from '../export/onnx-runner.js';
import { inputSchema, type InputSchema } from '../features/schema.js';
import type { EncodedRow } from '../features/transform.js';

export interface CompareWith {
  /** The champion's artifact prefix (file:///… or gs://…). */
  uri: string;
  version: number;
}

export type Comparison = { version: number; metrics: Record<string, number>; rows: number } | { version: number; skipped: string };

/** Why the champion cannot score rows encoded for `candidate`, or undefined when it can. */
export function incompatibility(champion: InputSchema, candidate: InputSchema): string | undefined {
  if (champion.task !== candidate.task) return `it is a ${champion.task} model, this run trains ${candidate.task}`;
  if (champion.features.target.column !== candidate.features.target.column) return `it predicts ${champion.features.target.column}, this run ${candidate.features.target.column}`;
  if (JSON.stringify(champion.classNames ?? []) !== JSON.stringify(candidate.classNames ?? [])) {
    // Classes are cells of the data (up to 1000): shortened, as everything quoted from a data file is.
    return `its classes (${previewFileNames(champion.classNames ?? [], 8)}) differ from this run's (${previewFileNames(candidate.classNames ?? [], 8)})`;
  }
  const mine = new Map(candidate.inputs.map((i) => [i.name, i.type]));
  for (const input of champion.inputs) {
    const type = mine.get(input.name);
    if (type === undefined) return `its input ${input.name} is not among this run's inputs`;
    if (type !== input.type) return `its input ${input.name} is ${input.type}, this run's is ${type}`;
  }
  return undefined;
}

/**
 * Scores the test rows (encoded with the candidate's feature spec, which must give every input the
 * champion reads) with the champion's ONNX, and computes the test metrics the trainer reports.
 */
export async function scoreChampion(compareWith: CompareWith, candidate: InputSchema, rows: EncodedRow[], labels: number[], gcs?: Storage): Promise<Comparison> {
  const store = gcs ? { gcs } : {};
  const champion = inputSchema.parse(JSON.parse((await readArtifact(compareWith.uri, 'input-schema.json', store)).toString('utf8')));
  const problem = incompatibility(champion, candidate);
  if (problem) return { version: compareWith.version, skipped: problem };
  // The model only once it can be used: it is the large artifact.
  const onnx = await readArtifact(compareWith.uri, 'model.onnx', store);

  const column = new Map(candidate.inputs.map((input, j) => [input.name, j]));
  const order = champion.inputs.map((input) => column.get(input.name)!);
  const championRows = rows.map((row) => order.map((j) => row[j]!));
  const session = await createSession(onnx);
  try {
    const out = await runModel(session, champion.inputs, championRows);
    const stats = labelStats(candidate, labels, out.prediction ?? [], out.probabilities ?? []);
    return { version: compareWith.version, metrics: metricsFromStats(candidate.task, stats), rows: rows.length };
  } finally {
    await session.release();
  }
}
