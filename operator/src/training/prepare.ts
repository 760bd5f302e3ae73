// `orchard prepare`: source data → CatBoost-ready train/validation/test files, the model input
// schema serving enforces, and the reference profile drift monitoring compares against.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DataSource } from '../api/v1alpha1/data.js';
import type { FeatureSpec } from '../api/v1alpha1/features.js';
import type { TrainingRunSpec } from '../api/v1alpha1/training-run.js';
import { previewFileNames, quoteFileText } from '../artifacts/errors.js';
import { readSource, type SourceLimits, type Table } from '../artifacts/sources.js';
import { referenceProfile, numericProfile } from '../features/profile.js';
import type { InputSchema } from '../features/schema.js';
import { classNamesFor, inverseLabel, labelEncoder } from '../features/target.js';
import {
  buildInputSchema, cellReader, FeatureError, fitMultiLabel, mergeCellOptions, recordEncoder, sourceColumn, tableRowReader, type EncodedRow, type RawValue, type RecordReader,
} from '../features/transform.js';
import { compileFilters, describeFilter } from './filters.js';
import { PREPARED_VERSION, type PreparedDataset } from './prepared.js';
import { assignParts, type Part } from './split.js';
import type { Storage } from '@google-cloud/storage';

/** A problem with the run's data or spec that a user must fix; the message names the column or file. */
export class PrepareError extends Error {
  override name = 'PrepareError';
}

export interface PrepareOptions {
  spec: Pick<TrainingRunSpec, 'task' | 'data' | 'features' | 'catboost' | 'compute' | 'evaluation'>;
  outDir: string;
  gcs?: Storage;
  /** Extra CA for https sources (tests). */
  fetchCa?: string;
  /** What data sources may name (set in the operator's Pods). */
  limits?: SourceLimits;
  log?: (line: string) => void;
}

export interface PrepareResult {
  dataset: PreparedDataset;
  schema: InputSchema;
}

interface SourceRows {
  source: string;
  /** Row number in the source (1-based data row) for messages. */
  rowNumbers: number[];
  readers: RecordReader[];
}

const PART_FILES: Record<Part, string> = { train: 'train.tsv', validation: 'validation.tsv', test: 'test.tsv' };

export async function prepare(options: PrepareOptions): Promise<PrepareResult> {
  const { spec, outDir } = options;
  const log = options.log ?? (() => {});
  // data.source.csv's whitespace and naValues become the model's: a scorer must read " Centro" and
  // "--" as training did. testSource's stay how that one file is read.
  const cells = mergeCellOptions(spec.features.cells, spec.data.source.csv);
  const features = cells === spec.features.cells ? spec.features : { ...spec.features, cells };
  if (cells !== spec.features.cells) log(`prepare: the model reads every value as features.cells ${JSON.stringify(cells)} (data.source.csv's whitespace and naValues included), in training and in scoring`);
  // Every column prepare reads (target, filters, split) through the cells too, not only the features.
  const readCell = cellReader(features.cells);
  const required = requiredColumns(spec);

  const load = async (source: DataSource, field: string): Promise<Table> => {
    const table = await readSource(source, { ...options.limits, ...(options.gcs ? { gcs: options.gcs } : {}), ...(options.fetchCa ? { fetchCa: options.fetchCa } : {}) });
    const present = new Set(table.columns);
    for (const [column, where] of required) {
      if (!present.has(column)) {
        throw new PrepareError(`column "${column}" (${where}) is not in ${table.source}; ${describeColumns(table.columns)}. Fix ${where} or ${field}`);
      }
    }
    log(`prepare: read ${table.rows.length} rows × ${table.columns.length} columns from ${table.source}`);
    return table;
  };

  const main = await load(spec.data.source, 'data.source');
  const test = spec.data.testSource ? await load(spec.data.testSource, 'data.testSource') : undefined;

  // Filters: bounds are learned on the main source and applied to both.
  const mainRows = toRows(main, readCell);
  const predicates = compileFilters(spec.data.filters ?? [], mainRows.readers);
  const applyFilters = (rows: SourceRows): SourceRows => {
    let kept = rows;
    predicates.forEach((keep, k) => {
      const before = kept.readers.length;
      kept = pick(kept, kept.readers.map(keep));
      const dropped = before - kept.readers.length;
      if (dropped) log(`prepare: filter ${describeFilter(spec.data.filters![k]!)} dropped ${dropped} of ${before} rows of ${rows.source}`);
    });
    return kept;
  };
  let rows = applyFilters(mainRows);
  let testRows = test ? applyFilters(toRows(test, readCell)) : undefined;

  // Missing labels cannot be learned from.
  const targetColumn = features.target.column;
  const dropMissingTarget = (r: SourceRows): SourceRows => {
    const kept = pick(r, r.readers.map((read) => !isBlank(read(targetColumn))));
    if (kept.readers.length < r.readers.length) log(`prepare: dropped ${r.readers.length - kept.readers.length} rows of ${r.source} with no ${targetColumn}`);
    return kept;
  };
  rows = dropMissingTarget(rows);
  if (testRows) testRows = dropMissingTarget(testRows);

  if (spec.data.dedupe === 'ExactRows') {
    const columns = [...new Set([...features.columns.map(sourceColumn), targetColumn])];
    const seen = new Set<string>();
    const before = rows.readers.length;
    rows = pick(rows, rows.readers.map((read) => {
      const key = JSON.stringify(columns.map((c) => read(c) ?? null));
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    }));
    log(`prepare: dedupe removed ${before - rows.readers.length} of ${before} rows that repeat an earlier row`);
  }

  // Split.
  const parts = assignParts(rows.readers, spec.data.split, testRows ? 0 : Number(spec.data.split.testFraction ?? 0));
  const byPart: Record<Part, SourceRows> = {
    train: pick(rows, parts.map((p) => p === 'train')),
    validation: pick(rows, parts.map((p) => p === 'validation')),
    test: testRows ?? pick(rows, parts.map((p) => p === 'test')),
  };
  for (const part of ['train', 'validation', 'test'] as Part[]) {
    if (byPart[part].readers.length === 0) {
      throw new PrepareError(
        `the ${part} split is empty (${rows.readers.length} rows after filters and dedupe): loosen data.filters, or raise data.split.${part === 'validation' ? 'validationFraction' : part === 'test' ? 'testFraction' : 'validationFraction/testFraction so rows remain'}`,
      );
    }
  }

  // Labels and features, learned on train only.
  const classNames = spec.task === 'Regression' ? undefined : wrap(() => classNamesFor(spec.task, features.target, byPart.train.readers.map((r) => r(targetColumn))));
  const encodeLabel = labelEncoder(spec.task, features.target, classNames);
  const multiLabel = fitMultiLabel(features, byPart.train.readers);
  const schema = buildInputSchema(spec.task, features, multiLabel, classNames);
  const encode = recordEncoder(schema);

  const staging = `${outDir}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  let trainEncoded: EncodedRow[] = [];
  let trainLabels: number[] = [];
  // Every column with unreadable cells is found in one pass, not one per run.
  const unreadable = new UnreadableCells(features);
  for (const part of ['train', 'validation', 'test'] as Part[]) {
    const r = byPart[part];
    const lines: string[] = [['label', ...schema.inputs.map((i) => i.name)].join('\t')];
    const encodedRows: EncodedRow[] = [];
    const labels: number[] = [];
    r.readers.forEach((read, i) => {
      const at = `row ${r.rowNumbers[i]} of ${r.source}`;
      let label: number | null;
      let encoded: EncodedRow;
      try {
        label = encodeLabel(read(targetColumn));
        encoded = encode(read);
      } catch (err) {
        if (!(err instanceof FeatureError)) throw err;
        unreadable.note(err, read, at, r.rowNumbers[i]!, (masked) => {
          encodeLabel(masked(targetColumn));
          encode(masked);
        });
        return;
      }
      lines.push([label, ...encoded].map(cell).join('\t'));
      if (part === 'train') {
        encodedRows.push(encoded);
        labels.push(label!);
      }
    });
    await writeFile(join(staging, PART_FILES[part]), `${lines.join('\n')}\n`);
    if (part === 'train') {
      trainEncoded = encodedRows;
      trainLabels = labels;
    }
  }

  unreadable.check();

  const dataset: PreparedDataset = {
    version: PREPARED_VERSION,
    task: spec.task,
    features: schema.inputs.map((i) => ({ name: i.name, type: i.type })),
    ...(classNames ? { classNames } : {}),
    target: {
      column: targetColumn,
      transform: spec.task === 'Regression' ? features.target.transform : 'None',
      scale: spec.task === 'Regression' && features.target.scale !== undefined ? Number(features.target.scale) : 1,
      ...(spec.task === 'Regression' ? { estimate: features.target.estimate ?? 'Median' } : {}),
    },
    rows: { train: byPart.train.readers.length, validation: byPart.validation.readers.length, test: byPart.test.readers.length },
    catboost: catboostOf(spec.catboost, classNames),
    compute: { device: spec.compute?.device ?? 'CPU', gpus: spec.compute?.gpus ?? 0 },
    evaluation: {
      ...(spec.evaluation?.primaryMetric ? { primaryMetric: spec.evaluation.primaryMetric } : {}),
      topFraction: Number(spec.evaluation?.topFraction ?? '0.1'),
    },
  };
  const inverse = inverseLabel(features.target);
  const targetProfile = spec.task === 'Regression' ? numericProfile(trainLabels.map(inverse)) : classProfile(trainLabels, classNames!);
  const profile = referenceProfile(schema.inputs, trainEncoded, targetProfile);

  await writeFile(join(staging, 'dataset.json'), `${JSON.stringify(dataset, null, 2)}\n`);
  await writeFile(join(staging, 'input-schema.json'), `${JSON.stringify(schema, null, 2)}\n`);
  await writeFile(join(staging, 'reference-profile.json'), `${JSON.stringify(profile)}\n`);
  await mkdir(dirname(outDir), { recursive: true });
  await rm(outDir, { recursive: true, force: true });
  await rename(staging, outDir);
  log(`prepare: ${dataset.rows.train} train, ${dataset.rows.validation} validation, ${dataset.rows.test} test rows; ${schema.inputs.length} model inputs`);
  return { dataset, schema };
}

function classProfile(labels: number[], classNames: string[]) {
  const counts = new Array<number>(classNames.length).fill(0);
  for (const l of labels) counts[l]!++;
  return {
    type: 'Categorical' as const,
    count: labels.length,
    missing: 0,
    distinct: classNames.length,
    shares: Object.fromEntries(classNames.map((c, i) => [c, counts[i]! / (labels.length || 1)])),
    otherShare: 0,
  };
}

/** catboost.classWeights by class label → one weight per class, in classNames order (1 where not listed). */
function classWeightsOf(weights: Record<string, string> | undefined, classNames: string[] | undefined): number[] | undefined {
  if (!weights || !classNames) return undefined;
  const index = new Map(classNames.map((c, i) => [c, i]));
  const out = classNames.map(() => 1);
  for (const [name, weight] of Object.entries(weights)) {
    const i = index.get(name);
    if (i === undefined) {
      // Class labels are data-file cells: quoted as such, a few at most.
      const classes = classNames.slice(0, 8).map((c) => quoteFileText(c)).join(', ') + (classNames.length > 8 ? `, … (${classNames.length} classes)` : '');
      throw new PrepareError(`catboost.classWeights names class ${JSON.stringify(name)}, which the target column's training rows do not have; its classes are ${classes}: use those labels (after features.target.valueMap)`);
    }
    out[i] = Number(weight);
  }
  return out;
}

function catboostOf(c: TrainingRunSpec['catboost'], classNames: string[] | undefined): PreparedDataset['catboost'] {
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const out: PreparedDataset['catboost'] = { iterations: c?.iterations ?? 1000, depth: c?.depth ?? 6, randomSeed: c?.randomSeed ?? 0 };
  const optional = {
    learningRate: num(c?.learningRate),
    l2LeafReg: num(c?.l2LeafReg),
    lossFunction: c?.lossFunction,
    earlyStoppingRounds: c?.earlyStoppingRounds,
    oneHotMaxSize: c?.oneHotMaxSize,
    maxCtrComplexity: c?.maxCtrComplexity,
    borderCount: c?.borderCount,
    growPolicy: c?.growPolicy,
    maxLeaves: c?.maxLeaves,
    autoClassWeights: c?.autoClassWeights,
    classWeights: classWeightsOf(c?.classWeights, classNames),
    evalMetric: c?.evalMetric,
    bootstrapType: c?.bootstrapType,
    subsample: num(c?.subsample),
    baggingTemperature: num(c?.baggingTemperature),
    extra: c?.extra,
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function cell(v: number | string | null): string {
  if (typeof v === 'number') return Number.isNaN(v) ? '' : String(v);
  return v ?? '';
}

function isBlank(v: unknown): boolean {
  return v === null || v === undefined || v === '';
}

function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof FeatureError) throw new PrepareError(err.message, { cause: err });
    throw err;
  }
}

function toRows(table: Table, readCell: ((value: RawValue) => RawValue) | undefined): SourceRows {
  const reader = tableRowReader(table.columns);
  const readers = table.rows.map((row): RecordReader => {
    const read = reader(row);
    return readCell ? (column) => readCell(read(column)) : read;
  });
  return { source: table.source, rowNumbers: table.rows.map((_, i) => i + 1), readers };
}

function pick(rows: SourceRows, keep: boolean[]): SourceRows {
  return {
    source: rows.source,
    rowNumbers: rows.rowNumbers.filter((_, i) => keep[i]),
    readers: rows.readers.filter((_, i) => keep[i]),
  };
}

/** The header's names for a message, quoted and shortened by previewFileNames: never the file's raw text. */
function describeColumns(columns: string[]): string {
  // One column usually means the wrong delimiter, or a file that is not a table at all: a token or
  // a password file reads as one column, so its text is never quoted, however short.
  if (columns.length === 1) return `its header has one column (${columns[0]!.length} characters): check csv.delimiter and that this is the data file`;
  return `its header has ${columns.length} columns: ${previewFileNames(columns)}`;
}

/** Every source column the run reads, with the spec field that names it. */
function requiredColumns(spec: PrepareOptions['spec']): [string, string][] {
  const out: [string, string][] = [[spec.features.target.column, 'features.target.column']];
  spec.features.columns.forEach((f, i) => out.push([sourceColumn(f), `features.columns[${i}]${f.column ? '.column' : '.name'}`]));
  (spec.data.filters ?? []).forEach((f, i) => out.push([f.column, `data.filters[${i}].column`]));
  (spec.data.split.groupColumns ?? []).forEach((c, i) => out.push([c, `data.split.groupColumns[${i}]`]));
  if (spec.data.split.orderColumn) out.push([spec.data.split.orderColumn, 'data.split.orderColumn']);
  return out;
}

/** The columns whose cells a model cannot read, each with a count and its first row, for one error naming them all. */
class UnreadableCells {
  private readonly byColumn = new Map<string, { rows: number; example: string; row: number }>();
  private readonly columnOf: Map<string, string>;

  constructor(features: FeatureSpec) {
    this.columnOf = new Map(features.columns.map((f) => [f.name, sourceColumn(f)]));
  }

  /** Records `first` and every other unreadable column of the row, found by reading each one found as missing and trying again. */
  note(first: FeatureError, read: RecordReader, at: string, row: number, encodeRow: (read: RecordReader) => void): void {
    const masked = new Set<string>();
    let err: FeatureError | undefined = first;
    while (err && !masked.has(err.field)) {
      const column = this.columnOf.get(err.field) ?? err.field;
      const seen = this.byColumn.get(column);
      // The message already starts with the field's name; what follows it is the problem.
      const problem = err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message;
      // Splits are read in turn, not in file order: the example is the column's first row in the file.
      if (!seen) this.byColumn.set(column, { rows: 1, example: `${at}: ${problem}`, row });
      else {
        seen.rows++;
        if (row < seen.row) Object.assign(seen, { example: `${at}: ${problem}`, row });
      }
      masked.add(err.field);
      const hidden = new Set([...masked].map((f) => this.columnOf.get(f) ?? f));
      try {
        encodeRow((c) => (hidden.has(c) ? null : read(c)));
        err = undefined;
      } catch (next) {
        if (!(next instanceof FeatureError)) throw next;
        err = next;
      }
    }
  }

  check(): void {
    if (this.byColumn.size === 0) return;
    const MAX_LISTED = 8;
    const columns = [...this.byColumn.entries()].sort((a, b) => b[1].rows - a[1].rows);
    const listed = columns.slice(0, MAX_LISTED).map(([column, { rows, example }]) => `"${column}" in ${rows} row${rows === 1 ? '' : 's'} (first: ${example})`);
    const more = columns.length > MAX_LISTED ? `; and ${columns.length - MAX_LISTED} more columns` : '';
    throw new PrepareError(
      `${columns.length} column${columns.length === 1 ? ' has' : 's have'} values the model cannot read: ${listed.join('; ')}${more}. ` +
        'If a placeholder such as "--" or "?" stands for a missing value, list it in features.cells.naValues (it then reads as missing, in training and scoring alike); ' +
        'otherwise map the values with the feature\'s valueMap, or drop the rows with data.filters',
    );
  }
}
