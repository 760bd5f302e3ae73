// Row filters, applied in order before de-duplication and splitting.
import type { RowFilter } from '../api/v1alpha1/data.js';
import { quantile } from '../features/stats.js';
import type { RecordReader } from '../features/transform.js';

export interface FilterOutcome {
  filter: string;
  dropped: number;
}

function numberOf(value: unknown): number {
  if (value === null || value === undefined || value === '') return Number.NaN;
  return Number(value);
}

export function describeFilter(f: RowFilter): string {
  if (f.in) return `${f.column} in [${f.in.join(', ')}]`;
  if (f.notIn) return `${f.column} not in [${f.notIn.join(', ')}]`;
  if (f.percentileRange) return `${f.column} within percentiles ${f.percentileRange.low}..${f.percentileRange.high}`;
  return [f.min === undefined ? '' : `${f.column} >= ${f.min}`, f.max === undefined ? '' : `${f.column} <= ${f.max}`].filter(Boolean).join(' and ');
}

/**
 * Resolves each filter to a predicate. Percentile bounds are computed on `rows` after the
 * earlier filters, then kept as plain bounds so a separate test set gets the same cut.
 */
export function compileFilters(filters: RowFilter[], rows: RecordReader[]): ((read: RecordReader) => boolean)[] {
  const predicates: ((read: RecordReader) => boolean)[] = [];
  let kept = rows;
  for (const f of filters) {
    let keep: (read: RecordReader) => boolean;
    if (f.in || f.notIn) {
      const set = new Set(f.in ?? f.notIn);
      const wanted = f.in !== undefined;
      keep = (read) => set.has(String(read(f.column) ?? '')) === wanted;
    } else {
      let min = f.min === undefined ? -Infinity : Number(f.min);
      let max = f.max === undefined ? Infinity : Number(f.max);
      if (f.percentileRange) {
        const values = kept.map((r) => numberOf(r(f.column))).filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
        min = quantile(values, Number(f.percentileRange.low));
        max = quantile(values, Number(f.percentileRange.high));
      }
      keep = (read) => {
        const v = numberOf(read(f.column));
        return v >= min && v <= max;
      };
    }
    predicates.push(keep);
    kept = kept.filter(keep);
  }
  return predicates;
}
