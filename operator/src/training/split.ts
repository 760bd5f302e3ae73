// Train / validation / test assignment: seeded random, by group (near-duplicates stay together),
// or by time (the latest rows are held out).
import type { TrainingData } from '../api/v1alpha1/data.js';
import type { RecordReader } from '../features/transform.js';
import { shuffle } from './random.js';

export type Part = 'train' | 'validation' | 'test';
type SplitSpec = TrainingData['split'];

/** Assigns each row a part. `testFraction` 0 means the test set comes from elsewhere. */
export function assignParts(rows: RecordReader[], spec: SplitSpec, testFraction: number): Part[] {
  const validationFraction = Number(spec.validationFraction);
  const parts = new Array<Part>(rows.length).fill('train');
  // Units are rows, or groups of rows; units are taken in this order for test, then validation.
  let units: number[][];
  if (spec.strategy === 'Group') {
    const groups = new Map<string, number[]>();
    rows.forEach((read, i) => {
      const key = JSON.stringify(spec.groupColumns!.map((c) => read(c) ?? null));
      const g = groups.get(key);
      if (g) g.push(i);
      else groups.set(key, [i]);
    });
    units = shuffle([...groups.values()], spec.seed);
  } else if (spec.strategy === 'Time') {
    const order = rows.map((read) => read(spec.orderColumn!));
    const numeric = order.every((v) => v !== null && v !== undefined && v !== '' && Number.isFinite(Number(v)));
    const key = (i: number): number | string => (numeric ? Number(order[i]) : String(order[i] ?? ''));
    const idx = rows.map((_, i) => i).sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      return ka < kb ? 1 : ka > kb ? -1 : b - a; // latest first
    });
    units = idx.map((i) => [i]);
  } else {
    units = shuffle(rows.map((_, i) => [i]), spec.seed);
  }
  const testRows = Math.round(rows.length * testFraction);
  const validationRows = Math.round(rows.length * validationFraction);
  let taken = 0;
  for (const unit of units) {
    const part: Part = taken < testRows ? 'test' : taken < testRows + validationRows ? 'validation' : 'train';
    for (const i of unit) parts[i] = part;
    taken += unit.length;
  }
  return parts;
}
