// Metrics on delayed ground truth, as statistics that add up across shards: each shard reports its
// sums, the operator merges them and derives the metrics. Definitions match the trainer's.
import type { TaskType } from '../api/v1alpha1/training-run.js';
import type { InputSchema } from '../features/schema.js';
import { inverseLabel } from '../features/target.js';

const EPS = 1e-15;
/** AUC from shards is computed on probabilities binned to 1/AUC_BINS; a single shard's is exact. */
export const AUC_BINS = 200;

export interface MetricStats {
  n: number;
  /** Regression: sums of squared and absolute errors, of y and of y². */
  sse?: number;
  sae?: number;
  sy?: number;
  syy?: number;
  /** Classification: summed log loss and correct predictions. */
  logloss?: number;
  correct?: number;
  /** Classification, per class: rows of the class, rows predicted as it, and rows of it predicted right. */
  support?: number[];
  predicted?: number[];
  hits?: number[];
  /** Binary: positives and negatives per probability bin, and the exact AUC when there is one shard. */
  pos?: number[];
  neg?: number[];
  auc?: number;
}

export function regressionStats(y: ArrayLike<number>, pred: ArrayLike<number>): MetricStats {
  const s: MetricStats = { n: y.length, sse: 0, sae: 0, sy: 0, syy: 0 };
  for (let i = 0; i < y.length; i++) {
    const e = pred[i]! - y[i]!;
    s.sse! += e * e;
    s.sae! += Math.abs(e);
    s.sy! += y[i]!;
    s.syy! += y[i]! * y[i]!;
  }
  return s;
}

/** `proba` is rows × classes; `y` the class index. */
export function classificationStats(task: TaskType, y: ArrayLike<number>, proba: ArrayLike<number>, classes: number): MetricStats {
  const s: MetricStats = { n: y.length, logloss: 0, correct: 0 };
  const [support, predictedAs, hits] = [0, 1, 2].map(() => new Array<number>(classes).fill(0)) as [number[], number[], number[]];
  for (let i = 0; i < y.length; i++) {
    const row = i * classes;
    const label = y[i]!;
    s.logloss! -= Math.log(Math.min(1 - (classes === 2 ? EPS : 0), Math.max(EPS, proba[row + label]!)));
    let best = 0;
    for (let c = 1; c < classes; c++) if (proba[row + c]! > proba[row + best]!) best = c;
    // Binary: positive when p > 0.5, CatBoost's own rule (ties go negative).
    const predicted = classes === 2 ? (proba[row + 1]! > 0.5 ? 1 : 0) : best;
    if (predicted === label) s.correct!++;
    support[label]!++;
    predictedAs[predicted]!++;
    if (predicted === label) hits[label]!++;
  }
  Object.assign(s, { support, predicted: predictedAs, hits });
  if (task === 'BinaryClassification') {
    s.pos = new Array<number>(AUC_BINS).fill(0);
    s.neg = new Array<number>(AUC_BINS).fill(0);
    const scores: [number, number][] = [];
    for (let i = 0; i < y.length; i++) {
      const p = proba[i * 2 + 1]!;
      const bin = Math.min(AUC_BINS - 1, Math.floor(p * AUC_BINS));
      (y[i] === 1 ? s.pos : s.neg)[bin]!++;
      scores.push([p, y[i]!]);
    }
    const auc = exactAuc(scores);
    if (auc !== undefined) s.auc = auc;
  }
  return s;
}

/** AUC with ties given their average rank (Mann–Whitney U). */
function exactAuc(scores: [number, number][]): number | undefined {
  const npos = scores.filter(([, y]) => y === 1).length;
  const nneg = scores.length - npos;
  if (npos === 0 || nneg === 0) return undefined;
  scores.sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  for (let i = 0; i < scores.length; ) {
    let j = i;
    while (j < scores.length && scores[j]![0] === scores[i]![0]) j++;
    const avg = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (scores[k]![1] === 1) rankSum += avg;
    i = j;
  }
  return (rankSum - (npos * (npos + 1)) / 2) / (npos * nneg);
}

/**
 * A model's outputs against encoded labels: regression labels are the training target (scaled,
 * log), compared in the target's own units; classification labels are class indices.
 */
export function labelStats(schema: InputSchema, labels: number[], predictions: ArrayLike<number>, probabilities: ArrayLike<number>): MetricStats {
  if (schema.task === 'Regression') return regressionStats(labels.map(inverseLabel(schema.features.target)), predictions);
  return classificationStats(schema.task, labels, probabilities, schema.classNames!.length);
}

export function mergeStats(parts: MetricStats[]): MetricStats | undefined {
  if (parts.length === 0) return undefined;
  if (parts.length === 1) return parts[0];
  const out: MetricStats = { n: 0 };
  for (const p of parts) {
    out.n += p.n;
    for (const k of ['sse', 'sae', 'sy', 'syy', 'logloss', 'correct'] as const) if (p[k] !== undefined) out[k] = (out[k] ?? 0) + p[k]!;
    if (p.pos && p.neg) {
      out.pos = (out.pos ?? new Array<number>(p.pos.length).fill(0)).map((v, i) => v + p.pos![i]!);
      out.neg = (out.neg ?? new Array<number>(p.neg.length).fill(0)).map((v, i) => v + p.neg![i]!);
    }
  }
  // Per-class counts add up only when every shard has them (a shard from an older Orchard has not).
  for (const k of ['support', 'predicted', 'hits'] as const) {
    if (parts.every((p) => p[k] !== undefined && p[k].length === parts[0]![k]?.length)) {
      out[k] = parts.reduce((sum, p) => sum.map((v, i) => v + p[k]![i]!), new Array<number>(parts[0]![k]!.length).fill(0));
    }
  }
  return out;
}

function binnedAuc(pos: number[], neg: number[]): number | undefined {
  const npos = pos.reduce((a, b) => a + b, 0);
  const nneg = neg.reduce((a, b) => a + b, 0);
  if (!npos || !nneg) return undefined;
  let below = 0;
  let u = 0;
  for (let b = 0; b < pos.length; b++) {
    u += pos[b]! * (below + neg[b]! / 2);
    below += neg[b]!;
  }
  return u / (npos * nneg);
}

export function metricsFromStats(task: TaskType, s: MetricStats): Record<string, number> {
  if (s.n === 0) return {};
  if (task === 'Regression') {
    const sst = s.syy! - (s.sy! * s.sy!) / s.n;
    return { RMSE: Math.sqrt(s.sse! / s.n), MAE: s.sae! / s.n, ...(sst > 0 ? { R2: 1 - s.sse! / sst } : {}) };
  }
  const out: Record<string, number> = { LogLoss: s.logloss! / s.n, Accuracy: s.correct! / s.n };
  if (task === 'BinaryClassification') {
    const auc = s.auc ?? (s.pos && s.neg ? binnedAuc(s.pos, s.neg) : undefined);
    if (auc !== undefined) out.AUC = auc;
  }
  if (s.support && s.predicted && s.hits) Object.assign(out, classMetrics(task, s.support, s.predicted, s.hits));
  return out;
}

/**
 * The trainer's per-class metrics (orchard_trainer.py): binary Precision, Recall and F1 of the
 * positive class, each left out where undefined; multiclass MacroF1 and BalancedAccuracy over the
 * classes present.
 */
function classMetrics(task: TaskType, support: number[], predicted: number[], hits: number[]): Record<string, number> {
  const f1 = (k: number) => (support[k]! + predicted[k]! > 0 ? (2 * hits[k]!) / (support[k]! + predicted[k]!) : 0);
  if (task === 'BinaryClassification') {
    return {
      ...(predicted[1]! > 0 ? { Precision: hits[1]! / predicted[1]! } : {}),
      ...(support[1]! > 0 ? { Recall: hits[1]! / support[1]! } : {}),
      ...(support[1]! + predicted[1]! > 0 ? { F1: f1(1) } : {}),
    };
  }
  const present = support.flatMap((n, k) => (n > 0 ? [k] : []));
  if (!present.length) return {};
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  return { MacroF1: mean(present.map(f1)), BalancedAccuracy: mean(present.map((k) => hits[k]! / support[k]!)) };
}
