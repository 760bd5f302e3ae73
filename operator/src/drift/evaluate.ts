// Judges a window of drift counts against the reference profile: one test per model input, chosen
// the way Evidently chooses its default, plus PSI for every input, and the share of drifted inputs
// that makes the whole window drifted. docs/drift.md explains each default.
import type { ColumnProfile, ReferenceProfile } from '../features/profile.js';
import { driftLayout, rankedCategories, type DriftCounts, type SlotLayout } from './counts.js';
import {
  chiSquareGoodnessOfFit, jensenShannonDistance, ksTwoSampleBinned, psi, toShares, twoProportionZTest, wassersteinOnPoints,
} from './tests.js';

export type DriftTest = 'KS' | 'Wasserstein' | 'ChiSquare' | 'ZTest' | 'JensenShannon';

export interface DriftOptions {
  /** Share of drifted inputs at which the window as a whole has drifted (Evidently's drift_share). */
  driftShare?: number;
  /** Samples of at most this many values get p-value tests, larger ones distance thresholds. */
  smallSampleRows?: number;
  /**
   * Whose sample size picks the test: the reference's, as Evidently does (a model trained on more
   * than smallSampleRows rows is always judged by distances), or the window's.
   */
  testChoiceBy?: 'ReferenceRows' | 'CurrentRows';
  /** Numeric inputs with at most this many distinct training values are judged as categorical. */
  maxCategoricalValues?: number;
  /** Significance level of KS, ChiSquare and ZTest. */
  pValue?: number;
  /** Wasserstein distance, in reference standard deviations, at which a numeric input has drifted. */
  wassersteinThreshold?: number;
  /** Jensen–Shannon distance (natural log) at which a categorical input has drifted. */
  jensenShannonThreshold?: number;
}

export const DRIFT_DEFAULTS: Required<DriftOptions> = {
  driftShare: 0.5,
  smallSampleRows: 1000,
  testChoiceBy: 'ReferenceRows',
  maxCategoricalValues: 5,
  pValue: 0.05,
  wassersteinThreshold: 0.1,
  jensenShannonThreshold: 0.1,
};

export interface ColumnDrift {
  name: string;
  /** The column's type in the model; the test says how it was judged. */
  kind: 'Numeric' | 'Categorical';
  test: DriftTest;
  /** What the test judged: the present values, or only whether values are missing (when the window or the reference has none). */
  basis: 'Values' | 'Missingness';
  /** p-value (KS, ChiSquare, ZTest) or distance (Wasserstein in reference standard deviations, JensenShannon). */
  score: number;
  threshold: number;
  drifted: boolean;
  /** Population stability index over all slots, missing included. */
  psi: number;
  /** Values the test judged from the window. */
  rows: number;
  missingShare: { reference: number; current: number };
}

export interface DriftReport {
  rows: number;
  features: ColumnDrift[];
  /** The prediction, judged like an input; not counted in driftedShare. */
  prediction?: ColumnDrift;
  driftedFeatures: number;
  driftedShare: number;
  datasetDrift: boolean;
}

/** Judges `counts` (from DriftCounter or mergeCounts) against the profile they were counted with. Needs at least one row. */
export function evaluateDrift(profile: ReferenceProfile, counts: DriftCounts, options: DriftOptions = {}): DriftReport {
  const o = { ...DRIFT_DEFAULTS, ...options };
  const layout = driftLayout(profile);
  if (counts.layout !== layout.fingerprint) {
    throw new Error(`drift counts of layout ${counts.layout} were not binned against this reference profile (layout ${layout.fingerprint}): compare them with the profile of the model version that counted them`);
  }
  if (counts.rows === 0) throw new RangeError('drift needs at least one row to judge');
  const features = layout.inputs.map((i) => judgeColumn(i.name, profile.inputs[i.name]!, i.slots, counts.inputs[i.name]!, counts.rows, o));
  const driftedFeatures = features.filter((f) => f.drifted).length;
  const driftedShare = features.length ? driftedFeatures / features.length : 0;
  const report: DriftReport = { rows: counts.rows, features, driftedFeatures, driftedShare, datasetDrift: features.length > 0 && driftedShare >= o.driftShare };
  if (profile.prediction && layout.prediction && counts.prediction) {
    report.prediction = judgeColumn('prediction', profile.prediction, layout.prediction, counts.prediction, counts.rows, o);
  }
  return report;
}

/** The training distribution over a column's present-value slots (everything but missing). */
interface Reference {
  shares: number[];
  present: number;
  missingShare: number;
  distinct: number;
  /** Present-value slot of the first value (smallest number, first category name), for the z-test. */
  firstSlot: number;
  /** Numeric: where each slot's mass sits, and the population standard deviation. */
  values?: number[];
  std?: number;
}

function referenceOf(profile: ColumnProfile, slots: SlotLayout): Reference {
  const present = profile.count - profile.missing;
  const missingShare = profile.count ? profile.missing / profile.count : 0;
  if (profile.type === 'Numeric') {
    return {
      // Below-min and above-max slots are empty in training by construction.
      shares: [0, ...profile.shares, 0],
      present,
      missingShare,
      distinct: profile.distinct ?? Infinity,
      firstSlot: 1,
      values: [profile.min, ...profile.means, profile.max],
      std: present > 1 ? profile.std * Math.sqrt((present - 1) / present) : 0,
    };
  }
  const categories = slots.kind === 'Categorical' ? slots.categories : rankedCategories(profile.shares);
  // Profile shares are of all rows, missing included; tests compare present values.
  const shares = categories.map((c) => (present ? (profile.shares[c]! * profile.count) / present : 0));
  const other = Math.max(0, 1 - shares.reduce((a, b) => a + b, 0));
  let first = 0;
  categories.forEach((c, i) => {
    if (c < categories[first]!) first = i;
  });
  return { shares: [...shares, present ? other : 0], present, missingShare, distinct: profile.distinct - (profile.missing > 0 ? 1 : 0), firstSlot: first };
}

function judgeColumn(name: string, profile: ColumnProfile, slots: SlotLayout, counts: number[], rows: number, o: Required<DriftOptions>): ColumnDrift {
  const ref = referenceOf(profile, slots);
  const missing = counts.at(-1)!;
  const current = counts.slice(0, -1);
  const present = rows - missing;
  const psiValue = psi([...ref.shares.map((s) => s * (1 - ref.missingShare)), ref.missingShare], toShares(counts));
  const missingShare = { reference: ref.missingShare, current: missing / rows };
  const result = (test: DriftTest, basis: ColumnDrift['basis'], judged: number, score: number, threshold: number, drifted: boolean): ColumnDrift => ({
    name, kind: profile.type, test, basis, score, threshold, drifted, psi: psiValue, rows: judged, missingShare,
  });
  // Evidently's KS drifts at p <= alpha, its chi-square and z-test at p < alpha.
  const pTest = (test: DriftTest, basis: ColumnDrift['basis'], judged: number, pValue: number, inclusive = false) =>
    result(test, basis, judged, pValue, o.pValue, inclusive ? pValue <= o.pValue : pValue < o.pValue);
  const distance = (test: DriftTest, basis: ColumnDrift['basis'], judged: number, value: number, threshold: number) =>
    result(test, basis, judged, value, threshold, value >= threshold);

  if (ref.present === 0 || present === 0) {
    // Nothing to compare but how often the column is missing.
    const small = (o.testChoiceBy === 'CurrentRows' ? rows : profile.count) <= o.smallSampleRows;
    if (small) return pTest('ZTest', 'Missingness', rows, twoProportionZTest(profile.missing, profile.count, missing, rows).pValue);
    return distance('JensenShannon', 'Missingness', rows, jensenShannonDistance([1 - ref.missingShare, ref.missingShare], [present, missing]), o.jensenShannonThreshold);
  }

  const small = (o.testChoiceBy === 'CurrentRows' ? present : ref.present) <= o.smallSampleRows;
  const categorical = profile.type === 'Categorical' || ref.distinct <= o.maxCategoricalValues;
  if (!categorical) {
    if (small) return pTest('KS', 'Values', present, ksTwoSampleBinned(ref.shares, current, ref.present, present).pValue, true);
    const w = wassersteinOnPoints(ref.values!, ref.shares, current) / Math.max(ref.std!, 0.001);
    return distance('Wasserstein', 'Values', present, w, o.wassersteinThreshold);
  }
  if (small && ref.distinct <= 2) {
    const x1 = ref.shares[ref.firstSlot]! * ref.present;
    return pTest('ZTest', 'Values', present, twoProportionZTest(x1, ref.present, current[ref.firstSlot]!, present).pValue);
  }
  if (small) return pTest('ChiSquare', 'Values', present, chiSquareGoodnessOfFit(current, ref.shares).pValue);
  return distance('JensenShannon', 'Values', present, jensenShannonDistance(ref.shares, current), o.jensenShannonThreshold);
}
