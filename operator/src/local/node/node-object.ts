// The Node and its Lease, as a kubelet registers and renews them. Pure.
import { rfc3339, transitionTime } from '../../runtime/conditions.js';
import { microTime } from '../../runtime/leader-election.js';

export const LEASE_DURATION_SECONDS = 40;
export const AGENT_VERSION = '0.1.0';

export interface NodeShape {
  name: string;
  /** What the scheduler may place here. Advertised, not enforced: processes are not limited. */
  capacity: Record<string, string>;
  /** The API server's version, reported as the kubelet's. */
  kubeletVersion: string;
  labels?: Record<string, string>;
}

/** Generous for Orchard's Pods (a scorer asks 500m CPU and 512Mi, a drift monitor 100m and 128Mi); no GPUs. */
export const DEFAULT_CAPACITY = { cpu: '32', memory: '128Gi', 'ephemeral-storage': '100Gi', pods: '110' };

export function nodeLabels(shape: NodeShape): Record<string, string> {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  return {
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': arch,
    'kubernetes.io/hostname': shape.name,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': arch,
    'orchard.dev/node-agent': 'local',
    ...shape.labels,
  };
}

export function buildNode(shape: NodeShape, now: Date): Record<string, any> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: shape.name, labels: nodeLabels(shape) },
    spec: {},
    status: buildNodeStatus(shape, undefined, now),
  };
}

const PRESSURES = [
  ['MemoryPressure', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
  ['DiskPressure', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
  ['PIDPressure', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
] as const;

/** The status a kubelet reports; conditions keep their lastTransitionTime from `current` while unchanged. */
export function buildNodeStatus(shape: NodeShape, current: { conditions?: { type: string; status: string; lastTransitionTime?: string }[] } | undefined, now: Date): Record<string, any> {
  const time = rfc3339(now);
  const condition = (type: string, status: 'True' | 'False', reason: string, message: string) => {
    const previous = current?.conditions?.find((c) => c.type === type);
    return { type, status, reason, message, lastHeartbeatTime: time, lastTransitionTime: transitionTime(previous, status, now) };
  };
  return {
    capacity: shape.capacity,
    allocatable: shape.capacity,
    conditions: [
      ...PRESSURES.map(([type, reason, message]) => condition(type, 'False', reason, message)),
      condition('Ready', 'True', 'KubeletReady', 'orchard local node agent is posting ready status'),
    ],
    addresses: [
      { type: 'InternalIP', address: '127.0.0.1' },
      { type: 'Hostname', address: shape.name },
    ],
    // No kubelet endpoint: `kubectl logs` and `exec` have nothing to talk to.
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: {
      machineID: '',
      systemUUID: '',
      bootID: '',
      kernelVersion: '',
      osImage: 'orchard local node agent',
      containerRuntimeVersion: `orchard-local://${AGENT_VERSION}`,
      kubeletVersion: shape.kubeletVersion,
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    },
  };
}

export function buildLease(nodeName: string, nodeUid: string, now: Date): Record<string, any> {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: nodeName,
      namespace: 'kube-node-lease',
      // Removed with its Node, as the kubelet's is.
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeUid }],
    },
    spec: { holderIdentity: nodeName, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: microTime(now.getTime()) },
  };
}
