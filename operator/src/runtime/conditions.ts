// metav1.Condition helpers: pure, with the time passed in.
import type { Condition } from '../api/v1alpha1/common.js';

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

export function rfc3339(t: Date): string {
  return t.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A condition's lastTransitionTime: kept while its status stays, now when it changes (any kind's conditions). */
export function transitionTime(previous: { status: string; lastTransitionTime?: string | null } | undefined, status: string, now: Date): string {
  return previous && previous.status === status && previous.lastTransitionTime ? previous.lastTransitionTime : rfc3339(now);
}

/** Sets a condition; lastTransitionTime moves only when status changes. */
export function setCondition(conditions: Condition[] | undefined, next: ConditionInput, now: Date): Condition[] {
  const list = conditions ?? [];
  const current = list.find((c) => c.type === next.type);
  const updated: Condition = { ...next, lastTransitionTime: transitionTime(current, next.status, now) };
  return current ? list.map((c) => (c.type === next.type ? updated : c)) : [...list, updated];
}

export function findCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * kstatus's Stalled: present, True, while the object cannot progress until someone changes it (a
 * child the API server refuses), and absent otherwise, as kstatus reads abnormal-true conditions.
 */
export function setStalledCondition<C extends Condition[] | undefined>(conditions: C, stalled: { reason: string; message: string } | undefined, generation: number, now: Date): C | Condition[] {
  if (!stalled) return conditions?.some((c) => c.type === 'Stalled') ? conditions.filter((c) => c.type !== 'Stalled') : conditions;
  return setCondition(conditions, { type: 'Stalled', status: 'True', reason: stalled.reason, message: stalled.message, observedGeneration: generation }, now);
}
