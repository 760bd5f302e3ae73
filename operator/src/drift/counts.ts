// Drift counts: live rows binned exactly as the reference profile binned the training rows.
// Integer counts per slot, so the counts of many shards or pods add up exactly, an old block of a
// sliding window can be subtracted again, and memory stays fixed however many rows arrive.
//
// Slots per column, in this order:
//   Numeric:     below the training min, one per profile bin, above the training max, missing (NaN)
//   Categorical: one per top training category (missing excluded), every other category, missing ("")
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { TaskType } from '../api/v1alpha1/training-run.js';
import type { ModelOutputs } from '../export/onnx-runner.js';
import { binIndex, type ColumnProfile, type ReferenceProfile } from '../features/profile.js';
import { MISSING_CATEGORY, type EncodedRow } from '../features/transform.js';

export const DRIFT_COUNTS_VERSION = 1;

/** How one column's values map to slots. */
export type SlotLayout =
  | { kind: 'Numeric'; min: number; max: number; edges: number[] }
  | { kind: 'Categorical'; categories: string[] };

export interface DriftLayout {
  /** Changes whenever any slot would mean something else; counts merge only within one fingerprint. */
  fingerprint: string;
  inputs: { name: string; slots: SlotLayout }[];
  prediction?: SlotLayout;
}

/** Counts of one window, shard or block: the JSON that travels between pods and into summaries. */
export interface DriftCounts {
  version: typeof DRIFT_COUNTS_VERSION;
  /** The DriftLayout fingerprint these counts were binned with. */
  layout: string;
  rows: number;
  /** Input name → count per slot. */
  inputs: Record<string, number[]>;
  /** Count per slot of the prediction, when the profile describes it. */
  prediction?: number[];
}

export function slotLayout(profile: ColumnProfile): SlotLayout {
  if (profile.type === 'Numeric') return { kind: 'Numeric', min: profile.min, max: profile.max, edges: profile.edges };
  return { kind: 'Categorical', categories: rankedCategories(profile.shares) };
}

/**
 * The profile's top categories, most frequent first, ties by name (UTF-16 order): an order that
 * does not depend on how a JSON parser orders object keys (integer-like keys come first in JS).
 */
export function rankedCategories(shares: Record<string, number>): string[] {
  return Object.keys(shares)
    .filter((c) => c !== MISSING_CATEGORY)
    .sort((a, b) => shares[b]! - shares[a]! || (a < b ? -1 : a > b ? 1 : 0));
}

export function slotCount(slots: SlotLayout): number {
  return slots.kind === 'Numeric' ? slots.edges.length + 4 : slots.categories.length + 2;
}

export function driftLayout(profile: ReferenceProfile): DriftLayout {
  const inputs = Object.entries(profile.inputs).map(([name, column]) => ({ name, slots: slotLayout(column) }));
  const prediction = profile.prediction ? slotLayout(profile.prediction) : undefined;
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([DRIFT_COUNTS_VERSION, inputs.map((i) => [i.name, i.slots]), prediction ?? null]))
    .digest('hex')
    .slice(0, 16);
  return { fingerprint, inputs, ...(prediction ? { prediction } : {}) };
}

/** Compiles a layout into value → slot index. */
export function slotOf(slots: SlotLayout): (value: number | string | undefined) => number {
  const missing = slotCount(slots) - 1;
  if (slots.kind === 'Numeric') {
    const { min, max, edges } = slots;
    return (value) => {
      if (typeof value !== 'number' || Number.isNaN(value)) return missing;
      if (value < min) return 0;
      if (value > max) return missing - 1;
      return 1 + binIndex(edges, value);
    };
  }
  const index = new Map(slots.categories.map((c, i) => [c, i]));
  const other = slots.categories.length;
  return (value) => {
    if (value === undefined || value === MISSING_CATEGORY) return missing;
    return index.get(String(value)) ?? other;
  };
}

export function emptyCounts(layout: DriftLayout): DriftCounts {
  return {
    version: DRIFT_COUNTS_VERSION,
    layout: layout.fingerprint,
    rows: 0,
    inputs: Object.fromEntries(layout.inputs.map((i) => [i.name, new Array<number>(slotCount(i.slots)).fill(0)])),
    ...(layout.prediction ? { prediction: new Array<number>(slotCount(layout.prediction)).fill(0) } : {}),
  };
}

/**
 * Counts encoded model-input rows and their predictions against one reference profile.
 * `inputNames` gives the order of the values in each EncodedRow (the input schema's order).
 */
export class DriftCounter {
  readonly layout: DriftLayout;
  private current: DriftCounts;
  private readonly steps: { column: number; slot: (v: number | string | undefined) => number; name: string }[];
  /** The current block's slot arrays in step order: no lookup by input name per row. */
  private slots: number[][] = [];
  private readonly predictionSlot: ((v: number | string | undefined) => number) | undefined;

  constructor(profile: ReferenceProfile, inputNames: string[]) {
    this.layout = driftLayout(profile);
    const position = new Map(inputNames.map((n, j) => [n, j]));
    this.steps = this.layout.inputs.map((i) => {
      const column = position.get(i.name);
      if (column === undefined) throw new Error(`the reference profile describes input "${i.name}", which the model's inputs (${inputNames.join(', ')}) lack: the profile belongs to another model`);
      return { column, slot: slotOf(i.slots), name: i.name };
    });
    this.predictionSlot = this.layout.prediction ? slotOf(this.layout.prediction) : undefined;
    this.current = this.fresh();
  }

  private fresh(): DriftCounts {
    const counts = emptyCounts(this.layout);
    this.slots = this.steps.map((step) => counts.inputs[step.name]!);
    return counts;
  }

  /**
   * One row. The prediction is what the profile's prediction describes: the prediction in target
   * units (Regression), the positive-class probability (BinaryClassification) or the predicted
   * class label (MulticlassClassification); see driftPrediction. Left out, it counts as missing.
   */
  add(row: EncodedRow, prediction?: number | string): void {
    this.count(row, prediction);
    this.current.rows++;
  }

  /** Rows [from, to) of a batch, with their predictions (see add). */
  addRange(rows: EncodedRow[], predictions: ArrayLike<number | string> | undefined, from: number, to: number): void {
    for (let r = from; r < to; r++) this.count(rows[r]!, predictions?.[r]);
    this.current.rows += to - from;
  }

  private count(row: EncodedRow, prediction: number | string | undefined): void {
    const { steps, slots } = this;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      slots[i]![step.slot(row[step.column])]!++;
    }
    if (this.predictionSlot) this.current.prediction![this.predictionSlot(prediction)]!++;
  }

  /** Rows counted since the last take(). */
  get rows(): number {
    return this.current.rows;
  }

  /** A copy of the counts so far. */
  counts(): DriftCounts {
    return structuredClone(this.current);
  }

  /** The counts so far, starting a new block: for windows kept as ring buffers of blocks. */
  take(): DriftCounts {
    const block = this.current;
    this.current = this.fresh();
    return block;
  }
}

/** The value of row r that the profile's prediction describes (see DriftCounter.add). */
export function driftPrediction(task: TaskType, outputs: Pick<ModelOutputs, 'prediction' | 'probabilities'>, r: number, classNames?: string[]): number | string {
  if (task === 'Regression') return outputs.prediction![r]!;
  if (task === 'BinaryClassification') return outputs.probabilities![r * 2 + 1]!;
  const k = classNames!.length;
  let best = 0;
  for (let c = 1; c < k; c++) if (outputs.probabilities![r * k + c]! > outputs.probabilities![r * k + best]!) best = c;
  return classNames![best]!;
}

function sameShape(a: DriftCounts, b: DriftCounts): void {
  if (a.layout !== b.layout) throw new Error(`drift counts of layout ${b.layout} cannot be combined with layout ${a.layout}: they were binned against different reference profiles`);
  const names = Object.keys(a.inputs);
  if (names.length !== Object.keys(b.inputs).length || names.some((n) => b.inputs[n]?.length !== a.inputs[n]!.length) || a.prediction?.length !== b.prediction?.length) {
    throw new Error(`drift counts of layout ${a.layout} differ in their inputs or slots: one of them is damaged`);
  }
}

function add(into: number[], from: number[], sign: 1 | -1): void {
  for (let s = 0; s < into.length; s++) into[s]! += sign * from[s]!;
}

function combine(parts: DriftCounts[], sign: 1 | -1): DriftCounts {
  const [first, ...rest] = parts;
  if (!first) throw new Error('no drift counts to combine');
  const out = structuredClone(first);
  for (const p of rest) {
    sameShape(out, p);
    out.rows += sign * p.rows;
    for (const [name, slots] of Object.entries(out.inputs)) add(slots, p.inputs[name]!, sign);
    if (out.prediction) add(out.prediction, p.prediction!, sign);
  }
  return out;
}

/** The counts of all parts together; exact, and independent of order and grouping. */
export function mergeCounts(parts: DriftCounts[]): DriftCounts {
  return combine(parts, 1);
}

/** `total` without `block`, which must have been merged into it (a window dropping its oldest block). */
export function subtractCounts(total: DriftCounts, block: DriftCounts): DriftCounts {
  const out = combine([total, block], -1);
  const negative = out.rows < 0 || Object.values(out.inputs).some((s) => s.some((v) => v < 0)) || out.prediction?.some((v) => v < 0);
  if (negative) throw new Error('subtracting drift counts that were never added: the block is not part of the total');
  return out;
}

const slotCounts = z.array(z.number().int().min(0));
const countsSchema = z.object({
  version: z.literal(DRIFT_COUNTS_VERSION),
  layout: z.string().regex(/^[0-9a-f]{16}$/),
  rows: z.number().int().min(0),
  inputs: z.record(z.string(), slotCounts),
  prediction: slotCounts.optional(),
});

/** Reads counts from JSON (a shard summary, a pod's report) and checks that every column adds up to the rows. */
export function parseDriftCounts(json: unknown, source = 'drift counts'): DriftCounts {
  // A record's "__proto__" key would set the parsed object's prototype rather than name an input.
  const inputs = ownRecord(ownRecord(json)?.inputs);
  if (inputs && Object.hasOwn(inputs, '__proto__')) throw new Error(`${source} are malformed at inputs.__proto__: not an input name`);
  const parsed = countsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${source} are malformed at ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const counts = parsed.data;
  const columns: [string, number[]][] = [...Object.entries(counts.inputs), ...(counts.prediction ? [['prediction', counts.prediction] as [string, number[]]] : [])];
  for (const [name, slots] of columns) {
    const sum = slots.reduce((a, b) => a + b, 0);
    if (sum !== counts.rows) throw new Error(`${source}: ${name} counts ${sum} values for ${counts.rows} rows`);
  }
  return counts;
}

/** Own properties of a plain JSON object, or undefined: arrays, null and other values are not records. */
function ownRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function slotArray(value: unknown, slots: number, maxRows: number, at: string): { values: number[]; sum: number } {
  if (!Array.isArray(value) || value.length !== slots) throw new Error(`${at}: expected an array of ${slots} counts (the reference profile's slots for it), got ${Array.isArray(value) ? `${value.length} values` : typeof value}`);
  let sum = 0;
  const out = new Array<number>(slots);
  for (let s = 0; s < slots; s++) {
    const v = value[s];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > maxRows) throw new Error(`${at}[${s}]: expected an integer from 0 to ${maxRows}, got ${JSON.stringify(v)}`);
    out[s] = v;
    sum += v;
    // Stopping here keeps the sum a safe integer, so the check against rows stays exact.
    if (sum > maxRows) throw new Error(`${at}: counts more than ${maxRows} values`);
  }
  return { values: out, sum };
}

/**
 * Reads counts from an untrusted peer strictly against the layout they must share: exactly the
 * layout's inputs as own properties, each with as many slots as the layout gives it, integer counts
 * from 0 to maxRows that add up to `rows`. What it returns is a fresh object of plain arrays, so
 * nothing of the sender's JSON (no `__proto__` key, no extra field) reaches a window or a merge.
 */
export function parseLayoutCounts(json: unknown, layout: DriftLayout, source: string, maxRows = Number.MAX_SAFE_INTEGER): DriftCounts {
  const counts = ownRecord(json);
  if (!counts) throw new Error(`${source}: expected an object {"version", "layout", "rows", "inputs"${layout.prediction ? ', "prediction"' : ''}}`);
  const allowed = new Set(['version', 'layout', 'rows', 'inputs', 'prediction']);
  const extra = Object.keys(counts).find((k) => !allowed.has(k));
  if (extra !== undefined) throw new Error(`${source}.${extra}: not a field of drift counts`);
  if (counts.version !== DRIFT_COUNTS_VERSION) throw new Error(`${source}.version: expected ${DRIFT_COUNTS_VERSION}, got ${JSON.stringify(counts.version)}`);
  if (counts.layout !== layout.fingerprint) {
    throw new Error(`${source}.layout: counts of layout ${JSON.stringify(counts.layout)} were binned against another reference profile than this one (${layout.fingerprint})`);
  }
  const rows = counts.rows;
  if (typeof rows !== 'number' || !Number.isSafeInteger(rows) || rows < 0 || rows > maxRows) throw new Error(`${source}.rows: expected an integer from 0 to ${maxRows}, got ${JSON.stringify(rows)}`);
  const inputs = ownRecord(counts.inputs);
  if (!inputs) throw new Error(`${source}.inputs: expected an object of input name → counts`);
  const names = new Set(layout.inputs.map((i) => i.name));
  const unknown = Object.keys(inputs).find((k) => !names.has(k));
  if (unknown !== undefined) throw new Error(`${source}.inputs.${unknown}: not an input of the model (its inputs: ${[...names].join(', ')})`);
  const checked = (value: unknown, slots: SlotLayout, at: string) => {
    const { values, sum } = slotArray(value, slotCount(slots), rows, at);
    if (sum !== rows) throw new Error(`${at}: counts ${sum} values for ${rows} rows`);
    return values;
  };
  const out: DriftCounts = {
    version: DRIFT_COUNTS_VERSION,
    layout: layout.fingerprint,
    rows,
    inputs: Object.fromEntries(
      layout.inputs.map((i) => {
        if (!Object.hasOwn(inputs, i.name)) throw new Error(`${source}.inputs.${i.name}: missing`);
        return [i.name, checked(inputs[i.name], i.slots, `${source}.inputs.${i.name}`)];
      }),
    ),
  };
  if (layout.prediction) {
    if (!Object.hasOwn(counts, 'prediction')) throw new Error(`${source}.prediction: missing (the reference profile describes the prediction)`);
    out.prediction = checked(counts.prediction, layout.prediction, `${source}.prediction`);
  } else if (Object.hasOwn(counts, 'prediction')) {
    throw new Error(`${source}.prediction: the reference profile describes no prediction`);
  }
  return out;
}

/**
 * The most bytes compact JSON of one block of counts on this layout can take, with at most maxRows
 * rows: every slot at the widest count, every name escaped at its longest, the fixed fields at
 * their widest. Bodies above a multiple of it cannot be counts a scorer sent.
 */
export function maxCountsJsonBytes(layout: DriftLayout, maxRows: number): number {
  const digits = String(maxRows).length;
  // Key, colon, brackets and comma, plus a count and a comma per slot; names escape to at most 6 bytes a UTF-16 unit.
  const column = (name: string, slots: number) => 6 * name.length + 6 + slots * (digits + 1);
  const inputs = layout.inputs.reduce((n, i) => n + column(i.name, slotCount(i.slots)), 0);
  const prediction = layout.prediction ? column('prediction', slotCount(layout.prediction)) : 0;
  return 128 + digits + inputs + prediction;
}
