import { describe, expect, it } from '@jest/globals';
import { split as splitSchema } from '../api/v1alpha1/data.js';
import { jsonRecordReader } from '../features/transform.js';
import { quantile } from '../features/stats.js';
import { compileFilters } from './filters.js';
import { assignParts } from './split.js';

const rows = Array.from({ length: 1000 }, (_, i) => jsonRecordReader({ id: i, group: `g${i % 100}`, year: 2000 + (i % 10), v: i }));

describe('split', () => {
  it('random split is seeded and close to the requested fractions', () => {
    const spec = splitSchema.parse({ strategy: 'Random', validationFraction: '0.1', testFraction: '0.2', seed: 1 });
    const parts = assignParts(rows, spec, 0.2);
    expect(parts.filter((p) => p === 'test')).toHaveLength(200);
    expect(parts.filter((p) => p === 'validation')).toHaveLength(100);
    expect(assignParts(rows, spec, 0.2)).toEqual(parts);
    expect(assignParts(rows, { ...spec, seed: 2 }, 0.2)).not.toEqual(parts);
  });

  it('group split never puts one group on two sides', () => {
    const spec = splitSchema.parse({ strategy: 'Group', groupColumns: ['group'], validationFraction: '0.1', testFraction: '0.2' });
    const parts = assignParts(rows, spec, 0.2);
    const sides = new Map<string, Set<string>>();
    rows.forEach((r, i) => sides.set(String(r('group')), (sides.get(String(r('group'))) ?? new Set()).add(parts[i]!)));
    expect([...sides.values()].every((s) => s.size === 1)).toBe(true);
    expect(parts.filter((p) => p === 'test').length).toBeGreaterThanOrEqual(190);
  });

  it('time split holds out the latest rows', () => {
    const spec = splitSchema.parse({ strategy: 'Time', orderColumn: 'year', validationFraction: '0.1', testFraction: '0.2' });
    const parts = assignParts(rows, spec, 0.2);
    const years = (p: string) => rows.filter((_, i) => parts[i] === p).map((r) => Number(r('year')));
    expect(Math.min(...years('test'))).toBeGreaterThanOrEqual(Math.max(...years('validation')));
    expect(Math.min(...years('validation'))).toBeGreaterThanOrEqual(Math.max(...years('train')));
  });
});

describe('filters', () => {
  it('percentile bounds are computed after earlier filters', () => {
    const [byYear, byPercentile] = compileFilters(
      [
        { column: 'year', min: '2005' },
        { column: 'v', percentileRange: { low: '0.1', high: '0.9' } },
      ],
      rows,
    );
    const kept = rows.filter(byYear!);
    expect(kept).toHaveLength(500);
    const values = kept.map((r) => Number(r('v'))).sort((a, b) => a - b);
    expect(kept.filter(byPercentile!).length).toBe(values.filter((v) => v >= quantile(values, 0.1) && v <= quantile(values, 0.9)).length);
    expect(kept.filter(byPercentile!).length).toBe(400);
  });

  it('in and notIn compare text', () => {
    const [keep] = compileFilters([{ column: 'group', in: ['g1', 'g2'] }], rows);
    expect(rows.filter(keep!)).toHaveLength(20);
  });
});
