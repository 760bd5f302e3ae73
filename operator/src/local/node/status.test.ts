import { describe, expect, it } from '@jest/globals';
import { AddressPool } from './addresses.js';
import { orchardRuntimeImage } from './images.js';
import { admitPod, type Pod } from './pod-spec.js';
import { computePodStatus, podPhase, waitingStatus, type ContainerStatus, type PodRuntime, type PodStatus } from './status.js';

const t0 = new Date('2026-11-23T10:00:00Z');
const later = new Date('2026-11-23T10:05:00Z');
const pod = (restartPolicy: string, init: string[] = [], main = ['main'], status?: PodStatus): Pod => ({
  metadata: { name: 'p', namespace: 'ml', uid: 'u1' },
  spec: { restartPolicy, initContainers: init.map((name) => ({ name, image: 'orchard' })), containers: main.map((name) => ({ name, image: 'orchard' })) },
  ...(status ? { status } : {}),
});
const waiting = (name: string) => waitingStatus(name, 'orchard', 'PodInitializing');
const running = (name: string, ready = false): ContainerStatus => ({ ...waiting(name), state: { running: { startedAt: '2026-11-23T10:00:01Z' } }, ready, started: true });
const exited = (name: string, exitCode: number): ContainerStatus => ({ ...waiting(name), state: { terminated: { exitCode, reason: exitCode ? 'Error' : 'Completed', finishedAt: '2026-11-23T10:00:02Z' } } });
const crashLooping = (name: string): ContainerStatus => ({ ...waitingStatus(name, 'orchard', 'CrashLoopBackOff'), lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: '2026-11-23T10:00:02Z' } }, restartCount: 1 });
const runtime = (init: ContainerStatus[], containers: ContainerStatus[], extra: Partial<PodRuntime> = {}): PodRuntime => ({ hostIP: '127.0.0.1', podIP: '127.0.0.2', sandboxReady: true, init, containers, ...extra });

describe('the Pod phase, by the kubelet rules', () => {
  const cases: [string, Pod, PodRuntime, string][] = [
    ['init containers running', pod('Never', ['a', 'b']), runtime([exited('a', 0), running('b')], [waiting('main')]), 'Pending'],
    ['an init container failed, Never', pod('Never', ['a', 'b']), runtime([exited('a', 2), waiting('b')], [waiting('main')]), 'Failed'],
    ['an init container failed, OnFailure: it runs again', pod('OnFailure', ['a']), runtime([crashLooping('a')], [waiting('main')]), 'Pending'],
    ['a container running', pod('Never', ['a']), runtime([exited('a', 0)], [running('main')]), 'Running'],
    ['all succeeded', pod('Never'), runtime([], [exited('main', 0)]), 'Succeeded'],
    ['one failed, Never', pod('Never', [], ['a', 'b']), runtime([], [exited('a', 0), exited('b', 1)]), 'Failed'],
    ['one failed, OnFailure: it restarts', pod('OnFailure'), runtime([], [crashLooping('main')]), 'Running'],
    ['exited, Always: it restarts', pod('Always'), runtime([], [exited('main', 0)]), 'Running'],
    ['deleted, all exited 0', pod('Always'), runtime([], [exited('main', 0)], { stopped: true }), 'Succeeded'],
    ['deleted, killed', pod('Always'), runtime([], [exited('main', 137)], { stopped: true }), 'Failed'],
    ['refused', pod('Always'), runtime([], [waiting('main')], { failure: { reason: 'UnsupportedPodSpec', message: 'x' } }), 'Failed'],
  ];
  it.each(cases)('%s', (_name, p, r, phase) => expect(podPhase(p, r)).toBe(phase));
});

describe('the Pod status', () => {
  it('reports conditions as the kubelet does, with reasons and the incomplete containers', () => {
    const status = computePodStatus(pod('Never', ['a', 'b']), runtime([exited('a', 0), running('b')], [waiting('main')]), t0);
    expect(status.conditions!.map((c) => [c.type, c.status, c.reason ?? '', c.message ?? ''])).toEqual([
      ['PodReadyToStartContainers', 'True', '', ''],
      ['Initialized', 'False', 'ContainersNotInitialized', 'containers with incomplete status: [b]'],
      ['Ready', 'False', 'ContainersNotReady', 'containers with unready status: [main]'],
      ['ContainersReady', 'False', 'ContainersNotReady', 'containers with unready status: [main]'],
    ]);
    expect(status).toMatchObject({ phase: 'Pending', podIP: '127.0.0.2', podIPs: [{ ip: '127.0.0.2' }], hostIP: '127.0.0.1' });
  });

  it('keeps lastTransitionTime while a condition holds, and other components’ conditions as they are', () => {
    const scheduled = { type: 'PodScheduled', status: 'True' as const, lastProbeTime: null, lastTransitionTime: '2026-11-23T09:59:00Z' };
    const first = computePodStatus(pod('Always', [], ['main'], { conditions: [scheduled], qosClass: 'BestEffort' }), runtime([], [running('main', true)]), t0);
    const second = computePodStatus(pod('Always', [], ['main'], first), runtime([], [running('main', true)]), later);
    expect(second).toEqual(first);
    expect(second.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: '2026-11-23T10:00:00Z' });
    expect(second.conditions!.at(-1)).toEqual(scheduled);
    expect(second.qosClass).toBe('BestEffort');
    const unready = computePodStatus(pod('Always', [], ['main'], second), runtime([], [running('main', false)]), later);
    expect(unready.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', lastTransitionTime: '2026-11-23T10:05:00Z' });
  });

  it('says PodCompleted once every container succeeded', () => {
    const status = computePodStatus(pod('Never'), runtime([], [exited('main', 0)]), t0);
    expect(status.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
  });

  it('waits for readiness gates', () => {
    const p = { ...pod('Always'), spec: { ...pod('Always').spec, readinessGates: [{ conditionType: 'example.com/lb' }] } };
    const status = computePodStatus(p, runtime([], [running('main', true)]), t0);
    expect(status.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ReadinessGatesNotReady' });
    expect(status.conditions!.find((c) => c.type === 'ContainersReady')?.status).toBe('True');
  });
});

describe('admission', () => {
  const node = { labels: { 'kubernetes.io/os': 'linux' }, allocatable: { cpu: '32', memory: '128Gi', pods: '110' } };
  const images = [orchardRuntimeImage('/repo')];
  const admit = (spec: object) => admitPod({ metadata: { name: 'p', namespace: 'ml', uid: 'u' }, spec: { containers: [{ name: 'main', image: 'orchard:local', command: ['orchard'] }], ...spec } } as Pod, node, images);

  it("accepts Orchard's Pods", () => {
    expect(admit({ volumes: [{ name: 'work', emptyDir: {} }, { name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token' } }, { configMap: { name: 'kube-root-ca.crt' } }] } }] })).toEqual([]);
  });

  const refused: [string, object, string, string][] = [
    ['an unmapped image', { containers: [{ name: 'main', image: 'busybox' }] }, 'spec.containers[0].image', 'UnsupportedPodSpec'],
    ['an executable the image lacks', { containers: [{ name: 'main', image: 'orchard', command: ['bash'] }] }, 'spec.containers[0].command[0]', 'UnsupportedPodSpec'],
    ['hostPath', { volumes: [{ name: 'h', hostPath: { path: '/' } }] }, 'spec.volumes[0].hostPath', 'UnsupportedPodSpec'],
    ['a persistent volume claim', { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'd' } }] }, 'spec.volumes[0].persistentVolumeClaim', 'UnsupportedPodSpec'],
    ['hostNetwork', { hostNetwork: true }, 'spec.hostNetwork', 'UnsupportedPodSpec'],
    ['an exec probe', { containers: [{ name: 'main', image: 'orchard', livenessProbe: { exec: { command: ['true'] } } }] }, 'spec.containers[0].livenessProbe.exec', 'UnsupportedPodSpec'],
    ['a GPU', { containers: [{ name: 'main', image: 'orchard', resources: { limits: { 'nvidia.com/gpu': '1' } } }] }, 'spec.containers[*].resources', 'OutOfnvidia.com/gpu'],
    ['a node selector it does not match', { nodeSelector: { 'cloud.google.com/gke-accelerator': 'nvidia-l4' } }, 'spec.nodeSelector', 'NodeAffinity'],
  ];
  it.each(refused)('refuses %s', (_name, spec, field, reason) => expect(admit(spec)).toEqual([expect.objectContaining({ field, reason })]));
});

describe('Pod addresses', () => {
  it('gives out a range’s host addresses, never the node’s, and a Pod its earlier one', () => {
    const pool = new AddressPool('127.0.0.0/29');
    pool.reserve('earlier', '127.0.0.2');
    expect(pool.allocate('new')).toBe('127.0.0.3');
    expect(pool.allocate('earlier', '127.0.0.2')).toBe('127.0.0.2');
    expect(pool.allocate('other', '127.0.0.2')).toBe('127.0.0.4');
    pool.release('other', '127.0.0.2');
    expect(pool.allocate('another', '127.0.0.2')).toBe('127.0.0.5');
    pool.release('earlier', '127.0.0.2');
    expect(pool.allocate('another', '127.0.0.2')).toBe('127.0.0.2');
    expect(pool.allocate('x')).toBe('127.0.0.6');
    expect(() => pool.allocate('y')).toThrow('no free Pod address left in 127.0.0.0/29');
    expect(new AddressPool('10.244.1.0/24').allocate('p', '10.244.1.9')).toBe('10.244.1.9');
    expect(() => new AddressPool('127.0.0.0')).toThrow('want an IPv4 CIDR');
  });
});
