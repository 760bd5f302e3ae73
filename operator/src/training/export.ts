// `orchard export`: compiles the trained CatBoost model to ONNX, then refuses to hand it on unless
// onnxruntime reproduces CatBoost's own predictions on every test row.
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Storage } from '@google-cloud/storage';
import { join } from 'node:path';
import { compileCatboostModel, ExportError } from '../export/compile.js';
import { catboostModel, modelFormatError } from '../export/catboost-json.js';
import { createSession, runModel, type ModelOutputs } from '../export/onnx-runner.js';
import { categoricalProfile, numericProfile, type ReferenceProfile } from '../features/profile.js';
import { inputSchema, type InputSchema } from '../features/schema.js';
import { predictionOf } from '../features/target.js';
import type { EncodedRow } from '../features/transform.js';
import { scoreChampion, type CompareWith, type Comparison } from './compare.js';
import { runTrainer } from './trainer.js';
import { readPreparedTsv } from './tsv.js';

/** Largest allowed |onnx − catboost| / max(1, |catboost|), for raw scores, predictions and probabilities. */
export const PARITY_TOLERANCE = 1e-5;

export interface ParityReport {
  rows: number;
  /** max |a − b| / max(1, |b|) per output. */
  maxError: Record<string, number>;
  /** max |a − b| / |b| per output, over values with |b| > 0. */
  maxRelativeError: Record<string, number>;
}

export interface ExportReport {
  summary: ReturnType<typeof compileCatboostModel>['summary'];
  compileSeconds: number;
  onnxBytes: number;
  parity: ParityReport;
  /** Duan's smearing factor compiled into the graph (estimate Mean of a Log or Log1p target). */
  targetSmearing?: number;
  /** The champion at training time on this run's test split, when asked for. */
  comparison?: Comparison;
}

export interface ExportOptions {
  preparedDir: string;
  modelDir: string;
  producerVersion: string;
  /** Score this champion on the test split too, so promotion compares like with like. */
  compareWith?: CompareWith;
  gcs?: Storage;
  log?: (line: string) => void;
}

export async function exportModel(options: ExportOptions): Promise<ExportReport> {
  const { preparedDir, modelDir } = options;
  const log = options.log ?? (() => {});
  const schema = inputSchema.parse(JSON.parse(await readFile(join(preparedDir, 'input-schema.json'), 'utf8')));
  const parsed = catboostModel.safeParse(JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8')));
  if (!parsed.success) {
    throw new ExportError(
      `${join(modelDir, 'model.json')} is not a CatBoost JSON model this exporter understands: ${modelFormatError(parsed.error)}; ` +
        'retrain so the trainer writes it again, and if CatBoost wrote it so, report it with the CatBoost version from metrics.json',
    );
  }

  const parts = await Promise.all(['train', 'validation', 'test'].map((p) => readPreparedTsv(join(preparedDir, `${p}.tsv`), schema.inputs)));
  const vocabulary = new Map<string, Set<string>>();
  schema.inputs.forEach((input, j) => {
    if (input.type !== 'Categorical') return;
    const seen = new Set<string>();
    for (const part of parts) for (const row of part.rows) seen.add(row[j] as string);
    vocabulary.set(input.name, seen);
  });

  const started = performance.now();
  const targetSmearing = await readTargetSmearing(modelDir);
  const compiled = compileCatboostModel({ model: parsed.data, schema, vocabulary, producerVersion: options.producerVersion, ...(targetSmearing !== undefined ? { targetSmearing } : {}) });
  const compileSeconds = (performance.now() - started) / 1000;
  log(`export: ${compiled.summary.trees} trees, ${compiled.summary.ctrs} CTRs (${compiled.summary.combinationCtrs} on feature combinations), ${compiled.summary.oneHotFeatures} one-hot features → ${(compiled.onnx.length / 1e6).toFixed(1)} MB ONNX in ${compileSeconds.toFixed(2)} s`);

  const test = parts[2]!;
  const { report: parity, outputs } = await scoreAndCompare(compiled.onnx, schema, test.rows, join(preparedDir, 'test.tsv'), modelDir, preparedDir);
  log(`export: ONNX matches CatBoost on ${parity.rows} test rows (max error ${Object.entries(parity.maxError).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')})`);

  const onnxPath = join(modelDir, 'model.onnx');
  await writeFile(`${onnxPath}.partial`, compiled.onnx);
  await rename(`${onnxPath}.partial`, onnxPath);

  // The reference profile gains the prediction distribution, for drift monitoring of outputs.
  const profile = JSON.parse(await readFile(join(preparedDir, 'reference-profile.json'), 'utf8')) as ReferenceProfile;
  profile.prediction = predictionProfile(schema, outputs, test.rows.length);
  await writeFile(join(modelDir, 'reference-profile.json'), `${JSON.stringify(profile)}\n`);
  await writeFile(join(modelDir, 'input-schema.json'), `${JSON.stringify(schema, null, 2)}\n`);

  const report: ExportReport = { summary: compiled.summary, compileSeconds, onnxBytes: compiled.onnx.length, parity, ...(targetSmearing !== undefined ? { targetSmearing } : {}) };
  if (options.compareWith) {
    report.comparison = await scoreChampion(options.compareWith, schema, test.rows, test.labels, options.gcs);
    const c = report.comparison;
    log(
      'metrics' in c
        ? `export: champion version ${c.version} on this run's ${c.rows} test rows: ${Object.entries(c.metrics).map(([k, v]) => `${k} ${v.toPrecision(6)}`).join(', ')}`
        : `export: champion version ${c.version} not scored on this run's test rows: ${c.skipped}`,
    );
  }
  await writeFile(join(modelDir, 'export.json'), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

function predictionProfile(schema: InputSchema, out: ModelOutputs, rows: number) {
  if (schema.task === 'Regression') return numericProfile(out.prediction!);
  const classes = schema.classNames!;
  if (schema.task === 'BinaryClassification') return numericProfile(Float64Array.from({ length: rows }, (_, r) => out.probabilities![r * 2 + 1]!));
  return categoricalProfile(
    Array.from({ length: rows }, (_, r) => {
      let best = 0;
      for (let c = 1; c < classes.length; c++) if (out.probabilities![r * classes.length + c]! > out.probabilities![r * classes.length + best]!) best = c;
      return classes[best]!;
    }),
    '\u0000none',
  );
}

/** Compares onnxruntime's outputs with CatBoost's `predict` on the same rows; throws past the tolerance. */
export async function checkParity(
  onnx: Uint8Array,
  schema: InputSchema,
  rows: EncodedRow[],
  tsvPath: string,
  modelDir: string,
  preparedDir: string,
): Promise<ParityReport> {
  return (await scoreAndCompare(onnx, schema, rows, tsvPath, modelDir, preparedDir)).report;
}

/** checkParity, also handing back onnxruntime's outputs so the caller need not score the rows again. */
async function scoreAndCompare(
  onnx: Uint8Array,
  schema: InputSchema,
  rows: EncodedRow[],
  tsvPath: string,
  modelDir: string,
  preparedDir: string,
): Promise<{ report: ParityReport; outputs: ModelOutputs }> {
  const oraclePath = join(modelDir, `catboost-predictions-${process.pid}.tsv`);
  try {
    await runTrainer(['predict', '--model', join(modelDir, 'model.cbm'), '--data', tsvPath, '--dataset', join(preparedDir, 'dataset.json'), '--out', oraclePath]);
    const expected = parseOracle(await readFile(oraclePath, 'utf8'));
    const session = await createSession(onnx);
    const got = await runModel(session, schema.inputs, rows);
    await session.release();
    return { report: compareOutputs(schema, got, expected, rows.length, await readTargetSmearing(modelDir)), outputs: got };
  } finally {
    await rm(oraclePath, { force: true });
  }
}

/** The trainer's smearing factor (metrics.json targetSmearing), written only for estimate Mean of a log target. */
async function readTargetSmearing(modelDir: string): Promise<number | undefined> {
  const path = join(modelDir, 'metrics.json');
  let metrics: unknown;
  try {
    metrics = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ExportError(`${path} is missing or not JSON: run \`orchard train\` first`, { cause: err });
  }
  const s = metrics !== null && typeof metrics === 'object' && Object.hasOwn(metrics, 'targetSmearing') ? (metrics as { targetSmearing: unknown }).targetSmearing : undefined;
  if (s === undefined) return undefined;
  if (typeof s !== 'number' || !(s > 0) || !Number.isFinite(s)) throw new ExportError(`${path}: targetSmearing must be a positive number; retrain the model`);
  return s;
}

export interface OraclePredictions {
  raw: number[][];
  proba?: number[][];
}

export function parseOracle(text: string): OraclePredictions {
  const lines = text.trim().split('\n');
  const header = lines.shift()!.split('\t');
  const rawCols = header.map((h, i) => (h.startsWith('raw_') ? i : -1)).filter((i) => i >= 0);
  const probaCols = header.map((h, i) => (h.startsWith('proba_') ? i : -1)).filter((i) => i >= 0);
  const cells = lines.map((l) => l.split('\t').map(Number));
  return {
    raw: cells.map((c) => rawCols.map((i) => c[i]!)),
    ...(probaCols.length ? { proba: cells.map((c) => probaCols.map((i) => c[i]!)) } : {}),
  };
}

/** `smearing` applies as in the graph, so CatBoost's raw scores become the predictions the graph should give. */
export function compareOutputs(schema: InputSchema, got: ModelOutputs, expected: OraclePredictions, rows: number, smearing?: number): ParityReport {
  const maxError: Record<string, number> = {};
  const maxRelativeError: Record<string, number> = {};
  const compare = (output: string, row: number, a: number, b: number) => {
    const err = Math.abs(a - b) / Math.max(1, Math.abs(b));
    const rel = b === 0 ? (a === 0 ? 0 : Infinity) : Math.abs(a - b) / Math.abs(b);
    if (!(err <= PARITY_TOLERANCE) || Number.isNaN(a) !== Number.isNaN(b)) {
      throw new ExportError(`ONNX ${output} differs from CatBoost on test row ${row + 1}: ${a} vs ${b}; the exported model is not published`);
    }
    maxError[output] = Math.max(maxError[output] ?? 0, err);
    maxRelativeError[output] = Math.max(maxRelativeError[output] ?? 0, rel);
  };
  if (expected.raw.length !== rows) throw new ExportError(`CatBoost scored ${expected.raw.length} rows, the test split has ${rows}`);
  const inverse = schema.task === 'Regression' ? predictionOf(schema.features.target, smearing) : undefined;
  for (let r = 0; r < rows; r++) {
    const want = expected.raw[r]!;
    for (let k = 0; k < got.dimension; k++) compare('raw', r, got.raw[r * got.dimension + k]!, want[k]!);
    if (inverse) compare('prediction', r, got.prediction![r]!, inverse(want[0]!));
    const proba = expected.proba?.[r];
    if (proba) proba.forEach((p, c) => compare('probabilities', r, got.probabilities![r * proba.length + c]!, p));
  }
  return { rows, maxError, maxRelativeError };
}

