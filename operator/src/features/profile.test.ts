import { describe, expect, it } from '@jest/globals';
import { categoricalProfile, numericProfile, parseReferenceProfile, PROFILE_VERSION, referenceProfile } from './profile.js';

describe('reference profile', () => {
  it('gives a numeric input with few values one bin per value', () => {
    const p = numericProfile([3, 1, 2, 2, Number.NaN, 2]);
    expect(p).toMatchObject({ count: 6, missing: 1, min: 1, max: 3, distinct: 3, edges: [1, 2], means: [1, 2, 3] });
    expect(p.shares).toEqual([0.2, 0.6, 0.2]);
  });

  it('cuts a numeric input with many values at its vigintiles, with the mean of each bin', () => {
    const p = numericProfile(Array.from({ length: 100 }, (_, i) => 100 - i));
    expect(p.distinct).toBe(100);
    expect(p.edges).toHaveLength(19);
    expect(p.edges[0]).toBeCloseTo(5.95, 12); // numpy's linear quantile of 1..100 at 0.05
    expect(p.shares.every((s) => s === 0.05)).toBe(true);
    expect(p.means[0]).toBe(3); // 1..5
    expect(p.means[19]).toBe(98); // 96..100
  });

  it('merges tied quantiles, so a spike of one value is one bin', () => {
    const values = [...new Array<number>(90).fill(0), ...Array.from({ length: 30 }, (_, i) => i + 1)];
    const p = numericProfile(values);
    expect(p.edges[0]).toBe(0);
    expect(p.shares[0]).toBe(0.75);
    expect(p.edges.filter((e) => e === 0)).toHaveLength(1);
  });

  it('describes an all-missing input with one empty bin', () => {
    expect(numericProfile([Number.NaN, Number.NaN])).toMatchObject({ count: 2, missing: 2, distinct: 0, edges: [], shares: [0], means: [0] });
  });

  it('round-trips through JSON', () => {
    const profile = referenceProfile(
      [{ name: 'x', type: 'Numeric', feature: 'x' }, { name: 'c', type: 'Categorical', feature: 'c' }],
      [[1, 'a'], [2, ''], [Number.NaN, 'a']],
    );
    expect(profile.version).toBe(PROFILE_VERSION);
    expect(parseReferenceProfile(JSON.parse(JSON.stringify(profile)))).toEqual(profile);
  });

  it('reads version 1 profiles with bin midpoints for the means', () => {
    const v1 = {
      version: 1,
      rows: 10,
      inputs: {
        x: { type: 'Numeric', count: 10, missing: 0, mean: 5, std: 3, min: 0, max: 10, edges: [2, 6], shares: [0.3, 0.4, 0.3] },
        c: categoricalProfile(['a', 'b', 'a']),
      },
    };
    const p = parseReferenceProfile(v1);
    expect(p.version).toBe(PROFILE_VERSION);
    expect(p.inputs.x).toMatchObject({ means: [1, 4, 8] });
    expect(p.inputs.x).not.toHaveProperty('distinct');
    expect(p.inputs.c).toEqual(v1.inputs.c);
  });

  it('refuses unknown versions and malformed profiles, saying where', () => {
    expect(() => parseReferenceProfile({ version: 3, rows: 0, inputs: {} }, 'gs://b/m/reference-profile.json')).toThrow(
      /gs:\/\/b\/m\/reference-profile.json has version 3; this build reads versions 1 and 2/,
    );
    expect(() => parseReferenceProfile({ version: 2, rows: 1, inputs: { x: { type: 'Numeric', count: 1 } } })).toThrow(/malformed at inputs.x.missing/);
    const bad = { version: 2, rows: 1, inputs: { x: { ...numericProfile([1, 2, 3]), shares: [1] } } };
    expect(() => parseReferenceProfile(bad)).toThrow(/x has 2 bin edges but 1 shares and 3 means; expected 3 of each/);
  });
});
