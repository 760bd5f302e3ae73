// Pure builders: a ScoringJob run → the Indexed Job whose completions are its shards.
import { API_VERSION } from '../../api/v1alpha1/common.js';
import type { ScoringJobSpec } from '../../api/v1alpha1/scoring-job.js';
import type { TaskType } from '../../api/v1alpha1/training-run.js';
import { childName, CONTAINER_SECURITY_CONTEXT, EXIT_BAD_INPUT, IMAGE_DATA_DIR, LABELS as TRAINING_LABELS, POD_SECURITY_CONTEXT, TMP_MOUNT, TMP_VOLUME } from '../training-run/desired.js';

export interface ScoringJobObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; uid: string; generation?: number; creationTimestamp?: string; labels?: Record<string, string>; resourceVersion?: string };
  spec: ScoringJobSpec;
}

/** What the operator adds to every scoring Job; the training defaults fit (extra fields are unused). */
export interface ScoringDefaults {
  /** Image with the orchard CLI. */
  image: string;
  serviceAccountName?: string;
  /**
   * Directories besides IMAGE_DATA_DIR that file:// inputs may name: the training runs' own
   * (--trainer-file-roots), so data a run trained on can be scored and nothing else.
   */
  fileRoots?: string[];
  /** Hosts https:// inputs may reach, the training runs' own (--trainer-source-hosts); unset or empty: any. */
  sourceHosts?: string[];
  /** Retries of each shard (backoffLimitPerIndex) unless the spec sets backoffLimit. */
  backoffLimit: number;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export const LABELS = { ...TRAINING_LABELS, scoringJob: 'orchard.dev/scoring-job' } as const;

/** The Job's record of what it runs: status is read back from these, never recomputed from the model. */
export const ANNOTATIONS = {
  modelVersion: 'orchard.dev/model-version',
  modelTask: 'orchard.dev/model-task',
  outputUri: 'orchard.dev/output-uri',
  scheduledTime: 'orchard.dev/scheduled-time',
} as const;

/** Set on shard Pods by the Job controller. */
export const COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';
export const CONTAINER = 'score';

/** The model version a run scores with, resolved when the run starts. */
export interface ResolvedVersion {
  version: number;
  artifactUri: string;
  task: TaskType;
}

export interface ScoringRun {
  model: ResolvedVersion;
  /** Scheduled runs only: the schedule time this run is for. */
  scheduledTime?: Date;
}

/** A one-off ScoringJob's single Job. */
export function scoringJobName(sj: ScoringJobObject): string {
  return childName(sj.metadata.name, 'score');
}

/** A scheduled run's Job, named by its schedule time in Unix minutes (as CronJobs name theirs). */
export function scheduledJobName(sj: ScoringJobObject, scheduledTime: Date): string {
  return childName(sj.metadata.name, String(Math.floor(scheduledTime.getTime() / 60_000)));
}

const withSlash = (uri: string) => (uri.endsWith('/') ? uri : `${uri}/`);

/** Where a run writes: spec.output.uri, or for a scheduled run a folder per schedule time (published artifacts are never overwritten). */
export function outputUriFor(sj: ScoringJobObject, scheduledTime?: Date): string {
  const base = withSlash(sj.spec.output.uri);
  if (!scheduledTime) return base;
  const stamp = scheduledTime.toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
  return `${base}${stamp}/`;
}

export function buildScoringJob(sj: ScoringJobObject, run: ScoringRun, defaults: ScoringDefaults): Record<string, any> {
  const { spec } = sj;
  const labels = {
    [LABELS.name]: 'orchard',
    [LABELS.component]: 'scorer',
    [LABELS.managedBy]: 'orchard',
    [LABELS.scoringJob]: sj.metadata.name,
    [LABELS.model]: spec.modelRef.name,
  };
  const outputUri = outputUriFor(sj, run.scheduledTime);
  const annotations: Record<string, string> = {
    [ANNOTATIONS.modelVersion]: String(run.model.version),
    [ANNOTATIONS.modelTask]: run.model.task,
    [ANNOTATIONS.outputUri]: outputUri,
    ...(run.scheduledTime ? { [ANNOTATIONS.scheduledTime]: run.scheduledTime.toISOString().replace('.000Z', 'Z') } : {}),
  };
  const resources = spec.resources ?? defaults.resources;
  const container: Record<string, any> = {
    name: CONTAINER,
    image: defaults.image,
    command: ['orchard'],
    args: ['score'],
    env: [
      // The shard reads JOB_COMPLETION_INDEX, which the Job controller sets on Indexed Jobs.
      { name: 'ORCHARD_SCORING_SPEC', value: JSON.stringify({ ...spec, output: { ...spec.output, uri: outputUri } }) },
      { name: 'ORCHARD_MODEL_URI', value: run.model.artifactUri },
      { name: 'ORCHARD_TERMINATION_MESSAGE_PATH', value: '/dev/termination-log' },
      // A ScoringJob's author picks its inputs: without these an input could be the Pod's service account token.
      { name: 'ORCHARD_FILE_ROOTS', value: JSON.stringify([IMAGE_DATA_DIR, ...(defaults.fileRoots ?? [])]) },
      ...(defaults.sourceHosts?.length ? [{ name: 'ORCHARD_SOURCE_HOSTS', value: JSON.stringify(defaults.sourceHosts) }] : []),
    ],
    volumeMounts: [TMP_MOUNT],
    securityContext: CONTAINER_SECURITY_CONTEXT,
    terminationMessagePath: '/dev/termination-log',
    // A failing shard prints one line saying what is wrong; it becomes the status message.
    terminationMessagePolicy: 'FallbackToLogsOnError',
    ...(resources?.requests || resources?.limits ? { resources } : {}),
  };
  const serviceAccountName = spec.serviceAccountName ?? defaults.serviceAccountName;
  const name = run.scheduledTime ? scheduledJobName(sj, run.scheduledTime) : scoringJobName(sj);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: sj.metadata.namespace,
      labels,
      annotations,
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'ScoringJob', name: sj.metadata.name, uid: sj.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      completionMode: 'Indexed',
      completions: spec.shards,
      parallelism: spec.parallelism,
      // Retries are per shard: one flaky shard does not use up the others' budget.
      backoffLimitPerIndex: spec.backoffLimit ?? defaults.backoffLimit,
      ...(spec.activeDeadlineSeconds !== undefined ? { activeDeadlineSeconds: spec.activeDeadlineSeconds } : {}),
      ...(spec.ttlSecondsAfterFinished !== undefined ? { ttlSecondsAfterFinished: spec.ttlSecondsAfterFinished } : {}),
      podFailurePolicy: {
        rules: [
          // Bad input fails every shard alike: stop at once instead of retrying.
          { action: 'FailJob', onExitCodes: { containerName: CONTAINER, operator: 'In', values: [EXIT_BAD_INPUT] } },
          // A preempted or evicted shard is not the shard's fault.
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        ],
      },
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          ...(serviceAccountName ? { serviceAccountName } : {}),
          securityContext: POD_SECURITY_CONTEXT,
          ...(spec.nodeSelector && Object.keys(spec.nodeSelector).length ? { nodeSelector: spec.nodeSelector } : {}),
          ...(spec.tolerations?.length ? { tolerations: spec.tolerations } : {}),
          containers: [container],
          volumes: [TMP_VOLUME],
        },
      },
    },
  };
}
