// Reference profile: the training distribution of every model input, the target and (added by
// export) the prediction. The drift monitor compares live traffic against it.
import { quantile } from './stats.js';
import type { EncodedRow } from './transform.js';
import type { ModelInput } from './schema.js';

export const PROFILE_VERSION = 1;
const TOP_CATEGORIES = 50;
const BINS = 10;

export interface NumericProfile {
  type: 'Numeric';
  count: number;
  missing: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  /** Bin edges (training deciles, deduplicated); bin i holds values in (edges[i-1], edges[i]]. */
  edges: number[];
  /** Share of non-missing values per bin: edges.length + 1 entries. */
  shares: number[];
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
  const edges = [...new Set(Array.from({ length: BINS - 1 }, (_, i) => quantile(present, (i + 1) / BINS)))].filter((e) => !Number.isNaN(e));
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of present) counts[binIndex(edges, v)]!++;
  return {
    type: 'Numeric',
    count: values.length,
    missing: values.length - n,
    mean,
    std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0,
    min: n ? present[0]! : 0,
    max: n ? present[n - 1]! : 0,
    edges,
    shares: counts.map((c) => (n ? c / n : 0)),
  };
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
