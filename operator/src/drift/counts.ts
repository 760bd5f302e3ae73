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
