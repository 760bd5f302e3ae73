// Pure: what a scheduled ScoringJob should do now, from its runs (Jobs) and the clock, as
// Kubernetes CronJobs do: only the most recent missed time runs, and a run held back by Forbid
// (or by a model that cannot be resolved) runs late, once, when nothing holds it back any more.
import type { ScoringJobSpec } from '../../api/v1alpha1/scoring-job.js';
import type { CronSchedule } from './cron.js';

/** Finished runs kept (their Jobs and Pods, for logs); older ones are deleted. */
export const HISTORY_LIMIT = 3;

export interface ScheduledRun {
  name: string;
  scheduledTime: Date;
  finished: boolean;
}

export interface ScheduleInput {
  cron: CronSchedule;
  concurrencyPolicy: ScoringJobSpec['concurrencyPolicy'];
  runs: ScheduledRun[];
  /** status.lastScheduleTime, which outlives Jobs deleted by ttlSecondsAfterFinished. */
  lastScheduleTime?: Date;
  /** The ScoringJob's creationTimestamp: no run is due for a time before it. */
  createdTime: Date;
  now: Date;
  historyLimit?: number;
}

export interface SchedulePlan {
  /** The scheduled time to start a run for, when one is due and allowed. */
  start?: Date;
  /** A due time held back because a run is still active (Forbid). */
  waiting?: Date;
  /** Active runs to delete before starting (Replace). */
  replace: string[];
  /** Finished runs beyond the history limit, oldest first. */
  prune: string[];
  /** The latest scheduled time a run exists for. */
  lastScheduleTime?: Date;
  /** When to look again. */
  next?: Date;
}

export function planSchedule(input: ScheduleInput): SchedulePlan {
  const { cron, now, runs } = input;
  const newestFirst = [...runs].sort((a, b) => b.scheduledTime.getTime() - a.scheduledTime.getTime());
  const times = [input.lastScheduleTime?.getTime(), newestFirst[0]?.scheduledTime.getTime()].filter((t): t is number => t !== undefined);
  const last = times.length ? new Date(Math.max(...times)) : undefined;
  const plan: SchedulePlan = { replace: [], prune: [] };
  if (last) plan.lastScheduleTime = last;
  const next = cron.next(now);
  if (next) plan.next = next;

  const due = cron.prev(now);
  const earliest = last ?? input.createdTime;
  const active = newestFirst.filter((r) => !r.finished);
  if (due && due.getTime() > earliest.getTime()) {
    if (input.concurrencyPolicy === 'Forbid' && active.length) plan.waiting = due;
    else {
      plan.start = due;
      if (input.concurrencyPolicy === 'Replace') plan.replace = active.map((r) => r.name);
    }
  }
  plan.prune = newestFirst
    .filter((r) => r.finished)
    .slice(input.historyLimit ?? HISTORY_LIMIT)
    .reverse()
    .map((r) => r.name);
  return plan;
}
