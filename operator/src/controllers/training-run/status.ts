// Pure: what a TrainingRun's status is, from what the pass observed (Job, Pods, model, registration).
import type { Condition } from '../../api/v1alpha1/common.js';
import type { TrainingRunStatus } from '../../api/v1alpha1/training-run.js';
import { setCondition, setStalledCondition } from '../../runtime/conditions.js';
import type { ChildRejection } from '../../runtime/rejections.js';
import { PLOT_FILES, plotsOf, type RunSummary } from '../../training/publish.js';
import { STEP_CONTAINERS } from './desired.js';

/** Reasons of the Succeeded condition, each a state a user can act on or wait for. */
export const Reason = {
  InvalidSpec: 'InvalidSpec',
  ModelNotFound: 'ModelNotFound',
  /** The API server refuses the training Job (invalid, or denied by an admission policy). */
  ChildRejected: 'ChildRejected',
  Pending: 'Pending',
  Unschedulable: 'Unschedulable',
  Preparing: 'Preparing',
  Training: 'Training',
  Exporting: 'Exporting',
  Publishing: 'Publishing',
  Registering: 'Registering',
  Succeeded: 'Succeeded',
  JobFailed: 'JobFailed',
  DeadlineExceeded: 'DeadlineExceeded',
} as const;

const STEP_OF: Record<string, { step: NonNullable<TrainingRunStatus['step']>; reason: string }> = {
  prepare: { step: 'Prepare', reason: Reason.Preparing },
  train: { step: 'Train', reason: Reason.Training },
  export: { step: 'Export', reason: Reason.Exporting },
  publish: { step: 'Publish', reason: Reason.Publishing },
};

export interface Observed {
  generation: number;
  previous: TrainingRunStatus | undefined;
  /** Set when the spec failed to parse: the message names the field. */
  invalidSpec?: string;
  modelName: string;
  modelExists: boolean;
  job?: any;
  /** The API server refused to create the Job, for good. */
  rejected?: ChildRejection;
  pods: any[];
  /** The version registered for this run, once it exists on the model. */
  registeredVersion?: number;
  /** spec.evaluation.primaryMetric, or the task's default. */
  primaryMetric?: string;
  now: Date;
}

interface ContainerState {
  name: string;
  state?: { running?: object; waiting?: { reason?: string; message?: string }; terminated?: { exitCode: number; message?: string; reason?: string } };
}

/** The pod's current step, and for a failed one its message. */
function podProgress(pod: any): { container: string; failed?: { message: string } } | undefined {
  const statuses: ContainerState[] = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const name of STEP_CONTAINERS) {
    const s = statuses.find((c) => c.name === name);
    const terminated = s?.state?.terminated;
    if (terminated && terminated.exitCode === 0) continue;
    if (terminated) {
      const message = (terminated.message ?? '').trim().split('\n').filter(Boolean).at(-1) ?? `${name} exited with code ${terminated.exitCode} (${terminated.reason ?? 'Error'})`;
      return { container: name, failed: { message } };
    }
    return { container: name };
  }
  return { container: 'publish' };
}

export function parseSummary(pods: any[]): RunSummary | undefined {
  for (const pod of pods) {
    const publish = (pod.status?.containerStatuses ?? []).find((c: ContainerState) => c.name === 'publish');
    const message = publish?.state?.terminated?.exitCode === 0 ? publish.state.terminated.message : undefined;
    if (!message) continue;
    try {
      return JSON.parse(message) as RunSummary;
    } catch {
      continue; // a log tail, not the summary
    }
  }
  return undefined;
}

function jobCondition(job: any, type: string): any {
  return (job?.status?.conditions ?? []).find((c: any) => c.type === type && c.status === 'True');
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${m}m${s % 60}s` : m ? `${m}m${s % 60}s` : `${s}s`;
}

const decimal = (v: number) => String(Number(v.toPrecision(6)));

/** Metrics as status carries them: decimal strings of 6 significant digits (no floats in the API). */
export function metricTable(metrics: Record<string, number>): Record<string, string> {
  return Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, decimal(v)]));
}

/** What the API server said, and what to do: it is not sent again until the spec changes. */
export function rejectionMessage(r: ChildRejection): string {
  return `the API server rejected ${r.child}: ${r.message}; fix the spec (the Job is not sent again until the spec or its inputs change)`;
}

export function computeTrainingRunStatus(o: Observed): TrainingRunStatus {
  const prev = o.previous ?? {};
  const status: TrainingRunStatus = { observedGeneration: o.generation };
  let conditions: Condition[] | undefined = prev.conditions;
  const succeeded = (s: 'True' | 'False' | 'Unknown', reason: string, message: string) => {
    conditions = setCondition(conditions, { type: 'Succeeded', status: s, reason, message, observedGeneration: o.generation }, o.now);
  };

  if (o.invalidSpec) {
    const message = `${o.invalidSpec}; fix the spec (the run will not start until then)`;
    succeeded('False', Reason.InvalidSpec, message);
    return { ...status, conditions: setStalledCondition(conditions!, { reason: Reason.InvalidSpec, message }, o.generation, o.now) };
  }
  const job = o.job;
  if (job?.metadata?.name) status.jobName = job.metadata.name;
  if (job?.status?.startTime) status.startTime = job.status.startTime;
  const pods = [...o.pods].sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')));
  const complete = jobCondition(job, 'Complete');
  // FailureTarget comes first: the Job controller sets it, then removes the Pods, then sets Failed.
  const failed = jobCondition(job, 'Failed') ?? jobCondition(job, 'FailureTarget');

  if (!job && o.rejected) {
    succeeded('False', Reason.ChildRejected, rejectionMessage(o.rejected));
    conditions = setStalledCondition(conditions, { reason: Reason.ChildRejected, message: rejectionMessage(o.rejected) }, o.generation, o.now);
    return { ...status, conditions: conditions! };
  }
  conditions = setStalledCondition(conditions, undefined, o.generation, o.now);
  if (!job) {
    if (!o.modelExists) succeeded('Unknown', Reason.ModelNotFound, `RegisteredModel "${o.modelName}" does not exist in this namespace: create it (or fix spec.modelRef); training starts once it exists`);
    else succeeded('Unknown', Reason.Pending, 'creating the training Job');
  } else if (complete) {
    const summary = parseSummary(pods);
    status.step = 'Publish';
    status.completionTime = job.status?.completionTime ?? complete.lastTransitionTime;
    if (summary) {
      status.rows = summary.rows;
      status.metrics = metricTable(summary.metrics);
      status.topFeatures = summary.topFeatures.map((f) => ({ name: f.name, importance: decimal(f.importance) }));
      const uri = summary.artifactUri;
      status.artifacts = { uri, onnx: `${uri}model.onnx`, native: `${uri}model.cbm`, inputSchema: `${uri}input-schema.json`, referenceProfile: `${uri}reference-profile.json`, metrics: `${uri}metrics.json` };
      const plots = plotsOf((summary.plots ?? []).map((k) => (Object.hasOwn(PLOT_FILES, k) ? PLOT_FILES[k] : undefined)));
      if (plots.length) status.artifacts.plots = Object.fromEntries(plots.map((k) => [k, `${uri}${PLOT_FILES[k]}`]));
    }
    if (o.registeredVersion !== undefined) {
      status.registeredVersion = o.registeredVersion;
      succeeded('True', Reason.Succeeded, `trained, exported and registered as version ${o.registeredVersion} of ${o.modelName}`);
    } else if (!summary) {
      succeeded('False', Reason.JobFailed, 'the Job completed but the publish step left no run summary in its termination message');
    } else if (!o.modelExists) {
      succeeded('Unknown', Reason.ModelNotFound, `trained and published, but RegisteredModel "${o.modelName}" does not exist: create it and the version is registered`);
    } else {
      succeeded('Unknown', Reason.Registering, `registering the model as a new version of ${o.modelName}`);
    }
  } else if (failed) {
    status.completionTime = failed.lastTransitionTime;
    const progress = pods.map(podProgress).find((p) => p?.failed);
    if (progress) {
      status.step = STEP_OF[progress.container]!.step;
      status.failure = { step: status.step, message: progress.failed!.message.slice(0, 4096) };
    } else if (prev.step) {
      // A deadline deletes the running Pod: the step it was in is known only from the last pass.
      status.step = prev.step;
    }
    if (failed.reason === 'DeadlineExceeded') {
      succeeded('False', Reason.DeadlineExceeded, `the run exceeded activeDeadlineSeconds (${job.spec?.activeDeadlineSeconds} s)${status.step ? ` during ${status.step}` : ''}: raise spec.activeDeadlineSeconds or train less`);
    } else {
      succeeded('False', Reason.JobFailed, progress ? `${progress.container} failed: ${progress.failed!.message}` : `the training Job failed: ${failed.message ?? failed.reason}`);
    }
  } else {
    const pod = pods[0];
    const scheduled = (pod?.status?.conditions ?? []).find((c: any) => c.type === 'PodScheduled');
    if (!pod && prev.step) {
      // The Pod went before the Job's own update arrived (separate watches): nothing new to say yet.
      status.step = prev.step;
    } else if (!pod) {
      succeeded('Unknown', Reason.Pending, 'waiting for the Job to create its Pod');
    } else if (scheduled?.status === 'False') {
      succeeded('Unknown', Reason.Unschedulable, `the Pod cannot be scheduled: ${scheduled.message ?? scheduled.reason}`);
    } else if (!pod.status?.initContainerStatuses?.length && pod.status?.phase !== 'Running') {
      succeeded('Unknown', Reason.Pending, `the Pod is ${pod.status?.phase ?? 'Pending'}`);
    } else {
      const progress = podProgress(pod)!;
      const { step, reason } = STEP_OF[progress.container]!;
      status.step = step;
      const retries = pods.length - 1;
      succeeded('Unknown', reason, `${step} step running${retries ? ` (attempt ${retries + 1})` : ''}`);
    }
  }
  // Only a finished run has a duration: a ticking one would make every pass write status.
  if (status.startTime && status.completionTime) status.duration = formatDuration(Date.parse(status.completionTime) - Date.parse(status.startTime));
  if (status.metrics) {
    const name = o.primaryMetric && status.metrics[o.primaryMetric] !== undefined ? o.primaryMetric : Object.keys(status.metrics)[0];
    if (name) status.headlineMetric = `${name}=${status.metrics[name]}`;
  }
  return { ...status, conditions: conditions! };
}

