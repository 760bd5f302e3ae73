import { describe, expect, it } from '@jest/globals';
import { referenceProfile } from '../features/profile.js';
import { DriftCounter } from './counts.js';
import { DriftWindow, MAX_BLOCKS } from './window.js';

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

  it('joins small blocks of a quiet scorer, and keeps at most MAX_BLOCKS however blocks are timed', () => {
    const counter = new DriftCounter(profile, ['x']);
    const block = (rows: number) => {
      for (let i = 0; i < rows; i++) counter.add([i % 100]);
      return counter.take();
    };
    const blocks = (w: DriftWindow) => (w as unknown as { blocks: unknown[] }).blocks.length;
    // One row a quarter second for 100 s: blocks of 50 rows and 180 s each.
    const quiet = new DriftWindow(profile, ['x'], { windowRows: 1000, windowSeconds: 3600 });
    for (let i = 0; i < 400; i++) quiet.addBlock(block(1), 1_000 + i * 250, 1_000 + i * 250, 1_000 + i * 250);
    expect(quiet.counts(101_000).rows).toBe(400);
    expect(blocks(quiet)).toBe(8);
    // Blocks that each claim to span the whole window never join on their own; the ring still stays bounded.
    const spread = new DriftWindow(profile, ['x'], { windowRows: 100_000, windowSeconds: 3600 });
    for (let i = 0; i < 1000; i++) spread.addBlock(block(1 + (i % 3)), 0, 3_600_000 + i, 3_600_000 + i);
    expect(blocks(spread)).toBeLessThanOrEqual(MAX_BLOCKS);
    expect(spread.counts(3_601_000).rows).toBe(1999);
  });
});
