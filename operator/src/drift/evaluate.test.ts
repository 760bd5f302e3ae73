import { describe, expect, it } from '@jest/globals';
import { categoricalProfile, numericProfile, referenceProfile, type ReferenceProfile } from '../features/profile.js';
import type { EncodedRow } from '../features/transform.js';
import { mulberry32 } from '../training/random.js';
import { DriftCounter } from './counts.js';
import { evaluateDrift, type DriftOptions, type DriftReport } from './evaluate.js';

const inputs = [
  { name: 'x', type: 'Numeric' as const, feature: 'x' },
  { name: 'level', type: 'Numeric' as const, feature: 'level' },
  { name: 'flag', type: 'Categorical' as const, feature: 'flag' },
  { name: 'city', type: 'Categorical' as const, feature: 'city' },
];
const names = inputs.map((i) => i.name);
const CITIES = ['Paris', 'Lyon', 'Lille', 'Nice', 'Nantes', 'Brest'];

interface Shift {
  x?: number;
  level?: number[];
  flag?: number;
  city?: number[];
  xMissing?: number;
}

/** Seeded rows: x ~ N(0, 1) + shift, level ∈ {0, 1, 2}, flag yes/no, six cities; the prediction is 2x. */
function rows(n: number, seed: number, shift: Shift = {}): [EncodedRow, number][] {
  const next = mulberry32(seed);
  const pick = (weights: number[]) => {
    let u = next() * weights.reduce((a, b) => a + b, 0);
    for (let i = 0; i < weights.length; i++) if ((u -= weights[i]!) < 0) return i;
    return weights.length - 1;
  };
  return Array.from({ length: n }, () => {
    const normal = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    const x = next() < (shift.xMissing ?? 0) ? Number.NaN : normal + (shift.x ?? 0);
    const row: EncodedRow = [x, pick(shift.level ?? [5, 3, 2]), next() < (shift.flag ?? 0.3) ? 'yes' : 'no', CITIES[pick(shift.city ?? [30, 25, 20, 12, 8, 5])]!];
    return [row, 2 * x];
  });
}

const train = rows(20_000, 1);
const profile: ReferenceProfile = {
  ...referenceProfile(inputs, train.map(([r]) => r)),
  prediction: numericProfile(train.map(([, p]) => p)),
};

const byWindow = { testChoiceBy: 'CurrentRows' } as const;

function judge(window: [EncodedRow, number][], p = profile, options: DriftOptions = {}): DriftReport {
  const counter = new DriftCounter(p, names);
  for (const [row, prediction] of window) counter.add(row, prediction);
  return evaluateDrift(p, counter.counts(), options);
}

const byName = (report: DriftReport) => Object.fromEntries(report.features.map((f) => [f.name, f]));

describe('evaluateDrift', () => {
  it('picks tests by sample size, type and number of values, as Evidently does', () => {
    const tests = (report: DriftReport) => report.features.map((f) => f.test);
    // 20,000 training rows: distances, whatever the window.
    expect(tests(judge(rows(500, 2)))).toEqual(['Wasserstein', 'JensenShannon', 'JensenShannon', 'JensenShannon']);
    expect(byName(judge(rows(500, 2))).x!.threshold).toBe(0.1);
    // 800 training rows: p-value tests; a numeric input with three values is judged as categorical.
    const small = rows(800, 1);
    const smallProfile = referenceProfile(inputs, small.map(([r]) => r));
    expect(tests(judge(rows(5000, 2), smallProfile))).toEqual(['KS', 'ChiSquare', 'ZTest', 'ChiSquare']);
    expect(byName(judge(rows(5000, 2), smallProfile)).city!.threshold).toBe(0.05);
    // Choosing by the window's size instead.
    expect(tests(judge(rows(500, 2), profile, byWindow))).toEqual(['KS', 'ChiSquare', 'ZTest', 'ChiSquare']);
    expect(tests(judge(rows(1001, 2), profile, byWindow))).toEqual(['Wasserstein', 'JensenShannon', 'JensenShannon', 'JensenShannon']);
  });

  it('finds no drift in large new samples of the training distribution', () => {
    for (const [n, seed] of [[5000, 5], [50_000, 6]] as const) {
      const report = judge(rows(n, seed));
      expect(report).toMatchObject({ rows: n, driftedFeatures: 0, driftedShare: 0, datasetDrift: false });
      expect(report.prediction).toMatchObject({ drifted: false });
      for (const f of report.features) expect(f.score).toBeLessThan(0.03);
      for (const f of report.features) expect(f.psi).toBeLessThan(0.01);
    }
  });

  it('raises false alarms on small samples of the training distribution no more often than the significance level says', () => {
    const alarms = new Map(names.map((n) => [n, 0]));
    let datasetDrift = 0;
    for (let seed = 100; seed < 300; seed++) {
      const report = judge(rows(300, seed), profile, byWindow);
      for (const f of report.features) if (f.drifted) alarms.set(f.name, alarms.get(f.name)! + 1);
      if (report.datasetDrift) datasetDrift++;
    }
    // 200 windows at p < 0.05: 10 expected, 16 is two binomial standard deviations above.
    for (const [, n] of alarms) expect(n).toBeLessThanOrEqual(16);
    expect(datasetDrift).toBe(0);
  });

  it('finds a shifted numeric input in small and large windows, and measures the shift in standard deviations', () => {
    const small = byName(judge(rows(500, 7, { x: 0.3 }), profile, byWindow));
    expect(small.x).toMatchObject({ test: 'KS', drifted: true });
    expect(small.x!.score).toBeLessThan(1e-3);
    const large = judge(rows(20_000, 8, { x: 0.5 }));
    expect(byName(large).x).toMatchObject({ test: 'Wasserstein', drifted: true });
    // The true distance is 0.5 σ; bins put each value at its bin's training mean.
    expect(byName(large).x!.score).toBeGreaterThan(0.45);
    expect(byName(large).x!.score).toBeLessThan(0.55);
    expect(large.prediction).toMatchObject({ test: 'Wasserstein', drifted: true });
    expect(large.driftedFeatures).toBe(1);
    expect(large.datasetDrift).toBe(false);
  });

  it('finds shifted categories and calls the window drifted once half the inputs drift', () => {
    const shifted = { level: [2, 3, 5], flag: 0.5, city: [10, 10, 10, 10, 30, 30] };
    for (const [n, options] of [[500, {}], [500, byWindow], [5000, {}]] as const) {
      const report = judge(rows(n, 9, shifted), profile, options);
      expect(report.features.filter((f) => f.drifted).map((f) => f.name)).toEqual(['level', 'flag', 'city']);
      expect(report).toMatchObject({ driftedFeatures: 3, driftedShare: 0.75, datasetDrift: true });
    }
    const two = judge(rows(5000, 10, { flag: 0.6, city: [10, 10, 10, 10, 30, 30] }));
    expect(two).toMatchObject({ driftedShare: 0.5, datasetDrift: true });
    expect(judge(rows(5000, 10, { flag: 0.6, city: [10, 10, 10, 10, 30, 30] }), profile, { driftShare: 0.6 }).datasetDrift).toBe(false);
  });

  describe('on hand-computed windows against a 1000-row reference', () => {
    const categories = (shares: Record<string, number>, n: number) => Object.entries(shares).flatMap(([c, s]) => new Array<string>(Math.round(s * n)).fill(c));
    const tiny: ReferenceProfile = { version: 2, rows: 1000, inputs: { c: categoricalProfile(categories({ a: 0.5, b: 0.3, c: 0.2 }, 1000)) } };
    const window = (shares: Record<string, number>, n: number, p = tiny) => {
      const counter = new DriftCounter(p, ['c']);
      for (const c of categories(shares, n)) counter.add([c]);
      return counter.counts();
    };

    it('chi-square p-value and PSI', () => {
      // chisquare([40, 40, 20], [50, 30, 20]) = 2 + 3.33 on 2 degrees of freedom: p = e^(−8/3)
      const [f] = evaluateDrift(tiny, window({ a: 0.4, b: 0.4, c: 0.2 }, 100)).features;
      expect(f).toMatchObject({ test: 'ChiSquare', basis: 'Values', rows: 100, drifted: false, missingShare: { reference: 0, current: 0 } });
      expect(f!.score).toBeCloseTo(Math.exp(-8 / 3), 14);
      // (0.4 − 0.5)·ln 0.8 + (0.4 − 0.3)·ln(4/3); empty "other" and missing slots add nothing.
      expect(f!.psi).toBeCloseTo(0.1 * Math.log(5 / 3), 14);
    });

    it('Jensen–Shannon distance for large samples', () => {
      const [f] = evaluateDrift(tiny, window({ a: 0.4, b: 0.4, c: 0.2 }, 10_000), byWindow).features;
      expect(f).toMatchObject({ test: 'JensenShannon', drifted: false, threshold: 0.1 });
      expect(f!.score).toBeCloseTo(0.07979472622921702, 14); // scipy jensenshannon([.5,.3,.2], [.4,.4,.2])
    });

    it('z-test on the first category of a binary input', () => {
      const binary: ReferenceProfile = { version: 2, rows: 1000, inputs: { c: categoricalProfile(categories({ b: 0.5, a: 0.5 }, 1000)) } };
      const [f] = evaluateDrift(binary, window({ a: 0.3, b: 0.7 }, 100, binary)).features;
      expect(f).toMatchObject({ test: 'ZTest', drifted: true });
      expect(f!.score).toBeCloseTo(0.00013542695454397586, 15); // 500/1000 against 30/100
    });
  });

  it('leaves missing values out of the test and reports them', () => {
    const report = byName(judge(rows(5000, 11, { xMissing: 0.2 })));
    expect(report.x).toMatchObject({ test: 'Wasserstein', drifted: false, missingShare: { reference: 0 } });
    expect(report.x!.missingShare.current).toBeCloseTo(0.2, 1);
    expect(report.x!.rows).toBe(5000 - Math.round(report.x!.missingShare.current * 5000));
    // PSI sees the missing values: 20 % missing where training had none.
    expect(report.x!.psi).toBeGreaterThan(1);
  });

  it('judges a column with no values in the window by how often it is missing', () => {
    const report = byName(judge(rows(200, 12, { xMissing: 1 })));
    expect(report.x).toMatchObject({ test: 'JensenShannon', basis: 'Missingness', rows: 200, drifted: true, missingShare: { reference: 0, current: 1 } });
    expect(report.x!.score).toBeCloseTo(Math.sqrt(Math.LN2), 14);
    expect(byName(judge(rows(200, 12, { xMissing: 1 }), profile, byWindow)).x).toMatchObject({ test: 'ZTest', basis: 'Missingness', score: 0, drifted: true });
  });

  it('refuses counts of another profile and empty windows', () => {
    const other = { ...profile, inputs: { ...profile.inputs, city: categoricalProfile(['Paris']) } };
    const counter = new DriftCounter(other, names);
    counter.add(rows(1, 13)[0]![0], 0);
    expect(() => evaluateDrift(profile, counter.counts())).toThrow(/not binned against this reference profile/);
    expect(() => evaluateDrift(profile, new DriftCounter(profile, names).counts())).toThrow(/at least one row/);
  });
});
