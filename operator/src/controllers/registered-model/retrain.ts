// Pure: when drift asks for retraining, which TrainingRun to create, at most once per cool-down.
// Everything is derived from the retrain runs that exist, so a crash between creating a run and
// writing status neither loses it nor creates a second one.
import { API_VERSION } from '../../api/v1alpha1/common.js';
import type { RegisteredModelSpec } from '../../api/v1alpha1/registered-model.js';
import { childName, LABELS } from '../training-run/desired.js';
import type { RegisteredModelObject } from './serving.js';

export const RETRAIN_LABEL = 'orchard.dev/retrain-of';
export const RETRAIN_INDEX_ANNOTATION = 'orchard.dev/retrain-index';

export interface RetrainRun {
  name: string;
  index: number;
  createdTime: Date;
}

export type RetrainPlan =
  | { action: 'None' }
  | { action: 'Create'; index: number; name: string }
  | { action: 'CoolingDown'; until: Date; last: RetrainRun | undefined };

export function retrainRunName(model: string, index: number): string {
  return childName(model, `retrain-${index}`);
}

/** The retrain runs of a model among TrainingRuns, from their label and index annotation. */
export function retrainRunsOf(model: string, runs: any[]): RetrainRun[] {
  const found: RetrainRun[] = [];
  for (const run of runs) {
    if (run.metadata?.labels?.[RETRAIN_LABEL] !== model) continue;
    const index = Number(run.metadata.annotations?.[RETRAIN_INDEX_ANNOTATION]);
    if (!Number.isInteger(index) || index < 1) continue;
    found.push({ name: run.metadata.name, index, createdTime: new Date(run.metadata.creationTimestamp) });
  }
  return found.sort((a, b) => a.index - b.index);
}

export function planRetrain(input: {
  spec: RegisteredModelSpec;
  model: string;
  drifted: boolean;
  runs: RetrainRun[];
  /** From status, in case the runs were deleted since. */
  lastRetrainTime?: string;
  now: Date;
}): RetrainPlan {
  const { spec, runs, now } = input;
  if (spec.drift.onDrift !== 'Retrain' || !spec.retrain || !input.drifted) return { action: 'None' };
  const last = runs.at(-1);
  const times = [last?.createdTime.getTime(), input.lastRetrainTime ? Date.parse(input.lastRetrainTime) : undefined].filter((t): t is number => t !== undefined && !Number.isNaN(t));
  const lastTime = times.length ? Math.max(...times) : undefined;
  if (lastTime !== undefined && now.getTime() < lastTime + spec.drift.coolDownSeconds * 1000) {
    return { action: 'CoolingDown', until: new Date(lastTime + spec.drift.coolDownSeconds * 1000), last };
  }
  const index = (last?.index ?? 0) + 1;
  return { action: 'Create', index, name: retrainRunName(input.model, index) };
}

export function buildRetrainRun(model: RegisteredModelObject, index: number): Record<string, any> {
  const template = model.spec.retrain!.template;
  return {
    apiVersion: API_VERSION,
    kind: 'TrainingRun',
    metadata: {
      name: retrainRunName(model.metadata.name, index),
      namespace: model.metadata.namespace,
      labels: { [LABELS.managedBy]: 'orchard', [LABELS.model]: model.metadata.name, [RETRAIN_LABEL]: model.metadata.name },
      annotations: { [RETRAIN_INDEX_ANNOTATION]: String(index) },
      // Not a controller reference: the run stands on its own, but goes when its model goes.
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'RegisteredModel', name: model.metadata.name, uid: model.metadata.uid }],
    },
    spec: { ...template, modelRef: template.modelRef ?? { name: model.metadata.name } },
  };
}
