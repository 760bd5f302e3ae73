// Pure status of a RegisteredModel's serving: what the scoring Deployment serves, observed from
// the Deployment alone, and the Ready condition a user reads in `kubectl get models`.
import type { RegisteredModelSpec, RegisteredModelStatus } from '../../api/v1alpha1/registered-model.js';
import type { ChildRejection } from '../../runtime/rejections.js';
import { CHALLENGER_ANNOTATION, VERSION_ANNOTATION } from './serving.js';

/** Ready's (and Stalled's) reason while the API server refuses a serving child (invalid, or denied by an admission policy). */
export const CHILD_REJECTED = 'ChildRejected';

export type ServingStatus = NonNullable<RegisteredModelStatus['serving']>;

export interface ReadyCondition {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export interface DeploymentState {
  /** Champion version of the Deployment's current Pod template. */
  version?: number;
  challenger?: number;
  replicas: number;
  updated: number;
  ready: number;
  /** Every Pod runs the current template and is available: the rollout is over. */
  complete: boolean;
  /** Why the rollout cannot go on, from the Deployment's own conditions. */
  stuck?: string;
}

const intOf = (v: unknown) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined);

export function observeDeployment(deployment: any): DeploymentState {
  const annotations = deployment.metadata?.annotations ?? {};
  const s = deployment.status ?? {};
  const replicas = deployment.spec?.replicas ?? 1;
  const updated = s.updatedReplicas ?? 0;
  const observed = (s.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 1);
  const complete = observed && updated === replicas && (s.replicas ?? 0) === updated && (s.availableReplicas ?? 0) >= updated;
  const conditions: any[] = s.conditions ?? [];
  const progressing = conditions.find((c) => c.type === 'Progressing');
  const failure = conditions.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  let stuck: string | undefined;
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') stuck = progressing.message ?? 'progress deadline exceeded';
  else if (failure) stuck = failure.message ?? failure.reason;
  const state: DeploymentState = { replicas, updated, ready: s.readyReplicas ?? 0, complete };
  const version = intOf(annotations[VERSION_ANNOTATION]);
  const challenger = intOf(annotations[CHALLENGER_ANNOTATION]);
  if (version !== undefined) state.version = version;
  if (challenger !== undefined) state.challenger = challenger;
  if (stuck) state.stuck = stuck;
  return state;
}

/**
 * What serves now. A finished rollout serves the template's version; during a rollout the version
 * last seen fully rolled out keeps serving (maxUnavailable 0), as long as any Pod is ready.
 */
export function computeServingStatus(state: DeploymentState | undefined, previous: ServingStatus | undefined, url: string): ServingStatus {
  const status: ServingStatus = { url, replicas: state?.replicas ?? 0, readyReplicas: state?.ready ?? 0 };
  if (!state || state.ready === 0) return status;
  if (state.complete) {
    if (state.version !== undefined) status.servedVersion = state.version;
    if (state.challenger !== undefined) status.challengerVersion = state.challenger;
    return status;
  }
  if (previous?.servedVersion !== undefined && previous.servedVersion !== state.version) {
    status.servedVersion = previous.servedVersion;
    if (previous.challengerVersion !== undefined) status.challengerVersion = previous.challengerVersion;
  }
  if (state.version !== undefined) {
    if (status.servedVersion === undefined) status.servedVersion = state.version; // scaling, not a new version
    else status.rolloutVersion = state.version;
  }
  return status;
}

export interface ReadyInput {
  spec: RegisteredModelSpec;
  name: string;
  hasVersions: boolean;
  champion?: number;
  challenger?: number;
  /** A promotion problem (e.g. a pinned version that does not exist). */
  problem?: { reason: string; message: string };
  deployment?: DeploymentState;
  serving?: ServingStatus;
  /** A serving child the API server refused to create or update, for good. */
  rejected?: ChildRejection;
}

/** What the API server said, and what to do: the same child is not sent again. */
export function rejectionMessage(r: ChildRejection): string {
  return `the API server rejected ${r.child}: ${r.message}; fix the spec (the ${r.child.split(' ')[0]} is not sent again until the spec or its inputs change)`;
}

export function computeReadyCondition(input: ReadyInput): ReadyCondition {
  const { spec, name, champion, deployment, serving } = input;
  const no = (reason: string, message: string): ReadyCondition => ({ status: 'False', reason, message });
  if (input.problem) return no(input.problem.reason, input.problem.message);
  if (input.rejected) {
    const still = serving?.servedVersion !== undefined ? `; version ${serving.servedVersion} still serves` : '';
    return no(CHILD_REJECTED, `${rejectionMessage(input.rejected)}${still}`);
  }
  if (!input.hasVersions) return no('NoVersions', `no version yet: a TrainingRun with modelRef ${name} registers the first`);
  if (champion === undefined) return no('NoChampion', 'no version holds the champion alias: pin one in spec.promotion.champion or use policy Automatic');
  if (spec.serving.mode === 'None') return { status: 'True', reason: 'ChampionSelected', message: `version ${champion} is champion (serving.mode None: nothing is deployed)` };
  if (!deployment) return no('Deploying', `creating the scoring Deployment for version ${champion}`);
  const canary = serving?.challengerVersion !== undefined && spec.serving.canary ? `; version ${serving.challengerVersion} takes ${spec.serving.canary.challengerPercent}% of requests` : '';
  const pods = `${deployment.ready}/${deployment.replicas} scoring Pods ready`;
  if (deployment.replicas === 0) return no('ScaledToZero', 'serving.replicas is 0, so nothing serves: set it to 1 or more');
  if (serving?.servedVersion === undefined) {
    const why = deployment.stuck ? `: ${deployment.stuck}` : '; see kubectl describe pods -l orchard.dev/model=' + name;
    return no(deployment.stuck ? 'RolloutStuck' : 'NoReadyReplicas', `version ${deployment.version ?? champion} is not serving yet, ${pods}${why}`);
  }
  if (serving.rolloutVersion !== undefined || deployment.version !== champion) {
    const next = serving.rolloutVersion ?? champion;
    const progress = `${deployment.updated}/${deployment.replicas} Pods updated`;
    if (deployment.stuck) return { status: 'True', reason: 'RolloutStuck', message: `version ${serving.servedVersion} serves, but rolling out version ${next} is stuck (${progress}): ${deployment.stuck}` };
    return { status: 'True', reason: 'RollingOut', message: `version ${serving.servedVersion} serves while version ${next} rolls out (${progress}); it takes over as its Pods become ready` };
  }
  return { status: 'True', reason: 'Serving', message: `version ${serving.servedVersion} served by ${pods} at ${serving.url}${canary}` };
}
