// `orchard score`: one shard of a ScoringJob. Reads the model's published artifacts and only its
// share of the inputs (see shard-input.ts), encodes them chunk by chunk with the same feature spec
// as training, scores with onnxruntime, streams the predictions to a file published at the end and
// reports what it did, with drift counts against the model's reference profile.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Storage } from '@google-cloud/storage';
import type { ScoringJobSpec } from '../api/v1alpha1/scoring-job.js';
import type { SourceLimits } from '../artifacts/sources.js';
import { publishArtifacts, readArtifact, readManifest } from '../artifacts/store.js';
import { DriftCounter, driftPrediction, type DriftCounts } from '../drift/counts.js';
import { createSession, runModel } from '../export/onnx-runner.js';
import { parseReferenceProfile } from '../features/profile.js';
import { inputSchema } from '../features/schema.js';
import { labelEncoder } from '../features/target.js';
import { cellReader, FeatureError, recordEncoder, tableRowReader, type EncodedRow, type RawValue } from '../features/transform.js';
import { metricTable } from '../controllers/training-run/status.js';
import { evaluateDrift } from '../drift/evaluate.js';
import { driftStatusOf, type DriftStatus } from '../drift/status.js';
import { labelStats, metricsFromStats, type MetricStats } from './metrics.js';
import { readShardInput } from './shard-input.js';

// Rows encoded and scored together: memory holds one chunk of rows and predictions, whatever the input's size.
const CHUNK = 8192;
const MAX_REPORTED_ERRORS = 3;

export interface ShardSummary {
  shard: number;
  shards: number;
  rows: number;
  rejected: number;
  /** The first few rejected rows, one line each. */
  errors: string[];
  seconds: number;
  outputUri: string;
  /** Input bytes this shard read: its share of split files plus the whole files it was given. */
  bytesRead?: number;
  stats?: MetricStats;
  /** Every scored row (inputs and prediction) binned against the model's reference profile; shards add up with mergeCounts. */
  drift?: DriftCounts;
}

export interface ScoreOptions {
  spec: Pick<ScoringJobSpec, 'input' | 'output' | 'shards'>;
  /** The model version's artifact prefix. */
  modelUri: string;
  shard: number;
  gcs?: Storage;
  fetchCa?: string;
  /** What inputs may name: in the operator's Pods, its roots and hosts (see sourceLimits); unset, anything. */
  limits?: SourceLimits;
  log?: (line: string) => void;
  /** Each chunk's model inputs just before they are scored: where a test compares them with training's. */
  onEncoded?: (rows: EncodedRow[]) => void;
}

export function shardPrefix(outputUri: string, shard: number, shards: number): string {
  const base = outputUri.endsWith('/') ? outputUri : `${outputUri}/`;
  const pad = (n: number) => String(n).padStart(5, '0');
  return `${base}shard-${pad(shard)}-of-${pad(shards)}/`;
}

function csvCell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export async function scoreShard(options: ScoreOptions): Promise<ShardSummary> {
  const started = performance.now();
  const { spec, shard } = options;
  const shards = spec.shards ?? 1;
  const log = options.log ?? (() => {});
  const store = options.gcs ? { gcs: options.gcs } : {};
  const schema = inputSchema.parse(JSON.parse((await readArtifact(options.modelUri, 'input-schema.json', store)).toString('utf8')));
  const session = await createSession(await readArtifact(options.modelUri, 'model.onnx', store));
  const encode = recordEncoder(schema);
  const drift = await driftCounter(options.modelUri, schema.inputs.map((i) => i.name), store);
  const classes = schema.classNames;
  const labelColumn = spec.input.labelColumn;
  const encodeLabel = labelColumn ? labelEncoder(schema.task, { ...schema.features.target, column: labelColumn }, classes) : undefined;
  // The label is read through the model's cells as training read its target; passthrough columns stay as they are.
  const cell = cellReader(schema.features.cells) ?? ((v: RawValue) => v);
  const passthrough = spec.output.passthroughColumns ?? [];
  const withProbabilities = classes !== undefined && spec.output.probabilities !== 'Omit';
  const json = spec.output.format === 'JsonLines';

  const outputColumns = [...passthrough, 'prediction', ...(withProbabilities ? classes!.map((c) => `probability_${c}`) : [])];
  const errors: string[] = [];
  let rejected = 0;
  let scored = 0;
  const labels: number[] = [];
  const predictions: number[] = [];
  const probabilities: number[] = [];

  // Predictions go to a local file as each chunk is scored, then are published with the summary, all or nothing.
  const scratch = await mkdtemp(join(tmpdir(), 'orchard-score-'));
  try {
    const outputPath = join(scratch, 'predictions');
    const output = createWriteStream(outputPath, { flags: 'wx' });
    const outputFailed = new Promise<never>((_, reject) =>
      output.on('error', (err) => reject(new Error(`writing the predictions to ${outputPath} (the Pod's /tmp): ${err.message}; nothing was published`, { cause: err }))),
    );
    outputFailed.catch(() => {}); // raced below at each write
    const write = async (text: string) => {
      if (!output.write(text)) await Promise.race([once(output, 'drain'), outputFailed]);
    };
    if (!json) await write(`${outputColumns.map(csvCell).join(',')}\n`);

    const input = readShardInput(spec.input.sources, shard, shards, { ...store, ...options.limits, ...(options.fetchCa ? { fetchCa: options.fetchCa } : {}), batchRows: CHUNK });
    let checked: string[] | undefined;
    for await (const { source, columns, rows, where } of input.batches) {
      if (columns !== checked) {
        const missing = [...passthrough, ...(labelColumn ? [labelColumn] : [])].filter((c) => !columns.includes(c));
        if (missing.length) throw new FeatureError(missing[0]!, `column "${missing[0]}" (output.passthroughColumns or input.labelColumn) is not in ${source}`);
        checked = columns;
      }
      const reader = tableRowReader(columns);
      const batch: { row: (string | null)[]; encoded: EncodedRow; label?: number | null }[] = [];
      rows.forEach((row, i) => {
        const read = reader(row);
        let encoded: EncodedRow;
        try {
          encoded = encode(read);
        } catch (err) {
          if (!(err instanceof FeatureError)) throw err;
          rejected++;
          if (errors.length < MAX_REPORTED_ERRORS) errors.push(`${where(i)}: ${err.message}`);
          return;
        }
        // A label that cannot be read leaves the row out of the metrics, not out of the predictions.
        let label: number | null | undefined;
        try {
          label = encodeLabel?.(cell(read(labelColumn!)));
        } catch (err) {
          if (!(err instanceof FeatureError)) throw err;
          label = null;
        }
        batch.push({ row, encoded, ...(label !== undefined ? { label } : {}) });
      });
      if (!batch.length) continue;
      const encoded = batch.map((b) => b.encoded);
      options.onEncoded?.(encoded);
      const out = await runModel(session, schema.inputs, encoded);
      const lines: string[] = [];
      batch.forEach((b, r) => {
        drift?.add(b.encoded, driftPrediction(schema.task, out, r, classes));
        const values: (string | number | null)[] = passthrough.map((c) => (reader(b.row)(c) as string | null | undefined) ?? null);
        let prediction: string | number;
        if (classes) {
          const k = classes.length;
          let best = 0;
          for (let c = 1; c < k; c++) if (out.probabilities![r * k + c]! > out.probabilities![r * k + best]!) best = c;
          prediction = k === 2 ? classes[out.probabilities![r * 2 + 1]! > 0.5 ? 1 : 0]! : classes[best]!;
          const p = Array.from({ length: k }, (_, c) => out.probabilities![r * k + c]!);
          if (b.label !== undefined && b.label !== null) {
            labels.push(b.label);
            probabilities.push(...p);
          }
          values.push(prediction, ...(withProbabilities ? p : []));
        } else {
          prediction = out.prediction![r]!;
          if (b.label !== undefined && b.label !== null) {
            labels.push(b.label);
            predictions.push(prediction);
          }
          values.push(prediction);
        }
        lines.push(json ? JSON.stringify(Object.fromEntries(outputColumns.map((c, i) => [c, values[i]]))) : values.map(csvCell).join(','));
      });
      await write(`${lines.join('\n')}\n`);
      scored += batch.length;
      if (scored % (CHUNK * 64) < batch.length) log(`score: shard ${shard}/${shards}: ${scored} rows scored so far`);
    }
    await Promise.race([new Promise<void>((resolve) => output.end(resolve)), outputFailed]);
    await session.release();

    const stats: MetricStats | undefined = labelColumn && labels.length ? labelStats(schema, labels, predictions, probabilities) : undefined;

    const outputUri = shardPrefix(spec.output.uri, shard, shards);
    const summary: ShardSummary = {
      shard, shards, rows: scored, rejected, errors, seconds: (performance.now() - started) / 1000, outputUri, bytesRead: input.bytesRead(),
      ...(stats ? { stats } : {}),
      ...(drift ? { drift: drift.counts() } : {}),
    };
    await publishArtifacts(
      outputUri,
      [
        { name: json ? 'predictions.jsonl' : 'predictions.csv', path: outputPath, contentType: json ? 'application/jsonl' : 'text/csv' },
        { name: 'summary.json', bytes: Buffer.from(`${JSON.stringify(summary, null, 2)}\n`), contentType: 'application/json' },
      ],
      store,
    );
    log(`score: shard ${shard}/${shards}: ${scored} rows scored, ${rejected} rejected in ${summary.seconds.toFixed(1)} s → ${outputUri}`);
    return summary;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * What `orchard score` prints: the metrics and the drift verdict the operator puts in a ScoringJob's
 * status, from the same functions, instead of the sums and bin counts summary.json keeps for merging shards.
 */
export interface ShardReadout extends Omit<ShardSummary, 'stats' | 'drift'> {
  /** Rows with a readable label, which the metrics are computed on. */
  labelledRows?: number;
  metrics?: Record<string, string>;
  drift?: DriftStatus;
}

export async function shardReadout(summary: ShardSummary, modelUri: string, store: { gcs?: Storage } = {}): Promise<ShardReadout> {
  // bytesRead is for measuring a shard's reads, not a result a person reads.
  const { stats, drift, bytesRead: _bytesRead, ...rest } = summary;
  const readout: ShardReadout = rest;
  if (stats) {
    const schema = inputSchema.parse(JSON.parse((await readArtifact(modelUri, 'input-schema.json', store)).toString('utf8')));
    readout.labelledRows = stats.n;
    readout.metrics = metricTable(metricsFromStats(schema.task, stats));
  }
  if (drift && drift.rows > 0) {
    const where = `${modelUri.endsWith('/') ? modelUri : `${modelUri}/`}reference-profile.json`;
    const profile = parseReferenceProfile(JSON.parse((await readArtifact(modelUri, 'reference-profile.json', store)).toString('utf8')), where);
    readout.drift = driftStatusOf(evaluateDrift(profile, drift));
  }
  return readout;
}

/** A model published without a reference profile gets no drift counts. */
async function driftCounter(modelUri: string, inputNames: string[], store: { gcs?: Storage }): Promise<DriftCounter | undefined> {
  const name = 'reference-profile.json';
  if (!(await readManifest(modelUri, store)).files.some((f) => f.name === name)) return undefined;
  const where = `${modelUri.endsWith('/') ? modelUri : `${modelUri}/`}${name}`;
  const profile = parseReferenceProfile(JSON.parse((await readArtifact(modelUri, name, store)).toString('utf8')), where);
  return new DriftCounter(profile, inputNames);
}
