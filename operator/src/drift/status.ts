// A drift report as the API carries it: decimal strings, no floats.
import type { DriftReport } from './evaluate.js';

export interface DriftStatus {
  driftedShare: string;
  drifted: 'True' | 'False';
  features: { name: string; test: string; score: string; drifted: boolean }[];
}

/** Four significant digits: enough to read a score, few enough that noise rarely rewrites status. */
export const driftDecimal = (v: number) => String(Number(v.toPrecision(4)));

export function driftStatusOf(report: DriftReport): DriftStatus {
  return {
    driftedShare: driftDecimal(report.driftedShare),
    drifted: report.datasetDrift ? 'True' : 'False',
    features: report.features.map((f) => ({ name: f.name, test: f.test, score: driftDecimal(f.score), drifted: f.drifted })),
  };
}
