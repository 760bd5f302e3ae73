// `orchard publish`: uploads a run's artifacts to its artifact location, all or nothing, and
// returns the summary the operator shows in the TrainingRun's status.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Storage } from '@google-cloud/storage';
import { publishArtifacts } from '../artifacts/store.js';

export const ARTIFACT_FILES = [
  { name: 'model.onnx', contentType: 'application/octet-stream' },
  { name: 'model.cbm', contentType: 'application/octet-stream' },
  { name: 'input-schema.json', contentType: 'application/json' },
  { name: 'reference-profile.json', contentType: 'application/json' },
  { name: 'metrics.json', contentType: 'application/json' },
  { name: 'shap.json', contentType: 'application/json' },
  { name: 'export.json', contentType: 'application/json' },
] as const;

/** What a finished run reports back; small enough for a container termination message (4 KiB). */
export interface RunSummary {
  artifactUri: string;
  metrics: Record<string, number>;
  baseline?: Record<string, number>;
  topFeatures: { name: string; importance: number }[];
  rows: { train: number; validation: number; test: number };
  trees: number;
  bestIteration?: number;
  trainSeconds?: number;
  device?: string;
  parityMaxError?: number;
  /** SHA-256 (first 16 hex digits) of the prepared test split: versions compare metrics only on the same data. */
  testDataFingerprint?: string;
  /** The champion at training time, scored on this run's test split. */
  comparison?: { version: number; metrics: Record<string, number> };
}

export interface PublishOptions {
  preparedDir: string;
  modelDir: string;
  artifactUri: string;
  gcs?: Storage;
  log?: (line: string) => void;
}

export async function publish(options: PublishOptions): Promise<RunSummary> {
  const uri = options.artifactUri.endsWith('/') ? options.artifactUri : `${options.artifactUri}/`;
  const files = await Promise.all(
    ARTIFACT_FILES.map(async (f) => ({ name: f.name, contentType: f.contentType, bytes: await readFile(join(options.modelDir, f.name)) })),
  );
  await publishArtifacts(uri, files, options.gcs ? { gcs: options.gcs } : {});
  options.log?.(`publish: ${files.length} files, ${(files.reduce((n, f) => n + f.bytes.length, 0) / 1e6).toFixed(1)} MB → ${uri}`);
  return summarize(options.preparedDir, options.modelDir, uri);
}

export async function summarize(preparedDir: string, modelDir: string, artifactUri: string): Promise<RunSummary> {
  const json = async (path: string) => JSON.parse(await readFile(path, 'utf8'));
  const metrics = await json(join(modelDir, 'metrics.json'));
  const shap = (await json(join(modelDir, 'shap.json'))) as { name: string; importance: number }[];
  const dataset = await json(join(preparedDir, 'dataset.json'));
  const exported = await json(join(modelDir, 'export.json'));
  const summary: RunSummary = {
    artifactUri,
    metrics: roundAll(metrics.metrics),
    topFeatures: shap.slice(0, 5).map((f) => ({ name: f.name, importance: round(f.importance) })),
    rows: dataset.rows,
    trees: metrics.treeCount,
    parityMaxError: Math.max(0, ...Object.values(exported.parity.maxError as Record<string, number>)),
  };
  if (metrics.baseline) summary.baseline = roundAll(metrics.baseline);
  if (metrics.bestIteration !== undefined) summary.bestIteration = metrics.bestIteration;
  if (metrics.trainSeconds !== undefined) summary.trainSeconds = round(metrics.trainSeconds);
  if (metrics.device) summary.device = metrics.device;
  if (exported.comparison?.metrics) {
    summary.comparison = { version: exported.comparison.version, metrics: roundAll(exported.comparison.metrics) };
  }
  summary.testDataFingerprint = createHash('sha256').update(await readFile(join(preparedDir, 'test.tsv'))).digest('hex').slice(0, 16);
  return summary;
}

/** Six significant digits: what the summary (a termination message) carries. */
function round(v: number): number {
  return Number(v.toPrecision(6));
}

/** A metric table with every value rounded as the summary shows metrics. */
function roundAll(table: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [k, round(v)]));
}
