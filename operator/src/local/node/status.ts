// A Pod's status as the kubelet writes it, computed from what the agent knows of its containers.
// Pure: time comes in as an argument, and conditions keep their lastTransitionTime while their
// status stays the same.
import { transitionTime } from '../../runtime/conditions.js';
import type { Pod } from './pod-spec.js';

export interface Terminated {
  exitCode: number;
  reason: string;
  message?: string;
  startedAt?: string;
  finishedAt: string;
  containerID?: string;
}

export type ContainerState = { waiting: { reason: string; message?: string } } | { running: { startedAt: string } } | { terminated: Terminated };

export interface ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  state: ContainerState;
  lastState: { terminated?: Terminated };
  ready: boolean;
  started: boolean;
  restartCount: number;
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastProbeTime: null;
  lastTransitionTime: string;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface PodStatus {
  phase?: PodPhase;
  conditions?: PodCondition[];
  reason?: string;
  message?: string;
  hostIP?: string;
  hostIPs?: { ip: string }[];
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime?: string;
  initContainerStatuses?: ContainerStatus[];
  containerStatuses?: ContainerStatus[];
  [key: string]: unknown;
}

/** What the agent knows of one Pod. */
export interface PodRuntime {
  hostIP: string;
  podIP?: string;
  startTime?: string;
  /** The Pod's network and volumes are set up. */
  sandboxReady: boolean;
  /** The Pod failed as a whole: refused at admission, or past activeDeadlineSeconds. */
  failure?: { reason: string; message: string };
  /** Set once the Pod was stopped for deletion: the kubelet then reports a terminal phase. */
  stopped?: boolean;
  init: ContainerStatus[];
  containers: ContainerStatus[];
}

/** The kubelet's phase rules (getPhase in pkg/kubelet/kubelet_pods.go), for what the agent implements. */
export function podPhase(pod: Pod, runtime: PodRuntime): PodPhase {
  if (runtime.failure) return 'Failed';
  const restartPolicy = pod.spec.restartPolicy ?? 'Always';
  const initDone = runtime.init.every((s) => 'terminated' in s.state && s.state.terminated.exitCode === 0);
  const initFailed = runtime.init.some((s) => 'terminated' in s.state && s.state.terminated.exitCode !== 0);
  if (initFailed && (restartPolicy === 'Never' || runtime.stopped)) return 'Failed';
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of runtime.containers) {
    if ('running' in s.state) running++;
    else if ('terminated' in s.state) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.lastState.terminated) stopped++;
    else waiting++;
  }
  if (runtime.stopped) {
    // Deleted: every container has been stopped, and the Pod ends Succeeded only if all exited 0.
    return runtime.containers.length > 0 && succeeded === runtime.containers.length ? 'Succeeded' : 'Failed';
  }
  if (!initDone || waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

/** The whole status to write: the kubelet's fields from `runtime`, everything else (PodScheduled, qosClass) as the Pod has it. */
export function computePodStatus(pod: Pod, runtime: PodRuntime, now: Date): PodStatus {
  const current = pod.status ?? {};
  const phase = podPhase(pod, runtime);
  const names = (list: ContainerStatus[], keep: (s: ContainerStatus) => boolean) => list.filter(keep).map((s) => s.name);
  const incomplete = names(runtime.init, (s) => !('terminated' in s.state && s.state.terminated.exitCode === 0));
  const unready = names(runtime.containers, (s) => !s.ready);
  const completed = phase === 'Succeeded';

  const ours: Omit<PodCondition, 'lastTransitionTime' | 'lastProbeTime'>[] = [
    { type: 'PodReadyToStartContainers', status: runtime.sandboxReady && !runtime.stopped && !isTerminal(phase) ? 'True' : 'False' },
    incomplete.length === 0 || completed
      ? { type: 'Initialized', status: 'True' }
      : { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', message: `containers with incomplete status: [${incomplete.join(' ')}]` },
  ];
  const containersReady = completed
    ? { status: 'False' as const, reason: 'PodCompleted' }
    : unready.length === 0 && runtime.containers.length > 0
      ? { status: 'True' as const }
      : { status: 'False' as const, reason: 'ContainersNotReady', message: `containers with unready status: [${unready.join(' ')}]` };
  ours.push({ type: 'ContainersReady', ...containersReady });
  ours.push({ type: 'Ready', ...readyCondition(pod, containersReady) });

  const owned = new Set(ours.map((c) => c.type));
  const conditions: PodCondition[] = (current.conditions ?? []).filter((c) => !owned.has(c.type));
  for (const next of ours) {
    const previous = current.conditions?.find((c) => c.type === next.type);
    conditions.push({ ...next, lastProbeTime: null, lastTransitionTime: transitionTime(previous, next.status, now) });
  }
  conditions.sort((a, b) => order(a.type) - order(b.type));

  const status: PodStatus = { ...current, phase, conditions, hostIP: runtime.hostIP, hostIPs: [{ ip: runtime.hostIP }] };
  delete status.reason;
  delete status.message;
  if (runtime.failure) Object.assign(status, runtime.failure);
  if (runtime.podIP) Object.assign(status, { podIP: runtime.podIP, podIPs: [{ ip: runtime.podIP }] });
  if (runtime.startTime) status.startTime = runtime.startTime;
  if (runtime.init.length) status.initContainerStatuses = [...runtime.init];
  else delete status.initContainerStatuses;
  status.containerStatuses = [...runtime.containers];
  return status;
}

function readyCondition(pod: Pod, containersReady: { status: 'True' | 'False'; reason?: string; message?: string }) {
  if (containersReady.status !== 'True') return containersReady;
  for (const gate of pod.spec.readinessGates ?? []) {
    const condition = pod.status?.conditions?.find((c) => c.type === gate.conditionType);
    if (!condition) return { status: 'False' as const, reason: 'ReadinessGatesNotReady', message: `corresponding condition of pod readiness gate "${gate.conditionType}" does not exist.` };
    if (condition.status !== 'True') return { status: 'False' as const, reason: 'ReadinessGatesNotReady', message: `the status of pod readiness gate "${gate.conditionType}" is not "True", but ${condition.status}` };
  }
  return containersReady;
}

export function isTerminal(phase: PodPhase | undefined): boolean {
  return phase === 'Succeeded' || phase === 'Failed';
}

const ORDER = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'];
function order(type: string): number {
  const i = ORDER.indexOf(type);
  return i < 0 ? ORDER.length : i;
}

/** A container that has not started: the kubelet's PodInitializing while init containers run, ContainerCreating otherwise. */
export function waitingStatus(name: string, image: string, reason: string, message?: string, previous?: ContainerStatus): ContainerStatus {
  return {
    name,
    image,
    imageID: '',
    state: { waiting: { reason, ...(message ? { message } : {}) } },
    lastState: previous?.lastState ?? {},
    ready: false,
    started: false,
    restartCount: previous?.restartCount ?? 0,
  };
}
