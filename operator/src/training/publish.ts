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

/** The trainer's charts (SVG, written by orchard_trainer.py beside metrics.json): the status key of each, and its file. */
export const PLOT_FILES = {
  featureImportance: 'feature-importance.svg',
  calibration: 'calibration.svg',
  confusionMatrix: 'confusion-matrix.svg',
} as const;
export type PlotName = keyof typeof PLOT_FILES;

/** The plots metrics.json lists, in PLOT_FILES order; unknown names are ignored, so no other file is read or linked. */
export function plotsOf(listed: unknown): PlotName[] {
  const files = new Set(Array.isArray(listed) ? listed : []);
  return (Object.keys(PLOT_FILES) as PlotName[]).filter((k) => files.has(PLOT_FILES[k]));
}

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
  /** The plots published beside metrics.json. */
  plots?: PlotName[];
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
  const plots = plotsOf(JSON.parse(await readFile(join(options.modelDir, 'metrics.json'), 'utf8')).plots).map((k) => ({ name: PLOT_FILES[k], contentType: 'image/svg+xml' }));
  const files = await Promise.all(
    [...ARTIFACT_FILES, ...plots].map(async (f) => ({ name: f.name, contentType: f.contentType, bytes: await readFile(join(options.modelDir, f.name)) })),
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
  const plots = plotsOf(metrics.plots);
  if (plots.length) summary.plots = plots;
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
