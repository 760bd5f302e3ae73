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
