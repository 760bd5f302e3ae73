// The statistical tests and distances of drift detection, on binned distributions: the reference
// as shares per slot (from the training profile), the current window as counts per slot. Pure
// functions of plain arrays; docs/drift.md says how each relates to Evidently's and scipy's.

/** Share that stands in for an empty bin in PSI, whose log ratio is otherwise infinite (Evidently's usual fill). */
export const PSI_EPSILON = 1e-4;

/** Shares of counts; all zeros stay zeros. */
export function toShares(counts: ArrayLike<number>): number[] {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  return Array.from(counts, (c) => (total ? c / total : 0));
}

/**
 * Population stability index, Σ (c − r)·ln(c / r) over bins, with empty bins (in either
 * distribution) given PSI_EPSILON instead of 0 and no renormalisation, as Evidently does.
 */
export function psi(reference: ArrayLike<number>, current: ArrayLike<number>, epsilon = PSI_EPSILON): number {
  let sum = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i]! || epsilon;
    const c = current[i]! || epsilon;
    sum += (c - r) * Math.log(c / r);
  }
  return sum;
}

/**
 * Jensen–Shannon distance with natural logarithms, as scipy.spatial.distance.jensenshannon with
 * its default base: the square root of the JS divergence, between 0 and √ln 2 ≈ 0.8326. Inputs
 * are normalised first, as scipy does.
 */
export function jensenShannonDistance(p: ArrayLike<number>, q: ArrayLike<number>): number {
  const ps = toShares(p);
  const qs = toShares(q);
  let divergence = 0;
  for (let i = 0; i < ps.length; i++) {
    const m = (ps[i]! + qs[i]!) / 2;
    if (ps[i]! > 0) divergence += ps[i]! * Math.log(ps[i]! / m);
    if (qs[i]! > 0) divergence += qs[i]! * Math.log(qs[i]! / m);
  }
  return Math.sqrt(Math.max(0, divergence / 2));
}

/**
 * First Wasserstein distance between two distributions on the same points `values` (ascending):
 * ∫|F − G| = Σ |F(x_i) − G(x_i)|·(x_{i+1} − x_i). Exact for point masses, as scipy's
 * wasserstein_distance(values, values, p, q); for binned data each bin's mass sits at one value.
 */
export function wassersteinOnPoints(values: ArrayLike<number>, p: ArrayLike<number>, q: ArrayLike<number>): number {
  const ps = toShares(p);
  const qs = toShares(q);
  let f = 0;
  let g = 0;
  let sum = 0;
  for (let i = 0; i + 1 < values.length; i++) {
    f += ps[i]!;
    g += qs[i]!;
    sum += Math.abs(f - g) * (values[i + 1]! - values[i]!);
  }
  return sum;
}

export interface TestResult {
  statistic: number;
  pValue: number;
}

/**
 * Two-sample Kolmogorov–Smirnov on binned data: D is the largest gap between the two CDFs at the
 * bin boundaries (never more than the unbinned D, so the test errs towards "no drift"), the
 * p-value the limiting Kolmogorov distribution at √ne·D with ne = n·m/(n+m) (scipy's kstwobign).
 * scipy's ks_2samp(method='asymp') uses the finite-sample kstwo(round(ne)) instead, which
 * approaches this limit as ne grows.
 */
export function ksTwoSampleBinned(reference: ArrayLike<number>, current: ArrayLike<number>, n: number, m: number): TestResult {
  const rs = toShares(reference);
  const cs = toShares(current);
  let f = 0;
  let g = 0;
  let d = 0;
  for (let i = 0; i < rs.length; i++) {
    f += rs[i]!;
    g += cs[i]!;
    d = Math.max(d, Math.abs(f - g));
  }
  const effective = (n * m) / (n + m);
  return { statistic: d, pValue: kolmogorovSurvival(Math.sqrt(effective) * d) };
}

/** P(K > λ) for the Kolmogorov distribution (scipy.stats.kstwobign.sf). */
export function kolmogorovSurvival(lambda: number): number {
  if (!(lambda > 0)) return 1;
  if (lambda < 1.18) {
    // Jacobi-theta form of the CDF: converges in a few terms where the alternating series does not.
    const k = -(Math.PI * Math.PI) / (8 * lambda * lambda);
    let sum = 0;
    for (let j = 1; j <= 12; j++) sum += Math.exp((2 * j - 1) * (2 * j - 1) * k);
    return 1 - (Math.sqrt(2 * Math.PI) / lambda) * sum;
  }
  let sum = 0;
  for (let j = 1; j <= 100; j++) {
    const term = Math.exp(-2 * j * j * lambda * lambda);
    sum += j % 2 ? term : -term;
    if (term < 1e-17) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/**
 * Pearson's chi-square goodness of fit of observed counts to expected shares (scaled to the
 * observed total), as scipy.stats.chisquare. Bins empty in both are left out; a bin with
 * observations where none were expected makes the statistic infinite and the p-value 0.
 */
export function chiSquareGoodnessOfFit(observed: ArrayLike<number>, expectedShares: ArrayLike<number>): TestResult & { df: number } {
  let total = 0;
  for (let i = 0; i < observed.length; i++) total += observed[i]!;
  const es = toShares(expectedShares);
  let statistic = 0;
  let bins = 0;
  for (let i = 0; i < observed.length; i++) {
    const o = observed[i]!;
    const e = es[i]! * total;
    if (o === 0 && e === 0) continue;
    bins++;
    statistic += e === 0 ? Infinity : ((o - e) * (o - e)) / e;
  }
  const df = bins - 1;
  return { statistic, df, pValue: df > 0 ? chiSquareSurvival(statistic, df) : 1 };
}

/**
 * Two-sided z-test for two proportions with the pooled variance (Evidently's binary test):
 * x1 of n1 against x2 of n2. Equal proportions of 0 or 1 give z = 0 and p = 1.
 */
export function twoProportionZTest(x1: number, n1: number, x2: number, n2: number): TestResult {
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  const z = se > 0 ? (p1 - p2) / se : 0;
  return { statistic: z, pValue: normalTwoSidedP(z) };
}

/** P(|Z| > |z|) for a standard normal Z: erfc(|z|/√2) = Q(1/2, z²/2). */
export function normalTwoSidedP(z: number): number {
  return regularizedGammaQ(0.5, (z * z) / 2);
}

/** P(X > x) for X ~ χ²(df) (scipy.stats.chi2.sf). */
export function chiSquareSurvival(x: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`chi-square degrees of freedom must be positive, got ${df}`);
  return regularizedGammaQ(df / 2, Math.max(0, x / 2));
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error about 1e-15). */
export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  const y = x - 1;
  let a = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) a += LANCZOS[i]! / (y + i);
  const t = y + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

const GAMMA_EPS = 1e-16;
const GAMMA_TINY = 1e-300;
const GAMMA_ITERATIONS = 10_000;

/**
 * Regularised upper incomplete gamma Q(a, x) = Γ(a, x)/Γ(a) (scipy.special.gammaincc): the series
 * for P below x = a + 1, Lentz's continued fraction for Q above, where each converges fast.
 */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new RangeError(`regularizedGammaQ needs a > 0 and x ≥ 0, got a=${a}, x=${x}`);
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  const logPrefix = -x + a * Math.log(x) - lnGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < GAMMA_ITERATIONS; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * GAMMA_EPS) break;
    }
    return Math.max(0, 1 - sum * Math.exp(logPrefix));
  }
  let b = x + 1 - a;
  let c = 1 / GAMMA_TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < GAMMA_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < GAMMA_TINY) d = GAMMA_TINY;
    c = b + an / c;
    if (Math.abs(c) < GAMMA_TINY) c = GAMMA_TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < GAMMA_EPS) break;
  }
  return Math.exp(logPrefix) * h;
}
