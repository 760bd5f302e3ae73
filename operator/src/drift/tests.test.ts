// Each statistic against values worked out by hand or computed with scipy 1.17.1 (named per case).
import { describe, expect, it } from '@jest/globals';
import {
  chiSquareGoodnessOfFit, chiSquareSurvival, jensenShannonDistance, kolmogorovSurvival, ksTwoSampleBinned, lnGamma, normalTwoSidedP, psi,
  PSI_EPSILON, regularizedGammaQ, twoProportionZTest, wassersteinOnPoints,
} from './tests.js';

describe('special functions', () => {
  it('ln Γ matches known values', () => {
    expect(lnGamma(1)).toBeCloseTo(0, 14);
    expect(lnGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 14);
    expect(lnGamma(10)).toBeCloseTo(Math.log(362880), 12);
    expect(lnGamma(3.7)).toBeCloseTo(1.428072326665388, 13); // scipy.special.gammaln
    expect(lnGamma(100.5)).toBeCloseTo(361.43554046777757, 10);
  });

  it('Q(a, x) has the closed forms of integer a', () => {
    for (const x of [0.01, 0.5, 1, 2.5, 7, 30]) {
      expect(regularizedGammaQ(1, x)).toBeCloseTo(Math.exp(-x), 14);
      expect(regularizedGammaQ(2, x)).toBeCloseTo(Math.exp(-x) * (1 + x), 14);
      expect(regularizedGammaQ(3, x)).toBeCloseTo(Math.exp(-x) * (1 + x + (x * x) / 2), 14);
    }
    expect(regularizedGammaQ(0.5, 0)).toBe(1);
    expect(regularizedGammaQ(0.5, Infinity)).toBe(0);
    expect(() => regularizedGammaQ(0, 1)).toThrow(RangeError);
  });

  it('Q(a, x) matches scipy.special.gammaincc on both sides of x = a + 1', () => {
    const cases: [number, number, number][] = [
      [0.5, 0.5, 0.31731050786291115],
      [2.5, 1.0, 0.8491450360846096],
      [10, 3, 0.9988975118698845],
      [3, 10, 0.0027693957155115775],
      [100, 90, 0.84177901081357],
      [0.1, 5, 0.00014393896584673387],
    ];
    for (const [a, x, want] of cases) expect(Math.abs(regularizedGammaQ(a, x) - want) / want).toBeLessThan(1e-12);
  });

  it('chi-square survival matches scipy.stats.chi2.sf', () => {
    const cases: [number, number, number][] = [
      [3.841458820694124, 1, 0.05],
      [1, 1, 0.31731050786291115],
      [10, 5, 0.07523524614651217],
      [20, 10, 0.029252688076961124],
      [0.5, 3, 0.9188914116546758],
      [100, 50, 3.454931382984871e-5],
      [300, 200, 5.924540335483916e-6],
      [1e-3, 4, 0.9999998750416589],
    ];
    for (const [x, df, want] of cases) expect(Math.abs(chiSquareSurvival(x, df) - want) / want).toBeLessThan(1e-11);
    expect(chiSquareSurvival(5.991464547107979, 2)).toBeCloseTo(0.05, 14); // df 2: e^(−x/2)
    expect(chiSquareSurvival(Infinity, 3)).toBe(0);
  });

  it('two-sided normal p-values match 2·norm.sf(|z|)', () => {
    expect(normalTwoSidedP(1.959963984540054)).toBeCloseTo(0.05, 14);
    expect(normalTwoSidedP(-1)).toBeCloseTo(0.31731050786291415, 14);
    expect(normalTwoSidedP(3)).toBeCloseTo(0.0026997960632601866, 15);
    expect(normalTwoSidedP(0)).toBe(1);
  });

  it('the Kolmogorov survival function matches scipy.stats.kstwobign.sf, across the switch between its two series', () => {
    const cases: [number, number][] = [
      [0.3, 0.9999906941986655],
      [0.5, 0.9639452436648751],
      [1.0, 0.26999967167735456],
      [1.17, 0.12939004218561884],
      [1.19, 0.11774229287977166],
      [1.3580986393225505, 0.05],
      [1.6276236115189, 0.01],
      [2.0, 0.0006709252557796953],
      [3.0, 3.045995948942526e-8],
    ];
    for (const [lambda, want] of cases) expect(Math.abs(kolmogorovSurvival(lambda) - want) / want).toBeLessThan(1e-10);
    expect(kolmogorovSurvival(0)).toBe(1);
  });
});

describe('drift statistics', () => {
  it('PSI: Σ (c − r)·ln(c/r), empty bins replaced by the epsilon', () => {
    // (0.05)(ln 1.25) + (−0.05)(ln 0.8333) = 0.05·ln 1.5
    expect(psi([0.2, 0.3, 0.5], [0.25, 0.25, 0.5])).toBeCloseTo(0.05 * Math.log(1.5), 15);
    expect(psi([0.5, 0.5, 0], [0.5, 0.4, 0.1])).toBeCloseTo(-0.1 * Math.log(0.8) + (0.1 - PSI_EPSILON) * Math.log(0.1 / PSI_EPSILON), 12);
    expect(psi([0.3, 0.7], [0.3, 0.7])).toBe(0);
  });

  it('Jensen–Shannon distance uses the natural log, as scipy.spatial.distance.jensenshannon by default', () => {
    expect(jensenShannonDistance([0.1, 0.4, 0.5], [0.3, 0.3, 0.4])).toBeCloseTo(0.18035965602712561, 14);
    // scipy normalises its inputs; so does this.
    expect(jensenShannonDistance([2, 8, 10], [3, 3, 4])).toBeCloseTo(0.18035965602712561, 14);
    // Disjoint supports: the maximum, √ln 2 (base 2 would give 1).
    expect(jensenShannonDistance([1, 0], [0, 1])).toBeCloseTo(Math.sqrt(Math.LN2), 14);
    expect(jensenShannonDistance([5, 5], [1, 1])).toBe(0);
  });

  it('Wasserstein on shared points integrates |F − G|', () => {
    // F = .1 .3 .6, G = .4 .7 .9 → .3·1 + .4·2 + .3·4 (scipy.stats.wasserstein_distance gives 2.3 too)
    expect(wassersteinOnPoints([1, 2, 4, 8], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1])).toBeCloseTo(2.3, 14);
    // A whole distribution moved by 3 costs 3.
    expect(wassersteinOnPoints([0, 1, 3, 4], [0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5])).toBeCloseTo(3, 14);
  });

  it('KS on binned CDFs: largest CDF gap, p-value at √(nm/(n+m))·D', () => {
    const r = ksTwoSampleBinned([0.2, 0.3, 0.5], [30, 20, 50], 1000, 100);
    expect(r.statistic).toBeCloseTo(0.1, 14);
    expect(r.pValue).toBeCloseTo(0.32325294663352155, 12); // kstwobign.sf(√(1000·100/1100)·0.1)
    expect(ksTwoSampleBinned([0.5, 0.5], [10, 10], 100, 20)).toEqual({ statistic: 0, pValue: 1 });
  });

  it('chi-square goodness of fit matches scipy.stats.chisquare', () => {
    // chisquare([30, 50, 20], [25, 50, 25]): statistic 2, p = e^(−1) with 2 degrees of freedom.
    const r = chiSquareGoodnessOfFit([30, 50, 20], [0.25, 0.5, 0.25]);
    expect(r.statistic).toBeCloseTo(2, 14);
    expect(r.df).toBe(2);
    expect(r.pValue).toBeCloseTo(Math.exp(-1), 14);
    // Bins empty on both sides do not count as degrees of freedom.
    expect(chiSquareGoodnessOfFit([30, 50, 20, 0], [0.25, 0.5, 0.25, 0]).df).toBe(2);
    // A value never seen in the reference is infinitely unlikely under it.
    expect(chiSquareGoodnessOfFit([30, 50, 19, 1], [0.25, 0.5, 0.25, 0])).toMatchObject({ statistic: Infinity, pValue: 0 });
  });

  it('two-proportion z-test with the pooled variance', () => {
    const r = twoProportionZTest(30, 100, 45, 100);
    expect(r.statistic).toBeCloseTo(-2.1908902300206647, 13);
    expect(r.pValue).toBeCloseTo(0.02845973691631065, 13);
    expect(twoProportionZTest(0, 50, 0, 70)).toEqual({ statistic: 0, pValue: 1 });
  });
});
