// Pure builders: a RegisteredModel's champion (and canary challenger) → the scoring Deployment,
// its Service and, when the model or the operator's default asks, a HorizontalPodAutoscaler.
import { createHash } from 'node:crypto';
import { API_VERSION } from '../../api/v1alpha1/common.js';
import type { ModelVersion, RegisteredModelSpec } from '../../api/v1alpha1/registered-model.js';
import { DEFAULT_EXTRA_FIELDS, type DriftSidecarSpec, type ScorerSpec } from '../../serving/spec.js';
import { CONTAINER_SECURITY_CONTEXT, LABELS, POD_SECURITY_CONTEXT, TMP_MOUNT, TMP_VOLUME } from '../training-run/desired.js';

export interface RegisteredModelObject {
  metadata: { name: string; namespace: string; uid: string; generation?: number };
  spec: RegisteredModelSpec;
}

export type ServingAutoscaling = NonNullable<RegisteredModelSpec['serving']['autoscaling']>;

/** What the operator adds to every scoring Pod; from its flags and the Helm values. */
export interface ServingDefaults {
  image: string;
  serviceAccountName?: string;
  /** Scorer resources when serving.resources is unset; the autoscaler needs a CPU request. */
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  /** Autoscaling for models whose serving.autoscaling is unset (the chart's scorer.autoscaling). */
  autoscaling?: ServingAutoscaling;
}

export const SCORER_PORT = 8080;
export const DRIFT_PORT = 9091;
/** The drift monitor's ingest port: on the Pod's loopback, where only the scorer beside it posts. */
export const DRIFT_INGEST_PORT = 9092;
export const SERVICE_PORT = 80;
/** Input hash of the desired object: an unchanged hash means no update, whoever edited the object since. */
export const SPEC_HASH_ANNOTATION = 'orchard.dev/spec-hash';
export const VERSION_ANNOTATION = 'orchard.dev/version';
export const CHALLENGER_ANNOTATION = 'orchard.dev/challenger-version';

export const DEFAULT_SCORER_RESOURCES = { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } };
const DRIFT_RESOURCES = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };

export type { DriftSidecarSpec, ScorerSpec };

/**
 * Name of the Deployment, Service and autoscaler. Services need a DNS-1035 label, model names may
 * be DNS-1123 subdomains: dots or a leading digit turn into a hashed, still deterministic name.
 */
export function servingName(model: string): string {
  const suffix = 'scorer';
  const label = /^[a-z]/.test(model) && !model.includes('.') ? model : `m-${model.replaceAll('.', '-')}`;
  const plain = label === model ? `${model}-${suffix}` : undefined;
  if (plain && plain.length <= 63) return plain;
  const hash = createHash('sha256').update(model).digest('hex').slice(0, 8);
  return `${label.slice(0, 63 - suffix.length - hash.length - 2).replace(/-+$/, '')}-${hash}-${suffix}`;
}

export function servingUrl(model: RegisteredModelObject): string {
  return `http://${servingName(model.metadata.name)}.${model.metadata.namespace}.svc.cluster.local`;
}

/**
 * The autoscaling a model's scoring Deployment gets: its own serving.autoscaling, else the
 * operator's default. A model pins its replicas with minReplicas = maxReplicas. serving.replicas 0
 * (never the API default, so always asked for) means serve nothing and gets no default autoscaler,
 * which could not scale below one Pod.
 */
export function servingAutoscaling(model: RegisteredModelObject, defaults: Pick<ServingDefaults, 'autoscaling'>): ServingAutoscaling | undefined {
  const { serving } = model.spec;
  if (serving.autoscaling) return serving.autoscaling;
  return serving.replicas > 0 ? defaults.autoscaling : undefined;
}

function labelsOf(model: RegisteredModelObject): Record<string, string> {
  return { [LABELS.name]: 'orchard', [LABELS.component]: 'scorer', [LABELS.managedBy]: 'orchard', [LABELS.model]: model.metadata.name };
}

export function selectorOf(model: RegisteredModelObject): Record<string, string> {
  return { [LABELS.component]: 'scorer', [LABELS.model]: model.metadata.name };
}

function ownerReference(model: RegisteredModelObject) {
  return { apiVersion: API_VERSION, kind: 'RegisteredModel', name: model.metadata.name, uid: model.metadata.uid, controller: true, blockOwnerDeletion: true };
}

export function specHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

function withHash<T extends { metadata: { name: string; annotations?: Record<string, string> } }>(object: T, hashed: unknown): T {
  object.metadata.annotations = { ...(object.metadata.annotations ?? {}), [SPEC_HASH_ANNOTATION]: specHash(hashed) };
  return object;
}

const probe = (path: string, port: string, periodSeconds: number, failureThreshold: number) => ({
  httpGet: { path, port },
  periodSeconds,
  failureThreshold,
  timeoutSeconds: 2,
});

/**
 * The scoring Deployment. A new champion changes the Pod template, so the Deployment rolls out:
 * maxUnavailable 0 keeps every old Pod serving until a new one passes readiness (model loaded and
 * warmed up). A canary challenger is loaded by every scorer, which sends it challengerPercent of
 * the requests: the share is exact per request whatever the replica count or client connection reuse.
 */
export function buildScoringDeployment(
  model: RegisteredModelObject,
  champion: ModelVersion,
  challenger: ModelVersion | undefined,
  defaults: ServingDefaults,
): Record<string, any> {
  const { serving, drift } = model.spec;
  const name = servingName(model.metadata.name);
  const canary = serving.canary && challenger ? { version: challenger.version, modelUri: challenger.artifactUri, percent: serving.canary.challengerPercent } : undefined;
  const scorer: ScorerSpec = {
    model: model.metadata.name,
    version: champion.version,
    modelUri: champion.artifactUri,
    ...(canary ? { challenger: canary } : {}),
    maxBatchRows: serving.maxBatchRows,
    maxBodyBytes: serving.maxBodyBytes,
    port: SCORER_PORT,
    driftUrl: `http://127.0.0.1:${DRIFT_INGEST_PORT}/v1/blocks`,
    driftBlockRows: Math.max(1, Math.ceil(drift.windowRows / 20)),
    // The default is the scorer's own: left out, so a model at the default keeps its Deployment (no rollout on upgrade).
    ...(serving.extraFields.policy !== DEFAULT_EXTRA_FIELDS.policy || serving.extraFields.passThrough ? { extraFields: serving.extraFields } : {}),
  };
  const sidecar: DriftSidecarSpec = {
    model: model.metadata.name,
    version: champion.version,
    modelUri: champion.artifactUri,
    port: DRIFT_PORT,
    ingestPort: DRIFT_INGEST_PORT,
    windowRows: drift.windowRows,
    windowSeconds: drift.windowSeconds,
    minRows: drift.minRows,
    driftShare: drift.driftShare,
  };
  const labels = labelsOf(model);
  const versions = { [VERSION_ANNOTATION]: String(champion.version), ...(canary ? { [CHALLENGER_ANNOTATION]: String(canary.version) } : {}) };
  const serviceAccountName = serving.serviceAccountName ?? defaults.serviceAccountName;
  const template = {
    metadata: { labels, annotations: versions },
    spec: {
      ...(serviceAccountName ? { serviceAccountName } : {}),
      securityContext: POD_SECURITY_CONTEXT,
      // The scorer drains in-flight requests on SIGTERM; this bounds how long it may take.
      terminationGracePeriodSeconds: 30,
      ...(serving.nodeSelector ? { nodeSelector: serving.nodeSelector } : {}),
      ...(serving.tolerations?.length ? { tolerations: serving.tolerations } : {}),
      containers: [
        {
          name: 'scorer',
          image: defaults.image,
          command: ['orchard'],
          args: ['serve'],
          env: [{ name: 'ORCHARD_SERVING_SPEC', value: JSON.stringify(scorer) }],
          ports: [{ name: 'http', containerPort: SCORER_PORT, protocol: 'TCP' }],
          readinessProbe: probe('/v2/health/ready', 'http', 5, 2),
          livenessProbe: probe('/v2/health/live', 'http', 10, 3),
          // Downloading and warming up a large model may take a while; liveness waits for it.
          startupProbe: probe('/v2/health/live', 'http', 5, 60),
          resources: serving.resources ?? defaults.resources ?? DEFAULT_SCORER_RESOURCES,
          securityContext: CONTAINER_SECURITY_CONTEXT,
          volumeMounts: [TMP_MOUNT],
        },
        {
          name: 'drift',
          image: defaults.image,
          command: ['orchard'],
          args: ['drift'],
          env: [{ name: 'ORCHARD_DRIFT_SPEC', value: JSON.stringify(sidecar) }],
          // The ingest port listens on the Pod's loopback and is left undeclared: nothing outside the Pod should route to it.
          ports: [{ name: 'drift', containerPort: DRIFT_PORT, protocol: 'TCP' }],
          // Liveness only: a Pod is ready when its scorer is, so a failing monitor never takes scoring out of rotation.
          livenessProbe: probe('/healthz', 'drift', 10, 3),
          resources: DRIFT_RESOURCES,
          securityContext: CONTAINER_SECURITY_CONTEXT,
          volumeMounts: [TMP_MOUNT],
        },
      ],
      volumes: [TMP_VOLUME],
    },
  };
  const spec = {
    // With an autoscaler the replica count is its to set: left out here, kept as observed on update.
    ...(servingAutoscaling(model, defaults) ? {} : { replicas: serving.replicas }),
    revisionHistoryLimit: 5,
    selector: { matchLabels: selectorOf(model) },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
    template,
  };
  return withHash(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: model.metadata.namespace, labels, annotations: versions, ownerReferences: [ownerReference(model)] },
      spec,
    },
    spec,
  );
}

export function buildScoringService(model: RegisteredModelObject): Record<string, any> {
  const spec = {
    type: 'ClusterIP',
    selector: selectorOf(model),
    ports: [{ name: 'http', port: SERVICE_PORT, targetPort: 'http', protocol: 'TCP' }],
  };
  return withHash(
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: servingName(model.metadata.name), namespace: model.metadata.namespace, labels: labelsOf(model), ownerReferences: [ownerReference(model)] },
      spec,
    },
    spec,
  );
}

export function buildScoringAutoscaler(model: RegisteredModelObject, defaults: Pick<ServingDefaults, 'autoscaling'> = {}): Record<string, any> | undefined {
  const autoscaling = servingAutoscaling(model, defaults);
  if (!autoscaling) return undefined;
  const name = servingName(model.metadata.name);
  const spec = {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
    minReplicas: autoscaling.minReplicas,
    maxReplicas: autoscaling.maxReplicas,
    metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: autoscaling.targetCPUUtilizationPercentage } } }],
  };
  return withHash(
    {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name, namespace: model.metadata.namespace, labels: labelsOf(model), ownerReferences: [ownerReference(model)] },
      spec,
    },
    spec,
  );
}
