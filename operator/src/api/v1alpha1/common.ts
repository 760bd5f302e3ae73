// Building blocks shared by the three kinds. Every schema here is the single source of truth for
// both the TypeScript types (z.infer) and the generated CRD (crds/*.yaml, through crdgen).
import { z } from 'zod';

export const GROUP = 'orchard.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** One CEL rule, enforced at admission by the API server and again by zod when the operator parses. */
export interface Rule<T> {
  rule: string;
  message: string;
  /** Field the error is reported on, relative to the object the rule sits on (e.g. `.testFraction`). */
  fieldPath?: string;
  check: (value: T) => boolean;
}

/** Attaches CEL rules (x-kubernetes-validations) and the same checks as zod refinements. */
/** A zod issue path in Kubernetes field notation: spec.features.columns[0].type */
export function fieldPath(path: readonly PropertyKey[], root = 'spec'): string {
  return path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : `${acc}.${String(seg)}`), root);
}

/** The first problem of a failed parse as one line: "spec.field: message". */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${fieldPath(issue.path)}: ${issue.message}`;
}

export function withRules<S extends z.ZodType>(schema: S, rules: Rule<z.output<S>>[]): S {
  const refined = schema.superRefine((value, ctx) => {
    for (const r of rules) {
      if (!r.check(value)) {
        ctx.addIssue({ code: 'custom', message: r.message, path: r.fieldPath ? r.fieldPath.split('.').filter(Boolean) : [] });
      }
    }
  });
  return refined.meta({
    'x-kubernetes-validations': rules.map(({ rule, message, fieldPath }) => ({ rule, message, ...(fieldPath ? { fieldPath } : {}) })),
  }) as S;
}

/** A Kubernetes object name (DNS-1123 subdomain). */
export const objectName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a lowercase DNS-1123 name, e.g. "salaries"');

/** A data-set column name as it appears in the source file's header. */
export const columnName = z.string().min(1).max(256);

/** A name that becomes a model input: safe in ONNX, Prometheus labels and URLs. */
export const featureName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must start with a letter or "_" and contain only letters, digits, "_", "." or "-"');

/** A decimal number written as a string: the API keeps floats out of spec (Kubernetes API conventions). */
export const decimal = z
  .string()
  .max(32)
  .regex(/^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/, 'must be a decimal number written as a string, e.g. "0.18"');

/** A fraction strictly between 0 and 1, as a string (e.g. "0.2"). */
export const fraction = z
  .string()
  .max(32)
  .regex(/^0?\.\d*[1-9]\d*$/, 'must be a fraction between 0 and 1 written as a string, e.g. "0.2"');

/** A Kubernetes resource quantity ("500m", "2Gi", 4). */
export const quantity = z
  .union([
    z.int(),
    z
      .string()
      .regex(
        /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/,
        'must be a Kubernetes quantity such as "500m", "2Gi" or "4"',
      ),
  ])
  .meta({ 'x-kubernetes-int-or-string': true });

export const modelRef = z
  .object({ name: objectName.describe('Name of the RegisteredModel in the same namespace.') })
  .describe('Reference to a RegisteredModel in the same namespace.');

/** Where artifacts live: a local path (file://, for the local cluster and tests) or a GCS prefix (gs://). */
export const artifactUri = z
  .string()
  .max(1024)
  .regex(/^(file:\/\/\/|gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](\/|$))/, 'must be a file:///path or gs://bucket/prefix URI');

export const labelMap = z.record(z.string().max(316), z.string().max(63));

/** core/v1 Toleration, with the fields Orchard passes through. */
export const toleration = z.object({
  key: z.string().max(316).optional().describe('Taint key the toleration applies to; empty matches all keys.'),
  operator: z.enum(['Exists', 'Equal']).optional().describe('Exists or Equal (default Equal).'),
  value: z.string().max(63).optional().describe('Taint value to match with operator Equal.'),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional().describe('Taint effect to match; empty matches all effects.'),
  tolerationSeconds: z.int().min(0).optional().describe('How long a NoExecute taint is tolerated before eviction.'),
});

export const resources = z
  .object({
    requests: z.record(z.string().max(253), quantity).optional().describe('Minimum resources, e.g. {cpu: "1", memory: "2Gi"}.'),
    limits: z.record(z.string().max(253), quantity).optional().describe('Maximum resources, e.g. {memory: "4Gi"}.'),
  })
  .describe('Compute resources of the main container (core/v1 ResourceRequirements). Unset fields come from the operator defaults.');

/** Scheduling and identity of a Pod the operator creates; unset fields come from the operator defaults. */
export const podOptions = {
  resources: resources.optional(),
  nodeSelector: labelMap.optional().describe('Node labels the Pod must match, added to any the operator sets itself (e.g. the GKE accelerator label).'),
  tolerations: z.array(toleration).max(32).optional().describe('Tolerations added to the Pod, e.g. for a dedicated node pool.'),
  serviceAccountName: objectName
    .optional()
    .describe('ServiceAccount the Pod runs as; on GKE, the one bound to a Google service account through Workload Identity for bucket access.'),
};

export const jobOptions = {
  backoffLimit: z.int32().min(0).max(100).optional().describe('Retries of a failed Pod before the Job fails (default from the operator, 2).'),
  activeDeadlineSeconds: z.int().min(1).optional().describe('Wall-clock limit for the whole Job; past it the run fails with DeadlineExceeded.'),
  ttlSecondsAfterFinished: z.int32().min(0).optional().describe('Delete the finished Job (not this resource) after this many seconds.'),
};

export const conditionStatus = z.enum(['True', 'False', 'Unknown']);

/** metav1.Condition. */
export const condition = z.object({
  type: z.string().max(316).describe('Condition type, e.g. Succeeded, Ready, Drifted.'),
  status: conditionStatus.describe('True, False or Unknown.'),
  reason: z.string().max(1024).describe('CamelCase cause of the current status, e.g. Training or JobFailed.'),
  message: z.string().max(32768).describe('What happened and, when something is wrong, what to do about it.'),
  observedGeneration: z.int().min(0).optional().describe('metadata.generation the condition was computed from.'),
  lastTransitionTime: z.string().describe('When status last changed (RFC 3339).'),
});
export type Condition = z.infer<typeof condition>;

export const conditions = z
  .array(condition)
  .max(16)
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
  .describe('Observed state as conditions (Kubernetes API conventions).');

/** A table of metric name → value; values are decimal strings, so status never carries floats. */
export const metricTable = z.record(z.string().max(64), z.string().max(64));

export const observedGeneration = z.int().min(0).optional().describe('metadata.generation this status reflects.');

/** One feature's drift against the training reference, as the drift monitor reports it. */
export const featureDrift = z.object({
  name: z.string().describe('Model input (or "prediction").'),
  test: z.string().describe('Statistical test used, e.g. PSI, KS, ChiSquare, JensenShannon, Wasserstein.'),
  score: z.string().describe('Test statistic or p-value, as a decimal string.'),
  drifted: z.boolean().describe('Whether the score crossed the test\'s threshold.'),
});
