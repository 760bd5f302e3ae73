// What the operator tells the scorer and the drift monitor, as JSON in one environment variable
// each: one schema for both sides, so the Deployment builder and the containers cannot disagree.
import { z } from 'zod';

const modelUri = z.string().regex(/^(file:\/\/\/|gs:\/\/)/, 'must start with file:/// or gs://');

/**
 * Fields of a record that the model does not read. Reject: 400 (clients that want a typo caught).
 * Ignore: accepted and unused, so full rows of the training file (target, id and dropped columns)
 * score as they are; a misspelt input is still refused, as that input is then missing. PassThrough:
 * Ignore, and `passThrough` (default: the model's idColumns) echoed beside each prediction.
 */
export const extraFieldsPolicy = z.enum(['Reject', 'Ignore', 'PassThrough']);
export type ExtraFieldsPolicy = z.infer<typeof extraFieldsPolicy>;
export const extraFields = z.object({ policy: extraFieldsPolicy, passThrough: z.array(z.string().min(1)).optional() });
export type ExtraFields = z.infer<typeof extraFields>;
/** Absent from the scorer's spec: so a RegisteredModel left at its default keeps the Deployment it had. */
export const DEFAULT_EXTRA_FIELDS: ExtraFields = { policy: 'Ignore' };

export const scorerSpec = z.object({
  model: z.string().min(1),
  version: z.int().min(1),
  modelUri,
  challenger: z.object({ version: z.int().min(1), modelUri, percent: z.number().min(0).max(100) }).optional(),
  maxBatchRows: z.int().min(1),
  maxBodyBytes: z.int().min(1),
  port: z.int().min(0).max(65535),
  /** Where the counts of every scored row are sent, best effort, for drift monitoring. */
  driftUrl: z.string().optional(),
  /** Rows per count block sent to the monitor: the drift window's granularity. */
  driftBlockRows: z.int().min(1).optional(),
  extraFields: extraFields.optional(),
});
export type ScorerSpec = z.infer<typeof scorerSpec>;

export const driftSidecarSpec = z.object({
  model: z.string().min(1),
  version: z.int().min(1),
  modelUri,
  /** The read side (/v1/drift, /metrics, /healthz), on the Pod's address for the operator and Prometheus. */
  port: z.int().min(0).max(65535),
  /** Where the scorer posts its count blocks: on loopback only, so no other Pod can forge them. */
  ingestPort: z.int().min(0).max(65535),
  windowRows: z.int().min(1),
  windowSeconds: z.int().min(1),
  minRows: z.int().min(1),
  driftShare: z.string(),
});
export type DriftSidecarSpec = z.infer<typeof driftSidecarSpec>;
