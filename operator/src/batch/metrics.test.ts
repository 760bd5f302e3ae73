import { describe, expect, it } from '@jest/globals';
import { classificationStats, mergeStats, metricsFromStats } from './metrics.js';

/** Rows × classes probabilities, one-hot-ish: class `p` predicted with probability 0.7. */
const proba = (predicted: number[], classes: number): number[] =>
  predicted.flatMap((p) => Array.from({ length: classes }, (_, c) => (c === p ? 0.7 : 0.3 / (classes - 1))));

describe('per-class metrics from statistics that add up across shards', () => {
  // 3 classes; truth and prediction chosen so every count differs.
  const y = [0, 0, 0, 0, 1, 1, 1, 2, 2, 0];
  const predicted = [0, 0, 1, 2, 1, 1, 0, 2, 1, 0];

  it('multiclass: MacroF1 and BalancedAccuracy as the trainer computes them', () => {
    const m = metricsFromStats('MulticlassClassification', classificationStats('MulticlassClassification', y, proba(predicted, 3), 3));
    // class 0: support 5, predicted 4, hits 3; class 1: 3, 4, 2; class 2: 2, 2, 1.
    const f1 = [(2 * 3) / 9, (2 * 2) / 7, (2 * 1) / 4];
    expect(m.MacroF1).toBeCloseTo((f1[0]! + f1[1]! + f1[2]!) / 3, 12);
    expect(m.BalancedAccuracy).toBeCloseTo((3 / 5 + 2 / 3 + 1 / 2) / 3, 12);
    expect(m.Accuracy).toBeCloseTo(6 / 10, 12);
  });

  it('gives the same metrics from shards as from all rows at once', () => {
    const whole = metricsFromStats('MulticlassClassification', classificationStats('MulticlassClassification', y, proba(predicted, 3), 3));
    const shards = [[0, 4], [4, 7], [7, 10]].map(([a, b]) => classificationStats('MulticlassClassification', y.slice(a, b), proba(predicted.slice(a, b), 3), 3));
    const merged = metricsFromStats('MulticlassClassification', mergeStats(shards)!);
    for (const k of ['MacroF1', 'BalancedAccuracy', 'Accuracy', 'LogLoss']) expect(merged[k]).toBeCloseTo(whole[k]!, 12);
  });

  it('averages over the classes present: a class absent from the rows has no recall', () => {
    const m = metricsFromStats('MulticlassClassification', classificationStats('MulticlassClassification', [0, 0, 1], proba([0, 2, 1], 3), 3));
    // class 2 is predicted once but never true: it counts in precision terms only, not in the averages.
    expect(m.BalancedAccuracy).toBeCloseTo((1 / 2 + 1) / 2, 12);
    expect(m.MacroF1).toBeCloseTo(((2 * 1) / 3 + 1) / 2, 12);
  });

  it('leaves the per-class metrics out when a shard from an older Orchard has no per-class counts', () => {
    const current = classificationStats('MulticlassClassification', y, proba(predicted, 3), 3);
    const { support: _s, predicted: _p, hits: _h, ...older } = current;
    const m = metricsFromStats('MulticlassClassification', mergeStats([current, older])!);
    expect(Object.keys(m).sort()).toEqual(['Accuracy', 'LogLoss']);
  });

  it('binary: Precision, Recall and F1 of the positive class at p > 0.5, each only where defined', () => {
    const p1 = [0.9, 0.6, 0.4, 0.2, 0.7, 0.5]; // 0.5 is negative, as CatBoost predicts
    const labels = [1, 0, 1, 0, 1, 1];
    const m = metricsFromStats('BinaryClassification', classificationStats('BinaryClassification', labels, p1.flatMap((p) => [1 - p, p]), 2));
    // predicted positive: rows 0, 1, 4 (tp 2, fp 1); positives 4.
    expect(m.Precision).toBeCloseTo(2 / 3, 12);
    expect(m.Recall).toBeCloseTo(2 / 4, 12);
    expect(m.F1).toBeCloseTo(4 / 7, 12);
    const none = metricsFromStats('BinaryClassification', classificationStats('BinaryClassification', [0, 1], [0.9, 0.1, 0.8, 0.2], 2));
    expect(none.Precision).toBeUndefined(); // nothing predicted positive
    expect(none.Recall).toBe(0);
    expect(none.F1).toBe(0);
  });
});
