// Pure builders: a TrainingRun → the Job that trains it.
import { createHash } from 'node:crypto';
import { API_VERSION } from '../../api/v1alpha1/common.js';
import type { TrainingRunSpec } from '../../api/v1alpha1/training-run.js';

export interface TrainingRunObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; uid: string; generation?: number; labels?: Record<string, string>; resourceVersion?: string };
  spec: TrainingRunSpec;
}

/** What the operator adds to every training Job; from its flags and the Helm values. */
export interface TrainingDefaults {
  /** Image with the orchard CLI, Node and the Python trainer. */
  image: string;
  /** Image for GPU runs (CatBoost with CUDA); defaults to image. */
  gpuImage?: string;
  /** Where runs without spec.artifactUri publish: file:///… or gs://bucket/prefix. */
  artifactRoot: string;
  serviceAccountName?: string;
  /** Directories besides IMAGE_DATA_DIR that file:// sources may name (volumes the cluster's admin mounts). */
  fileRoots?: string[];
  /** Hosts https:// sources may reach (`*.example.com` for subdomains); unset or empty: any. */
  sourceHosts?: string[];
  backoffLimit: number;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export const LABELS = {
  name: 'app.kubernetes.io/name',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  trainingRun: 'orchard.dev/training-run',
  model: 'orchard.dev/model',
} as const;

/** Exit code of an orchard step for bad input: retrying cannot help, so the Job fails at once. */
export const EXIT_BAD_INPUT = 2;
export const WORK_DIR = '/work';
/** The examples' data in the runtime images (images/runtime/Dockerfile); file:// sources may always read it. */
export const IMAGE_DATA_DIR = '/opt/orchard/data';
export const STEP_CONTAINERS = ['prepare', 'train', 'export', 'publish'] as const;

/** Pod Security "restricted" for every Pod the operator creates; the image's numeric USER satisfies runAsNonRoot. */
export const POD_SECURITY_CONTEXT = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } as const;
export const CONTAINER_SECURITY_CONTEXT = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
} as const;
/** The root filesystem is read-only: temporary files (Node, Python, CatBoost, downloads) go to an emptyDir. */
export const TMP_VOLUME = { name: 'tmp', emptyDir: {} } as const;
export const TMP_MOUNT = { name: 'tmp', mountPath: '/tmp' } as const;

/** A child name that is deterministic, a valid DNS label and at most 63 characters. */
export function childName(parent: string, suffix: string): string {
  const name = `${parent}-${suffix}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(parent).digest('hex').slice(0, 8);
  return `${parent.slice(0, 63 - suffix.length - hash.length - 2).replace(/-+$/, '')}-${hash}-${suffix}`;
}

export function trainingJobName(run: TrainingRunObject): string {
  return childName(run.metadata.name, 'train');
}

export function artifactUriFor(run: TrainingRunObject, defaults: TrainingDefaults): string {
  if (run.spec.artifactUri) return run.spec.artifactUri.endsWith('/') ? run.spec.artifactUri : `${run.spec.artifactUri}/`;
  const root = defaults.artifactRoot.replace(/\/+$/, '');
  // The uid keeps a re-created run with the same name from colliding with the old, immutable artifacts.
  return `${root}/${run.metadata.namespace}/${run.spec.modelRef.name}/${run.metadata.name}-${run.metadata.uid.slice(0, 8)}/`;
}

/**
 * `champion`: the model's champion when the Job is created; the export step scores it on this
 * run's test split, so promotion can compare the two on the same rows.
 */
export function buildTrainingJob(run: TrainingRunObject, defaults: TrainingDefaults, champion?: { version: number; artifactUri: string }): Record<string, any> {
  const { spec } = run;
  const gpu = spec.compute.device === 'GPU';
  const labels = {
    [LABELS.name]: 'orchard',
    [LABELS.component]: 'trainer',
    [LABELS.managedBy]: 'orchard',
    [LABELS.trainingRun]: run.metadata.name,
    [LABELS.model]: spec.modelRef.name,
  };
  const resources = spec.resources ?? defaults.resources;
  const env = [
    { name: 'ORCHARD_TRAINING_SPEC', value: JSON.stringify(spec) },
    { name: 'ORCHARD_TERMINATION_MESSAGE_PATH', value: '/dev/termination-log' },
    // Without it a file:// source could read any file the Pod can, its service account token included.
    { name: 'ORCHARD_FILE_ROOTS', value: JSON.stringify([IMAGE_DATA_DIR, ...(defaults.fileRoots ?? [])]) },
    ...(defaults.sourceHosts?.length ? [{ name: 'ORCHARD_SOURCE_HOSTS', value: JSON.stringify(defaults.sourceHosts) }] : []),
  ];
  const container = (step: (typeof STEP_CONTAINERS)[number]) => {
    const args = [step, '--work', WORK_DIR];
    if (step === 'publish') args.push('--to', artifactUriFor(run, defaults));
    if (step === 'export' && champion) args.push('--compare-with', champion.artifactUri, '--compare-version', String(champion.version));
    const c: Record<string, any> = {
      name: step,
      image: gpu ? (defaults.gpuImage ?? defaults.image) : defaults.image,
      command: ['orchard'],
      args,
      env,
      volumeMounts: [{ name: 'work', mountPath: WORK_DIR }, TMP_MOUNT],
      securityContext: CONTAINER_SECURITY_CONTEXT,
      terminationMessagePath: '/dev/termination-log',
      // A failing step prints one line saying what is wrong; it becomes the status message.
      terminationMessagePolicy: 'FallbackToLogsOnError',
    };
    const limits = { ...(resources?.limits ?? {}), ...(gpu && step === 'train' ? { 'nvidia.com/gpu': String(spec.compute.gpus) } : {}) };
    if (resources?.requests || Object.keys(limits).length) {
      c.resources = { ...(resources?.requests ? { requests: resources.requests } : {}), ...(Object.keys(limits).length ? { limits } : {}) };
    }
    return c;
  };
  const nodeSelector = {
    ...(gpu && spec.compute.acceleratorType ? { 'cloud.google.com/gke-accelerator': spec.compute.acceleratorType } : {}),
    ...(spec.nodeSelector ?? {}),
  };
  const tolerations = [
    ...(gpu ? [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] : []),
    ...(spec.tolerations ?? []),
  ];
  const serviceAccountName = spec.serviceAccountName ?? defaults.serviceAccountName;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: trainingJobName(run),
      namespace: run.metadata.namespace,
      labels,
      ownerReferences: [
        { apiVersion: API_VERSION, kind: 'TrainingRun', name: run.metadata.name, uid: run.metadata.uid, controller: true, blockOwnerDeletion: true },
      ],
    },
    spec: {
      backoffLimit: spec.backoffLimit ?? defaults.backoffLimit,
      ...(spec.activeDeadlineSeconds !== undefined ? { activeDeadlineSeconds: spec.activeDeadlineSeconds } : {}),
      ...(spec.ttlSecondsAfterFinished !== undefined ? { ttlSecondsAfterFinished: spec.ttlSecondsAfterFinished } : {}),
      podFailurePolicy: { rules: [{ action: 'FailJob', onExitCodes: { operator: 'In', values: [EXIT_BAD_INPUT] } }] },
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          ...(serviceAccountName ? { serviceAccountName } : {}),
          securityContext: POD_SECURITY_CONTEXT,
          ...(Object.keys(nodeSelector).length ? { nodeSelector } : {}),
          ...(tolerations.length ? { tolerations } : {}),
          initContainers: [container('prepare'), container('train'), container('export')],
          containers: [container('publish')],
          volumes: [{ name: 'work', emptyDir: {} }, TMP_VOLUME],
        },
      },
    },
  };
}
