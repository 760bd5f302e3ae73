// Pure: the Drifted condition from the drift summary in status.
import type { RegisteredModelSpec, RegisteredModelStatus } from '../../api/v1alpha1/registered-model.js';
import type { ReadyCondition } from './status.js';

export type DriftStatus = NonNullable<RegisteredModelStatus['drift']>;

const MAX_NAMED = 5;

/** Undefined when nothing is served, so nothing is monitored: the condition is left out. */
export function computeDriftedCondition(spec: RegisteredModelSpec, drift: DriftStatus | undefined, retrain?: string): ReadyCondition | undefined {
  if (spec.serving.mode === 'None') return undefined;
  if (!drift || drift.drifted === undefined) return { status: 'Unknown', reason: 'NoSummary', message: 'no drift summary from the scoring Pods yet' };
  const rows = drift.windowRows ?? 0;
  if (drift.drifted === 'Unknown') {
    return { status: 'Unknown', reason: 'NotEnoughData', message: `${rows} rows in the window; drift is judged from ${spec.drift.minRows} (drift.minRows)` };
  }
  const drifted = (drift.features ?? []).filter((f) => f.drifted);
  const total = drift.features?.length ?? 0;
  const named = drifted.slice(0, MAX_NAMED).map((f) => `${f.name} (${f.test} ${f.score})`).join(', ');
  const more = drifted.length > MAX_NAMED ? ` and ${drifted.length - MAX_NAMED} more` : '';
  if (drift.drifted === 'False') {
    const some = drifted.length ? `; drifted: ${named}${more}` : '';
    return { status: 'False', reason: 'NoDrift', message: `${drifted.length} of ${total} features drifted over the last ${rows} rows, below drift.driftShare ${spec.drift.driftShare}${some}` };
  }
  const action =
    spec.drift.onDrift === 'Retrain' ? (retrain ? `; ${retrain}` : '') : spec.drift.onDrift === 'Alert' ? '' : ' (onDrift None: no action)';
  return {
    status: 'True',
    reason: 'DatasetDrift',
    message: `${drifted.length} of ${total} features drifted over the last ${rows} rows (share ${drift.driftedShare ?? '?'} ≥ ${spec.drift.driftShare}): ${named}${more}${action}`,
  };
}

/**
 * The drift to record: a new summary when its verdict changed (dataset or any feature's flag, or the
 * window's size while it is too small to judge) or
 * the recorded one is older than maxAgeSeconds; otherwise the recorded one, so scores that wobble
 * with traffic do not rewrite status every poll.
 */
export function settleDrift(previous: DriftStatus | undefined, next: DriftStatus, now: Date, maxAgeSeconds = 600): DriftStatus {
  if (!previous?.checkedTime) return next;
  // Below minRows the window's size is the news: how far it is from being judged.
  const verdict = (d: DriftStatus) => JSON.stringify([d.drifted, (d.features ?? []).map((f) => [f.name, f.drifted]), d.drifted === 'Unknown' ? d.windowRows : 0]);
  const age = (now.getTime() - Date.parse(previous.checkedTime)) / 1000;
  return verdict(previous) !== verdict(next) || !(age < maxAgeSeconds) ? next : previous;
}
