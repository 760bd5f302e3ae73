// The label: class names for classification, scale and transform for regression. Inverse
// transforms run inside the ONNX graph; these are the forward ones, plus the inverse for metrics.
import type { FeatureSpec } from '../api/v1alpha1/features.js';
import type { TaskType } from '../api/v1alpha1/training-run.js';
import { quoteFileText } from '../artifacts/errors.js';
import { FeatureError, numericValue, ownValue, type RawValue } from './transform.js';

type Target = FeatureSpec['target'];

function mappedLabel(target: Target, value: RawValue): string | null {
  if (value === null || value === undefined || value === '') return null;
  const text = String(value);
  return ownValue(target.valueMap, text) ?? text;
}

/** Classes in model output order: sorted, except that a binary task puts positiveClass last. */
export function classNamesFor(task: TaskType, target: Target, values: Iterable<RawValue>): string[] {
  const seen = new Set<string>();
  for (const v of values) {
    const label = mappedLabel(target, v);
    if (label !== null) seen.add(label);
  }
  const classes = [...seen].sort();
  const where = `target column "${target.column}"`;
  if (task === 'BinaryClassification') {
    if (classes.length !== 2) {
      throw new FeatureError(target.column, `${where} has ${classes.length} classes (${preview(classes)}), BinaryClassification needs exactly 2: map spellings together with features.target.valueMap or use MulticlassClassification`);
    }
    const positive = target.positiveClass ?? classes[1]!;
    if (!classes.includes(positive)) {
      throw new FeatureError(target.column, `features.target.positiveClass "${positive}" is not a class of ${where} (classes: ${preview(classes)})`);
    }
    return [classes.find((c) => c !== positive)!, positive];
  }
  if (classes.length < 2) throw new FeatureError(target.column, `${where} has ${classes.length} class(es); classification needs at least 2`);
  if (classes.length > 1000) throw new FeatureError(target.column, `${where} has ${classes.length} distinct values: it looks numeric, use task Regression`);
  return classes;
}

// Classes are cells of the data file: through quoteFileText (its quotes left off) so no long cell comes back whole.
function preview(values: string[]): string {
  const shown = values.slice(0, 8).map((v) => quoteFileText(v).replace(/^"(.*)"$/, '$1'));
  return values.length > 8 ? `${shown.join(', ')}, ...` : shown.join(', ');
}

/** Label encoder: raw cell → training label (class index, or the transformed number); null when missing. */
export function labelEncoder(task: TaskType, target: Target, classNames: string[] | undefined): (value: RawValue) => number | null {
  if (task !== 'Regression') {
    const index = new Map((classNames ?? []).map((c, i) => [c, i]));
    return (value) => {
      const label = mappedLabel(target, value);
      if (label === null) return null;
      const i = index.get(label);
      if (i === undefined) throw new FeatureError(target.column, `target ${quoteFileText(label)} is not one of the training classes (${preview([...index.keys()])})`);
      return i;
    };
  }
  const scale = target.scale === undefined ? 1 : Number(target.scale);
  return (value) => {
    const label = mappedLabel(target, value);
    if (label === null) return null;
    let y;
    try {
      y = numericValue(label, target.column) / scale;
    } catch (err) {
      throw new FeatureError(target.column, `target column "${target.column}": ${quoteFileText(label)} is not a number; Regression needs a numeric target (filter such rows out or pick another column)`, { cause: err });
    }
    if (target.transform === 'Log') {
      if (!(y > 0)) throw new FeatureError(target.column, `target column "${target.column}" has ${label}: transform Log needs values > 0 (use Log1p, or filter with min)`);
      return Math.log(y);
    }
    if (target.transform === 'Log1p') {
      if (!(y > -1)) throw new FeatureError(target.column, `target column "${target.column}" has ${label}: transform Log1p needs values > -1 (filter with min)`);
      return Math.log1p(y);
    }
    return y;
  };
}

/** Training label → the target in its original units. */
export function inverseLabel(target: Target): (y: number) => number {
  const scale = target.scale === undefined ? 1 : Number(target.scale);
  if (target.transform === 'Log') return (y) => Math.exp(y) * scale;
  if (target.transform === 'Log1p') return (y) => Math.expm1(y) * scale;
  return (y) => y * scale;
}

/**
 * Raw model score → prediction in original units, as the ONNX graph computes it. `smearing` is
 * Duan's factor, mean(exp(residual)) on the training split, for estimate Mean: E[exp(z + e)] = exp(z)·s,
 * so Log gives exp(z)·s and Log1p, whose exp estimates 1 + y, gives exp(z)·s − 1.
 */
export function predictionOf(target: Target, smearing = 1): (raw: number) => number {
  if (target.estimate !== 'Mean' || target.transform === 'None') return inverseLabel(target);
  const scale = target.scale === undefined ? 1 : Number(target.scale);
  if (target.transform === 'Log') return (z) => Math.exp(z) * smearing * scale;
  return (z) => (Math.exp(z) * smearing - 1) * scale;
}
