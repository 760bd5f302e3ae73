import { describe, expect, it } from '@jest/globals';
import { referenceProfile } from '../features/profile.js';
import { DriftWindow } from './window.js';

const inputs = [{ name: 'x', type: 'Numeric' as const, feature: 'x' }];
const profile = referenceProfile(inputs, Array.from({ length: 1000 }, (_, i) => [i % 100]));

describe('DriftWindow', () => {
  it('holds the last windowRows rows, to within one block', () => {
    const w = new DriftWindow(profile, ['x'], { windowRows: 1000, windowSeconds: 3600 });
    for (let i = 0; i < 5000; i++) w.add([i % 100], undefined, 1_000 + i);
    const rows = w.counts(10_000).rows;
    expect(rows).toBeGreaterThanOrEqual(1000);
    expect(rows).toBeLessThanOrEqual(1050);
  });

  it('forgets rows older than windowSeconds', () => {
    const w = new DriftWindow(profile, ['x'], { windowRows: 100_000, windowSeconds: 60 });
    for (let i = 0; i < 600; i++) w.add([i % 100], undefined, i * 1000); // one row a second for 10 minutes
    const rows = w.counts(600_000).rows;
    expect(rows).toBeGreaterThanOrEqual(60);
    expect(rows).toBeLessThanOrEqual(64);
    expect(w.oldest(600_000)).toBeGreaterThanOrEqual(600_000 - 64_000);
    expect(w.counts(10_000_000).rows).toBe(0);
    expect(w.oldest(10_000_000)).toBeUndefined();
  });

  it('counts every row in exactly one slot, and keeps its block count bounded', () => {
    const w = new DriftWindow(profile, ['x'], { windowRows: 500, windowSeconds: 3600 });
    for (let i = 0; i < 100_000; i++) w.add([i % 100], undefined, 1_000);
    const c = w.counts(1_000);
    expect(c.inputs.x!.reduce((a, b) => a + b, 0)).toBe(c.rows);
    expect((w as unknown as { blocks: unknown[] }).blocks.length).toBeLessThanOrEqual(21);
  });
});
