// Raw records → model inputs. The one implementation used by training preparation, the online
// scorer and batch scoring, so a value is encoded the same way everywhere.
import type { CellOptions, Feature, FeatureSpec } from '../api/v1alpha1/features.js';
import type { TaskType } from '../api/v1alpha1/training-run.js';
import { quoteFileText } from '../artifacts/errors.js';
import { INPUT_SCHEMA_VERSION, INPUT_SCHEMA_VERSION_CELLS, type InputSchema, type ModelInput } from './schema.js';

/** A cell as it arrives: text from a file, or a JSON value from a request. */
export type RawValue = string | number | boolean | null | undefined;
/** Reads a source column of one record. */
export type RecordReader = (column: string) => RawValue;

/** A value that cannot be encoded; `field` names the offending input or column. */
export class FeatureError extends Error {
  constructor(
    readonly field: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'FeatureError';
  }
}

export const MISSING_CATEGORY = '';

export function sourceColumn(feature: Feature): string {
  return feature.column ?? feature.name;
}

function isMissing(value: RawValue): value is null | undefined | '' {
  return value === null || value === undefined || value === '';
}

/**
 * A plain object's own value for a key a user chose: never one inherited from Object.prototype, so
 * a value such as "constructor" or "__proto__" reads as absent, not as a function or an object.
 */
export function ownValue<T>(object: Record<string, T> | undefined, key: string): T | undefined {
  return object !== undefined && Object.hasOwn(object, key) ? object[key] : undefined;
}

function mapped(feature: { valueMap?: Record<string, string> | undefined }, value: RawValue): RawValue {
  if (feature.valueMap === undefined || isMissing(value)) return value;
  const hit = ownValue(feature.valueMap, String(value));
  return hit === undefined ? value : hit;
}

/**
 * The model's cell options as one function, raw value → value: Trim, then naValues, as the CSV reader
 * applies them. Undefined when they change nothing, so models without them encode exactly as before.
 * Idempotent: prepare applies it to every column it reads and the encoder again to each feature.
 */
export function cellReader(cells: CellOptions | undefined): ((value: RawValue) => RawValue) | undefined {
  const trim = cells?.whitespace === 'Trim';
  const na = new Set(cells?.naValues ?? []);
  if (!trim && na.size === 0) return undefined;
  return (value) => {
    if (typeof value === 'string') {
      const text = trim ? value.trim() : value;
      return text === '' || na.has(text) ? null : text;
    }
    // A file's "-1" placeholder arrives in JSON as the number -1: the same missing value.
    if (typeof value === 'number' && na.size > 0 && na.has(String(value))) return null;
    return value;
  };
}

/** Cell options that read `extra`'s whitespace and naValues too (data.source.csv's, carried into the model). */
export function mergeCellOptions(cells: CellOptions | undefined, extra: Partial<CellOptions> | undefined): CellOptions | undefined {
  const whitespace = cells?.whitespace === 'Trim' || extra?.whitespace === 'Trim' ? 'Trim' : 'Keep';
  const naValues = [...new Set([...(cells?.naValues ?? []), ...(extra?.naValues ?? [])])];
  if (whitespace === 'Keep' && naValues.length === 0) return cells;
  return { whitespace, ...(naValues.length ? { naValues } : {}) };
}

/** The most characters of a cell a pattern reads: with admission's quantifier limits, the worst pattern costs up to about 100 ms a cell, not hours. */
export const PATTERN_MAX_CELL = 128;

/** Pattern time one scoring request may spend, in milliseconds: past it the request is refused. */
export const PATTERN_REQUEST_BUDGET_MS = 1000;

/**
 * Time spent matching patterns for one request. Admission bounds a cell, not a request: a thousand
 * rows times hundreds of patterned features would hold the event loop for minutes, and liveness with it.
 */
export class PatternBudget {
  spentMs = 0;
  constructor(readonly limitMs = PATTERN_REQUEST_BUDGET_MS) {}
}

/** The budget of the record being encoded; set by the encoder for each call, which runs synchronously. */
interface PatternWork {
  budget: PatternBudget | undefined;
}

function patternStep(feature: Feature, work: PatternWork): ((value: RawValue) => RawValue) | undefined {
  const pattern = feature.pattern;
  if (pattern === undefined) return undefined;
  const re = new RegExp(pattern.regex, 'u');
  const name = feature.name;
  const missing = pattern.noMatch === 'Missing';
  return (value) => {
    if (isMissing(value)) return value;
    const text = typeof value === 'string' ? value : String(value);
    if (text.length > PATTERN_MAX_CELL) {
      throw new FeatureError(name, `${name}: ${quoteFileText(text)} is ${text.length} characters, over the ${PATTERN_MAX_CELL} a pattern reads: shorten the value, or map it with valueMap`);
    }
    const budget = work.budget;
    const started = budget === undefined ? 0 : performance.now();
    const match = re.exec(text);
    if (budget !== undefined) {
      budget.spentMs += performance.now() - started;
      if (budget.spentMs > budget.limitMs) {
        throw new FeatureError(name, `${name}: pattern.regex matching in this request took over ${budget.limitMs} ms, the most a request may spend: send fewer rows per request`);
      }
    }
    const captured = match?.[1];
    if (captured !== undefined && captured !== '') return captured;
    if (missing) return null;
    throw new FeatureError(name, `${name}: ${quoteFileText(text)} does not match pattern.regex: send a value it matches, or set pattern.noMatch to Missing`);
  };
}

/** "45-65" → its midpoint or a bound; a lone number is itself. */
function rangeStep(feature: Feature): ((value: RawValue) => RawValue) | undefined {
  const range = feature.range;
  if (range === undefined) return undefined;
  const { separator, value: pick } = range;
  const name = feature.name;
  const bound = (text: string, whole: string): number => {
    const n = text.trim() === '' ? Number.NaN : Number(text);
    if (!Number.isFinite(n) || /^\s*[-+]?0x/i.test(text)) {
      throw new FeatureError(name, `${name}: ${quoteFileText(whole)} is not a number or a range such as "45${separator}65": send one, or map the value with valueMap`);
    }
    return n;
  };
  return (value) => {
    if (typeof value !== 'string' || isMissing(value)) return value;
    const text = value.trim();
    // A number first: "1e-5" holds the separator "-" but is no range.
    const lone = text === '' ? Number.NaN : Number(text);
    if (Number.isFinite(lone) && !/^[-+]?0x/i.test(text)) return lone;
    // From the second character: a leading "-" is the sign of the lower bound.
    const at = text.indexOf(separator, 1);
    if (at === -1) return bound(text, value);
    const lower = bound(text.slice(0, at), value);
    const upper = bound(text.slice(at + separator.length), value);
    if (lower > upper) throw new FeatureError(name, `${name}: ${quoteFileText(value)} has its lower bound above its upper bound: write the range low${separator}high`);
    return pick === 'Lower' ? lower : pick === 'Upper' ? upper : lower + (upper - lower) / 2;
  };
}

/** The text CatBoost hashes for a category. Tabs and line breaks become spaces: they cannot travel in the training files. */
export function categoryText(value: RawValue): string {
  if (isMissing(value)) return MISSING_CATEGORY;
  const text = typeof value === 'string' ? value : String(value);
  return hasTabOrBreak(text) ? text.replace(/[\t\r\n]/g, ' ') : text;
}

/** A character scan: several times cheaper than a regular expression on the short texts categories are. */
function hasTabOrBreak(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 9 || c === 10 || c === 13) return true;
  }
  return false;
}

/** Parses a number the way a user means it: decimal text or a JSON number; NaN for missing. */
export function numericValue(value: RawValue, field: string): number {
  if (isMissing(value)) return Number.NaN;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new FeatureError(field, `${field}: ${value} is not a finite number`);
    return value;
  }
  if (typeof value === 'boolean') return value ? 1 : 0;
  const text = value.trim();
  const n = text === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(n) || /^0x/i.test(text)) {
    // Quoted as data-file text: batch scoring and training read the value from a file that may hold a secret.
    throw new FeatureError(field, `${field}: ${quoteFileText(value)} is not a number (send a decimal number, or map the value with valueMap)`);
  }
  return n;
}

export function splitLabels(value: RawValue, separator: string): string[] {
  if (isMissing(value)) return [];
  return categoryText(value)
    .split(separator)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Learns the MultiLabel vocabularies from training records: the topK most frequent answers, ties by name. */
export function fitMultiLabel(spec: FeatureSpec, records: Iterable<RecordReader>): Record<string, string[]> {
  const multi = spec.columns.filter((f) => f.type === 'MultiLabel');
  const counts = new Map(multi.map((f) => [f.name, new Map<string, number>()]));
  const cell = cellReader(spec.cells) ?? ((v: RawValue) => v);
  for (const read of records) {
    for (const f of multi) {
      const c = counts.get(f.name)!;
      for (const label of new Set(splitLabels(mapped(f, cell(read(sourceColumn(f)))), f.multiLabel?.separator ?? ';'))) {
        c.set(label, (c.get(label) ?? 0) + 1);
      }
    }
  }
  return Object.fromEntries(
    multi.map((f) => {
      const ranked = [...counts.get(f.name)!].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      return [f.name, ranked.slice(0, f.multiLabel?.topK ?? 20).map(([label]) => label)];
    }),
  );
}

export function modelInputs(spec: FeatureSpec, multiLabel: Record<string, string[]>): ModelInput[] {
  return spec.columns.flatMap((f): ModelInput[] => {
    if (f.type === 'MultiLabel') {
      return (ownValue(multiLabel, f.name) ?? []).map((label) => ({ name: `${f.name}=${label}`, type: 'Numeric', feature: f.name, label }));
    }
    return [{ name: f.name, type: f.type, feature: f.name }];
  });
}

export function buildInputSchema(
  task: TaskType,
  spec: FeatureSpec,
  multiLabel: Record<string, string[]>,
  classNames: string[] | undefined,
): InputSchema {
  // A schema that needs the cell steps gets the version that has them, so a scorer from before them
  // refuses the model instead of scoring it without them; other schemas are written as before.
  const version = spec.cells !== undefined || spec.columns.some((f) => f.pattern !== undefined || f.range !== undefined) ? INPUT_SCHEMA_VERSION_CELLS : INPUT_SCHEMA_VERSION;
  const schema: InputSchema = { version, task, features: spec, inputs: modelInputs(spec, multiLabel), multiLabel };
  if (classNames) schema.classNames = classNames;
  return schema;
}

/** One encoded record: a number (NaN = missing) per Numeric input, a string per Categorical input, in input order. */
export type EncodedRow = (number | string)[];

/** Record → one value per model input; `budgeted` also stops once a request's pattern budget is spent. */
export type RecordEncoder = ((read: RecordReader) => EncodedRow) & { budgeted: (read: RecordReader, budget: PatternBudget) => EncodedRow };

/**
 * Compiles the schema into an encoder: record → one value per model input. Throws FeatureError
 * naming the feature for values that cannot be encoded.
 */
export function recordEncoder(schema: InputSchema): RecordEncoder {
  const cell = cellReader(schema.features.cells);
  const work: PatternWork = { budget: undefined };
  const steps = schema.features.columns.map((f) => {
    const column = sourceColumn(f);
    // Steps a feature does not use are compiled away: these run per row served. Order: cells,
    // valueMap, pattern, range, then the type.
    const map = compose([cell, f.valueMap === undefined ? undefined : (v: RawValue) => mapped(f, v), patternStep(f, work), rangeStep(f)]);
    if (f.type === 'Numeric') {
      const fill = f.missing === undefined ? Number.NaN : Number(f.missing);
      const name = f.name;
      return (read: RecordReader, out: EncodedRow) => {
        const v = numericValue(map(read(column)), name);
        out.push(Number.isNaN(v) ? fill : v);
      };
    }
    if (f.type === 'Categorical') {
      return (read: RecordReader, out: EncodedRow) => {
        out.push(categoryText(map(read(column))));
      };
    }
    const labels = ownValue(schema.multiLabel, f.name) ?? [];
    const separator = f.multiLabel?.separator ?? ';';
    const multiCell = cell ?? ((v: RawValue) => v);
    return (read: RecordReader, out: EncodedRow) => {
      const raw = mapped(f, multiCell(read(column)));
      if (isMissing(raw)) {
        for (let i = 0; i < labels.length; i++) out.push(Number.NaN);
        return;
      }
      const answers = new Set(splitLabels(raw, separator));
      for (const label of labels) out.push(answers.has(label) ? 1 : 0);
    };
  });
  const encode = (read: RecordReader): EncodedRow => {
    const out: EncodedRow = [];
    for (const step of steps) step(read, out);
    return out;
  };
  // A separate entry, not an optional argument: encoders are passed to map(), whose index would land in it.
  const budgeted = (read: RecordReader, budget: PatternBudget): EncodedRow => {
    work.budget = budget;
    try {
      return encode(read);
    } finally {
      work.budget = undefined;
    }
  };
  return Object.assign(encode, { budgeted });
}

function compose(steps: (((v: RawValue) => RawValue) | undefined)[]): (v: RawValue) => RawValue {
  const used = steps.filter((f): f is (v: RawValue) => RawValue => f !== undefined);
  if (used.length === 0) return (v) => v;
  if (used.length === 1) return used[0]!;
  return (v) => {
    for (const step of used) v = step(v);
    return v;
  };
}

/** Reads a JSON record by column name; unknown fields are ignored, absent ones are missing. */
export function jsonRecordReader(record: Record<string, unknown>): RecordReader {
  return (column) => {
    const v = ownValue(record, column);
    if (v === null || v === undefined || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
    throw new FeatureError(column, `${column}: expected a string, number or null, got ${Array.isArray(v) ? 'an array' : typeof v}`);
  };
}

/** Reads rows of a table (cells by position) by column name. */
export function tableRowReader(columns: string[]): (row: (string | null)[]) => RecordReader {
  const index = new Map(columns.map((c, i) => [c, i]));
  return (row) => (column) => {
    const i = index.get(column);
    return i === undefined ? undefined : row[i];
  };
}
