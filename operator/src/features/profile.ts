// Reference profile: the training distribution of every model input, the target and (added by
// export) the prediction. The drift monitor compares live traffic against it.
import { z } from 'zod';
import { quantile } from './stats.js';
import type { EncodedRow } from './transform.js';
import type { ModelInput } from './schema.js';

/**
 * 2: numeric inputs gained `distinct` and per-bin `means`, and are cut into 20 quantile bins (one
 * bin per value when there are at most 20). Version 1 profiles are still read: see parseReferenceProfile.
 */
export const PROFILE_VERSION = 2;
const TOP_CATEGORIES = 50;
/** Quantile bins per numeric input: 5 % of the training values each, fine enough for KS and Wasserstein. */
const BINS = 20;

export interface NumericProfile {
  type: 'Numeric';
  count: number;
  missing: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  /** Distinct present values; absent in version-1 profiles. Few values make drift tests treat the input as categorical. */
  distinct?: number;
  /**
   * Bin edges; bin i holds values in (edges[i-1], edges[i]], the first bin [min, edges[0]] and the
   * last (edges[last], max]. With at most 20 distinct values the edges are those values but the
   * largest, so every bin holds exactly one of them; otherwise the training vigintiles, deduplicated.
   */
  edges: number[];
  /** Share of non-missing values per bin: edges.length + 1 entries. */
  shares: number[];
  /** Mean of the training values in each bin (the bin's midpoint where it holds none): where a bin's mass sits. */
  means: number[];
}

export interface CategoricalProfile {
  type: 'Categorical';
  count: number;
  missing: number;
  distinct: number;
  /** Share of rows per category, for the most frequent ones. */
  shares: Record<string, number>;
  /** Share of rows in every other category. */
  otherShare: number;
}

export type ColumnProfile = NumericProfile | CategoricalProfile;

export interface ReferenceProfile {
  version: typeof PROFILE_VERSION;
  rows: number;
  inputs: Record<string, ColumnProfile>;
  target?: ColumnProfile;
  prediction?: ColumnProfile;
}

export function binIndex(edges: number[], v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function numericProfile(values: ArrayLike<number>): NumericProfile {
  const present: number[] = [];
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i]!)) present.push(values[i]!);
  present.sort((a, b) => a - b);
  const n = present.length;
  let sum = 0;
  for (const v of present) sum += v;
  const mean = n ? sum / n : 0;
  let ss = 0;
  for (const v of present) ss += (v - mean) ** 2;
  const levels: number[] = [];
  for (const v of present) if (levels.at(-1) !== v) levels.push(v);
  const edges =
    levels.length <= BINS
      ? levels.slice(0, -1)
      : [...new Set(Array.from({ length: BINS - 1 }, (_, i) => quantile(present, (i + 1) / BINS)))];
  const counts = new Array<number>(edges.length + 1).fill(0);
  const sums = new Array<number>(edges.length + 1).fill(0);
  for (const v of present) {
    const b = binIndex(edges, v);
    counts[b]!++;
    sums[b]! += v;
  }
  const min = n ? present[0]! : 0;
  const max = n ? present[n - 1]! : 0;
  return {
    type: 'Numeric',
    count: values.length,
    missing: values.length - n,
    mean,
    std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0,
    min,
    max,
    distinct: levels.length,
    edges,
    shares: counts.map((c) => (n ? c / n : 0)),
    means: counts.map((c, b) => (c ? sums[b]! / c : midpoint(edges, b, min, max))),
  };
}

function midpoint(edges: number[], b: number, min: number, max: number): number {
  const lo = b === 0 ? min : edges[b - 1]!;
  const hi = b === edges.length ? max : edges[b]!;
  return (lo + hi) / 2;
}

export function categoricalProfile(values: string[], missingValue = ''): CategoricalProfile {
  const counts = new Map<string, number>();
  let missing = 0;
  for (const v of values) {
    if (v === missingValue) missing++;
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const top = ranked.slice(0, TOP_CATEGORIES);
  const n = values.length || 1;
  const shares = Object.fromEntries(top.map(([k, c]) => [k, c / n]));
  const covered = top.reduce((s, [, c]) => s + c, 0);
  return { type: 'Categorical', count: values.length, missing, distinct: counts.size, shares, otherShare: (values.length - covered) / n };
}

export function referenceProfile(inputs: ModelInput[], rows: EncodedRow[], target?: ColumnProfile): ReferenceProfile {
  const profile: ReferenceProfile = { version: PROFILE_VERSION, rows: rows.length, inputs: {} };
  inputs.forEach((input, j) => {
    profile.inputs[input.name] =
      input.type === 'Numeric' ? numericProfile(rows.map((r) => r[j] as number)) : categoricalProfile(rows.map((r) => r[j] as string));
  });
  if (target) profile.target = target;
  return profile;
}

// zod numbers are finite: NaN and ±Infinity are rejected.
const finite = z.number();
const count = z.number().int().min(0);
const numericColumn = z.object({
  type: z.literal('Numeric'),
  count,
  missing: count,
  mean: finite,
  std: finite,
  min: finite,
  max: finite,
  distinct: count.optional(),
  edges: z.array(finite),
  shares: z.array(finite),
  means: z.array(finite).optional(),
});
const categoricalColumn = z.object({
  type: z.literal('Categorical'),
  count,
  missing: count,
  distinct: count,
  shares: z.record(z.string(), finite),
  otherShare: finite,
});
const columnSchema = z.discriminatedUnion('type', [numericColumn, categoricalColumn]);
const profileSchema = z.object({
  version: z.number().int(),
  rows: count,
  inputs: z.record(z.string(), columnSchema),
  target: columnSchema.optional(),
  prediction: columnSchema.optional(),
});

/**
 * Reads reference-profile.json. Version 1 (10 deciles, no distinct counts or bin means) is read
 * as version 2 with each bin's midpoint standing in for its mean and `distinct` left unknown.
 */
export function parseReferenceProfile(json: unknown, source = 'reference profile'): ReferenceProfile {
  const version = (json as { version?: unknown } | null)?.version;
  if (version !== 1 && version !== PROFILE_VERSION) {
    throw new Error(`${source} has version ${JSON.stringify(version)}; this build reads versions 1 and ${PROFILE_VERSION}: score with a matching Orchard release or train the model again`);
  }
  const parsed = profileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${source} is malformed at ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const column = (name: string, c: z.infer<typeof columnSchema>): ColumnProfile => {
    if (c.type === 'Categorical') return c;
    if (c.shares.length !== c.edges.length + 1 || (c.means && c.means.length !== c.shares.length)) {
      throw new Error(`${source}: ${name} has ${c.edges.length} bin edges but ${c.shares.length} shares${c.means ? ` and ${c.means.length} means` : ''}; expected ${c.edges.length + 1} of each`);
    }
    const { distinct, means, ...rest } = c;
    return {
      ...rest,
      ...(distinct !== undefined ? { distinct } : {}),
      means: means ?? c.shares.map((_, b) => midpoint(c.edges, b, c.min, c.max)),
    };
  };
  const p = parsed.data;
  return {
    version: PROFILE_VERSION,
    rows: p.rows,
    inputs: Object.fromEntries(Object.entries(p.inputs).map(([name, c]) => [name, column(name, c)])),
    ...(p.target ? { target: column('target', p.target) } : {}),
    ...(p.prediction ? { prediction: column('prediction', p.prediction) } : {}),
  };
}
