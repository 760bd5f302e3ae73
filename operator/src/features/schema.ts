// The model input schema: everything serving needs to turn a raw record into model inputs exactly
// as training did. Written by `orchard prepare`, stored beside model.onnx, read by the scorer and
// batch scoring.
import { z } from 'zod';
import { featureSpec } from '../api/v1alpha1/features.js';
import { taskType } from '../api/v1alpha1/training-run.js';

export const INPUT_SCHEMA_VERSION = 1;
/** Schemas that use features.cells, pattern or range: a reader that cannot apply them must refuse the model. */
export const INPUT_SCHEMA_VERSION_CELLS = 2;

export const modelInput = z.object({
  /** The ONNX input name. */
  name: z.string(),
  type: z.enum(['Numeric', 'Categorical']),
  /** The spec feature this input comes from. */
  feature: z.string(),
  /** MultiLabel indicators: the answer this input flags. */
  label: z.string().optional(),
});
export type ModelInput = z.infer<typeof modelInput>;

export const inputSchema = z.object({
  version: z.union([z.literal(INPUT_SCHEMA_VERSION), z.literal(INPUT_SCHEMA_VERSION_CELLS)]),
  task: taskType,
  features: featureSpec,
  inputs: z.array(modelInput),
  /** MultiLabel feature → the answers that got an indicator, most frequent first (learned on train). */
  multiLabel: z.record(z.string(), z.array(z.string())),
  /** Classification: class labels in model output order. Binary: [negative, positive]. */
  classNames: z.array(z.string()).optional(),
});
export type InputSchema = z.infer<typeof inputSchema>;
