// Pure: what a ScoringJob's status is, from what the pass observed (its latest run's Job, that
// Job's Pods and shard summaries, the version resolution and the schedule).
import type { Condition } from '../../api/v1alpha1/common.js';
import type { ScoringJobStatus } from '../../api/v1alpha1/scoring-job.js';
import type { TaskType } from '../../api/v1alpha1/training-run.js';
import { mergeStats, metricsFromStats, type MetricStats } from '../../batch/metrics.js';
import { rfc3339, setCondition, setStalledCondition } from '../../runtime/conditions.js';
import type { ChildRejection } from '../../runtime/rejections.js';
import { metricTable } from '../training-run/status.js';
import { ANNOTATIONS, COMPLETION_INDEX, CONTAINER, LABELS } from './desired.js';
import type { Unresolved } from './resolve.js';
import { parseIndexes, type ShardRead, type ShardReport } from './summaries.js';

/** Reasons of the Succeeded condition, each a state a user can act on or wait for. */
export const Reason = {
  InvalidSpec: 'InvalidSpec',
  ModelNotFound: 'ModelNotFound',
  VersionNotFound: 'VersionNotFound',
  NoChampion: 'NoChampion',
  NoChallenger: 'NoChallenger',
  Scheduled: 'Scheduled',
  Pending: 'Pending',
  /** The API server refuses the run's Job (invalid, or denied by an admission policy). */
  ChildRejected: 'ChildRejected',
  Unschedulable: 'Unschedulable',
  Running: 'Running',
  Succeeded: 'Succeeded',
  ShardsFailed: 'ShardsFailed',
  JobFailed: 'JobFailed',
  DeadlineExceeded: 'DeadlineExceeded',
} as const;

/**
 * Merges the finished shards' drift reports (each summary.json's `drift`, as the shard wrote it)
 * into status.drift. Called once every shard of a successful run has been read.
 */
export type DriftMerger = (reports: unknown[]) => ScoringJobStatus['drift'] | undefined;

export interface Observed {
  generation: number;
  previous: ScoringJobStatus | undefined;
  now: Date;
  /** Set when the spec failed to parse: the message names the field. */
  invalidSpec?: string;
  /** spec.modelRef.name, for runs whose Job does not say. */
  modelName: string;
  /** Why the run due now cannot start (model, version or alias missing). */
  unresolved?: Unresolved;
  /** The API server refused the Job of the run due now, for good. */
  rejected?: ChildRejection;
  /** The Job of the current or latest run. */
  job?: any;
  /** That Job's Pods. */
  pods: any[];
  /** Summaries of that Job's finished shards, by completion index. */
  summaries: Map<number, ShardRead>;
  /** spec.input.labelColumn is set: a finished run reports metrics. */
  labelColumn: boolean;
  /** Scheduled ScoringJobs only. */
  schedule?: { lastScheduleTime?: Date; next?: Date; waiting?: Date };
  mergeDrift?: DriftMerger;
}

/** Fields that describe one run; carried over when its finished Job has been deleted (ttlSecondsAfterFinished). */
const RUN_FIELDS = ['resolvedVersion', 'modelVersion', 'jobName', 'startTime', 'completionTime', 'durationSeconds', 'rowsScored', 'rowsPerSecond', 'shards', 'progress', 'metrics', 'drift', 'outputUri'] as const;

function jobCondition(job: any, type: string): any {
  return (job?.status?.conditions ?? []).find((c: any) => c.type === type && c.status === 'True');
}

function shardIndex(pod: any): number | undefined {
  const text = pod.metadata?.annotations?.[COMPLETION_INDEX] ?? pod.metadata?.labels?.[COMPLETION_INDEX];
  return text === undefined ? undefined : Number(text);
}

/** The failed shard Pods, newest first, with their one-line messages. */
function shardFailures(pods: any[]): { index: number | undefined; message: string; time: string }[] {
  const out = [];
  for (const pod of pods) {
    const status = (pod.status?.containerStatuses ?? []).find((c: any) => c.name === CONTAINER);
    const terminated = status?.state?.terminated;
    if (!terminated || terminated.exitCode === 0) continue;
    const message = String(terminated.message ?? '').trim().split('\n').filter(Boolean).at(-1) ?? `exited with code ${terminated.exitCode} (${terminated.reason ?? 'Error'})`;
    out.push({ index: shardIndex(pod), message: message.slice(0, 4096), time: String(terminated.finishedAt ?? pod.metadata?.creationTimestamp ?? '') });
  }
  return out.sort((a, b) => b.time.localeCompare(a.time));
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
const list = (indexes: number[]) => (indexes.length > 5 ? `${indexes.slice(0, 5).join(', ')} and ${indexes.length - 5} more` : indexes.join(', '));
const seconds = (from: string | undefined, to: string | undefined) => (from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : undefined);

/** Label metrics of the run, from the shards' mergeable statistics. */
function runMetrics(task: TaskType | undefined, reports: ShardReport[]): Record<string, string> | undefined {
  const stats = reports.map((r) => r.stats).filter((s): s is MetricStats => s !== undefined);
  const merged = task && stats.length ? mergeStats(stats) : undefined;
  if (!merged) return undefined;
  const metrics = metricsFromStats(task!, merged);
  return Object.keys(metrics).length ? metricTable(metrics) : undefined;
}

/** What the API server said, and what to do: the same Job is not sent again. */
function rejectionMessage(r: ChildRejection): string {
  return `the API server rejected ${r.child}: ${r.message}; fix the spec (the Job is not sent again until the spec or its inputs change)`;
}

export function computeScoringJobStatus(o: Observed): ScoringJobStatus {
  const prev = o.previous ?? {};
  const status: ScoringJobStatus = { observedGeneration: o.generation };
  // Set once at the end, so that a later override in this pass cannot move lastTransitionTime.
  let condition: { status: 'True' | 'False' | 'Unknown'; reason: string; message: string } | undefined;
  const succeeded = (s: 'True' | 'False' | 'Unknown', reason: string, message: string) => {
    condition = { status: s, reason, message };
  };
  const lastScheduleTime = o.schedule?.lastScheduleTime ? rfc3339(o.schedule.lastScheduleTime) : prev.lastScheduleTime;
  const finish = (): ScoringJobStatus => {
    if (o.rejected) condition = { status: 'False', reason: Reason.ChildRejected, message: rejectionMessage(o.rejected) };
    // Nothing runs until someone changes the spec.
    const stalled = (o.rejected || o.invalidSpec) && condition ? { reason: condition.reason, message: condition.message } : undefined;
    let conditions: Condition[] = condition
      ? setCondition(prev.conditions, { type: 'Succeeded', ...condition, observedGeneration: o.generation }, o.now)
      : (prev.conditions ?? []);
    conditions = setStalledCondition(conditions, stalled, o.generation, o.now);
    return { ...status, ...(lastScheduleTime ? { lastScheduleTime } : {}), conditions };
  };

  if (o.invalidSpec) {
    succeeded('False', Reason.InvalidSpec, `${o.invalidSpec}; fix the spec (nothing runs until then)`);
    return finish();
  }
  const job = o.job;
  if (!job) {
    if (prev.jobName && prev.completionTime) {
      for (const key of RUN_FIELDS) if (prev[key] !== undefined) (status as any)[key] = prev[key];
    } else if (o.schedule) {
      const next = o.schedule.next ? `first run at ${rfc3339(o.schedule.next)}` : 'the schedule has no future run';
      succeeded('Unknown', Reason.Scheduled, `${next} (schedule is in UTC)`);
    } else {
      succeeded('Unknown', Reason.Pending, 'creating the scoring Job');
    }
    if (o.unresolved) succeeded('Unknown', o.unresolved.reason, o.unresolved.message);
    return finish();
  }

  const annotations = job.metadata?.annotations ?? {};
  const version = Number(annotations[ANNOTATIONS.modelVersion]);
  const modelName = job.metadata?.labels?.[LABELS.model] ?? o.modelName;
  const task = annotations[ANNOTATIONS.modelTask] as TaskType | undefined;
  if (Number.isInteger(version)) {
    status.resolvedVersion = version;
    status.modelVersion = `${modelName}@${version}`;
  }
  status.jobName = job.metadata.name;
  if (annotations[ANNOTATIONS.outputUri]) status.outputUri = annotations[ANNOTATIONS.outputUri];
  if (job.status?.startTime) status.startTime = job.status.startTime;

  const total: number = job.spec?.completions ?? 1;
  const completed = parseIndexes(job.status?.completedIndexes);
  const complete = jobCondition(job, 'Complete');
  const failed = jobCondition(job, 'Failed');
  const failures = shardFailures(o.pods);
  const failedIndexes = new Set(parseIndexes(job.status?.failedIndexes));
  // FailJob stops the Job without marking the index: the shards whose Pods failed are the failed ones.
  if (failed) for (const f of failures) if (f.index !== undefined && !completed.includes(f.index)) failedIndexes.add(f.index);
  status.shards = { total, succeeded: completed.length, failed: failedIndexes.size };
  status.progress = `${completed.length}/${total}`;

  const reports: ShardReport[] = [];
  const unreadable: { index: number; error: string }[] = [];
  for (const i of completed) {
    const read = o.summaries.get(i);
    if (read && 'summary' in read) reports.push(read.summary);
    else if (read) unreadable.push({ index: i, error: read.error });
  }
  const rows = reports.reduce((n, r) => n + r.rows, 0);
  if (reports.length) status.rowsScored = rows;
  const unreadableNote = unreadable.length
    ? `; the summaries of shards ${list(unreadable.map((u) => u.index))} cannot be read (${unreadable[0]!.error}), so rows and metrics leave them out; reading again every minute`
    : '';

  let wall: number | undefined;
  if (complete || failed) {
    status.completionTime = job.status?.completionTime ?? (complete ?? failed).lastTransitionTime;
    wall = seconds(status.startTime, status.completionTime);
    if (wall !== undefined) status.durationSeconds = Math.max(0, Math.round(wall));
  }

  if (complete) {
    const allRead = reports.length === completed.length && completed.length === total;
    const rejected = reports.reduce((n, r) => n + r.rejected, 0);
    let rate = '';
    if (allRead) {
      // Timestamps have whole seconds; the slowest shard's own time bounds a short run's wall time.
      const elapsed = Math.max(wall ?? 0, ...reports.map((r) => r.seconds));
      if (elapsed > 0) {
        status.rowsPerSecond = Math.round(rows / elapsed);
        rate = ` (${status.rowsPerSecond} rows/s)`;
      }
      const metrics = o.labelColumn ? runMetrics(task, reports) : undefined;
      if (metrics) status.metrics = metrics;
      const drift = o.mergeDrift?.(reports.map((r) => r.drift).filter((d) => d !== undefined));
      if (drift) status.drift = drift;
    }
    const firstError = reports.find((r) => r.errors.length)?.errors[0];
    const rejectedNote = rejected ? `; ${count(rejected, 'row')} rejected${firstError ? `, e.g. ${firstError}` : ''}` : '';
    const scored = allRead ? `scored ${rows} rows` : `all ${total} shards finished`;
    succeeded('True', Reason.Succeeded, `${scored} with ${status.modelVersion ?? modelName} in ${total} shards${rate}; predictions under ${status.outputUri ?? 'spec.output.uri'}${rejectedNote}${unreadableNote}`);
  } else if (failed) {
    const failedList = [...failedIndexes].sort((a, b) => a - b);
    const culprit = failures.find((f) => f.index !== undefined && failedIndexes.has(f.index)) ?? failures[0];
    const others = failedList.length > 1 ? ` (${failedList.length} shards failed: ${list(failedList)})` : '';
    if (failed.reason === 'DeadlineExceeded') {
      succeeded('False', Reason.DeadlineExceeded, `the run exceeded activeDeadlineSeconds (${job.spec?.activeDeadlineSeconds} s) with ${completed.length}/${total} shards done: raise spec.activeDeadlineSeconds, or add parallelism`);
    } else if (culprit) {
      succeeded('False', Reason.ShardsFailed, `shard ${culprit.index ?? '?'} failed: ${culprit.message}${others}`);
    } else if (failedList.length) {
      succeeded('False', Reason.ShardsFailed, `${failedList.length} shards failed (${list(failedList)}): ${failed.message ?? failed.reason}`);
    } else {
      succeeded('False', Reason.JobFailed, `the scoring Job failed: ${failed.message ?? failed.reason}`);
    }
  } else {
    const running = o.pods.filter((p) => p.status?.phase === 'Running').length;
    const unschedulable = o.pods
      .map((p) => (p.status?.conditions ?? []).find((c: any) => c.type === 'PodScheduled' && c.status === 'False'))
      .find((c) => c !== undefined);
    const waiting = o.schedule?.waiting ? `; the run due at ${rfc3339(o.schedule.waiting)} waits for this one (concurrencyPolicy Forbid)` : '';
    const pending = o.pods.filter((p) => (p.status?.phase ?? 'Pending') === 'Pending').length;
    const retries = failures.length ? `; ${count(failures.length, 'failed attempt')}, last: shard ${failures[0]!.index ?? '?'}: ${failures[0]!.message}` : '';
    if (completed.length === 0 && running === 0) {
      if (unschedulable) succeeded('Unknown', Reason.Unschedulable, `shard Pods cannot be scheduled: ${unschedulable.message ?? unschedulable.reason}${waiting}`);
      else if (!pending) succeeded('Unknown', Reason.Pending, `waiting for the Job to create the shard Pods${retries}${waiting}`);
      else succeeded('Unknown', Reason.Pending, `${count(pending, 'shard Pod')} ${pending === 1 ? 'is' : 'are'} Pending${retries}${waiting}`);
    } else {
      const soFar = reports.length ? `, ${rows} rows scored so far` : '';
      succeeded('Unknown', Reason.Running, `${completed.length}/${total} shards done, ${running} running${soFar}${retries}${unreadableNote}${waiting}`);
    }
  }
  if (o.unresolved) succeeded('Unknown', o.unresolved.reason, `the next run cannot start: ${o.unresolved.message}`);
  return finish();
}
