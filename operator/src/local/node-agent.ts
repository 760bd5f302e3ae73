// A local node agent: it registers a Node with the API server and runs the Pods the scheduler
// binds to it as local processes, the way a kubelet would run them in containers. It implements
// what Orchard's Pods need (docs/local.md) and refuses anything else with the field and the reason.
//
//   const agent = await startNodeAgent({ kc, nodeName: 'orchard-local', repoRoot, stateDir });
//   …                         // Pods scheduled to orchard-local run as processes
//   await agent.stop();       // every container process ends; the Node and the Pods stay
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { apiErrorMessage, requestJson, type KubeConfig } from '../kube/client.js';
import { isConflict, isNotFound } from '../runtime/errors.js';
import { makeInformer, type Informer } from '../kube/informer.js';
import { leasePath, microTime } from '../runtime/leader-election.js';
import type { Fields, Logger } from '../runtime/log.js';
import { pidAlive, readPidFile } from './process.js';
import { AddressPool, checkLocal, isLoopback } from './node/addresses.js';
import { orchardRuntimeImage, type LocalImage } from './node/images.js';
import { buildLease, buildNode, buildNodeStatus, DEFAULT_CAPACITY, LEASE_DURATION_SECONDS, nodeLabels, type NodeShape } from './node/node-object.js';
import type { Pod } from './node/pod-spec.js';
import { PodWorker } from './node/pod-worker.js';
import { FIELD_MANAGER } from './node/status-writer.js';
import { installSupervisor, sweepContainerProcesses } from './node/processes.js';
import { isTerminal } from './node/status.js';

export type { LocalImage } from './node/images.js';

/** The runtime image name the local cluster's operator uses; any tag or registry of `orchard` maps the same. */
export const LOCAL_RUNTIME_IMAGE = 'orchard:local';

export interface NodeAgentOptions {
  kc: KubeConfig;
  nodeName: string;
  /** The checkout: the runtime image's /app. */
  repoRoot: string;
  /** Where Pods' volumes and container logs go (<stateDir>/pods/<ns>_<pod>_<uid>/…); one agent per directory. */
  stateDir: string;
  /** Progress lines (a line function or a structured logger); silent when unset. */
  log?: ((line: string) => void) | Logger;
  /**
   * Pod addresses (default 127.0.0.0/24: 127.0.0.2–127.0.0.254). Loopback ones need no set-up, but
   * the API server keeps them out of EndpointSlices; any range made local (`sudo ip route add
   * local 10.244.0.0/24 dev lo`) gets Pods into their Services' EndpointSlices too.
   */
  podAddresses?: string;
  /**
   * Host directories that mean the same in every Pod, like a shared volume or bucket: paths inside
   * them are never rewritten, so a file:// artifact URI one Pod writes is one the next Pod can
   * read (default: the checkout). Put a local artifact store here.
   */
  sharedPaths?: string[];
  /** The images it runs (default: the Orchard runtime image). */
  images?: LocalImage[];
  /** Advertised capacity (default DEFAULT_CAPACITY: no GPUs). */
  capacity?: Record<string, string>;
  labels?: Record<string, string>;
  /** Container restart back-off (the kubelet's 10 s doubling to 5 min by default). */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** How long stop() waits for containers after SIGTERM before SIGKILL. */
  stopGraceMs?: number;
  now?: () => Date;
}

export interface NodeAgent {
  nodeName: string;
  /** The directory of a Pod's volumes and logs, by UID, while the agent runs it. */
  podDir(uid: string): string | undefined;
  /** Stops every container process and the heartbeat; the Node, its Lease and the Pods stay in the API. */
  stop(): Promise<void>;
}

const LEASE_RENEW_MS = (LEASE_DURATION_SECONDS * 1000) / 4;
const NODE_STATUS_MS = 60_000;

export async function startNodeAgent(options: NodeAgentOptions): Promise<NodeAgent> {
  const { kc, nodeName } = options;
  const log = toLogger(options.log).with({ node: nodeName });
  const now = options.now ?? (() => new Date());
  mkdirSync(options.stateDir, { recursive: true });
  const releaseLock = lockStateDir(options.stateDir);
  const podsDir = join(options.stateDir, 'pods');
  const swept = sweepContainerProcesses(podsDir);
  if (swept.length) log.info('killed container processes an earlier agent left', { pids: swept });

  const version = await requestJson(kc, 'GET', '/version').catch(() => ({ gitVersion: 'v0.0.0' }));
  const shape: NodeShape = { name: nodeName, capacity: options.capacity ?? DEFAULT_CAPACITY, kubeletVersion: version.gitVersion, ...(options.labels ? { labels: options.labels } : {}) };
  const stopping = new AbortController();
  const workers = new Map<string, PodWorker>();
  let informer: Informer<Pod> | undefined;
  const timers: NodeJS.Timeout[] = [];
  const addresses = new AddressPool(options.podAddresses ?? '127.0.0.0/24');

  try {
    await checkLocal(addresses);
    if (isLoopback(addresses.cidr)) log.info('Pod addresses are loopback addresses: the API server keeps them out of EndpointSlices (docs/local.md)', { range: addresses.cidr });
    const node = await registerNode(kc, shape, now());
    log.info('node registered', { uid: node.metadata.uid });
    const renewLease = leaseRenewer(kc, nodeName, node.metadata.uid);
    await renewLease(now());
    timers.push(
      setInterval(() => void renewLease(now()).catch((err) => log.error('renewing the node lease failed', { err: apiErrorMessage(err) })), LEASE_RENEW_MS),
      setInterval(() => void postNodeStatus(kc, shape, now()).catch((err) => log.error('posting node status failed', { err: apiErrorMessage(err) })), NODE_STATUS_MS),
    );

    const context = {
      kc,
      hostIP: '127.0.0.1',
      node: { labels: nodeLabels(shape), allocatable: shape.capacity },
      images: options.images ?? [orchardRuntimeImage(options.repoRoot)],
      podsDir,
      addresses,
      log,
      backoff: options.restartBackoff ?? { initialMs: 10_000, maxMs: 300_000 },
      supervisor: installSupervisor(options.stateDir),
      hostPath: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      sharedPaths: (options.sharedPaths ?? [options.repoRoot]).map((p) => resolve(p)),
      now,
    };
    const onPod = (pod: Pod) => {
      if (stopping.signal.aborted) return;
      const worker = workers.get(pod.metadata.uid);
      if (worker) return worker.update(pod);
      // Finished before this agent saw it: nothing left to run.
      if (isTerminal(pod.status?.phase)) return;
      const fresh = new PodWorker(context, pod);
      workers.set(pod.metadata.uid, fresh);
      log.info('pod bound here', { pod: fresh.name });
      // A Pod an earlier agent ran keeps its address: reserved now, while the first list is
      // delivered, and taken when the worker starts, after every listed Pod has reserved its own.
      addresses.reserve(pod.metadata.uid, pod.status?.podIP);
      setImmediate(() => {
        if (stopping.signal.aborted) return;
        // Being deleted already: only the deletion is left to do.
        if (pod.metadata.deletionTimestamp) fresh.update(pod);
        fresh.start();
      });
    };
    informer = makeInformer<Pod>(kc, '/api/v1/pods', {
      fieldSelector: `spec.nodeName=${nodeName}`,
      onError: (err, retryInMs) => log.error('watching pods failed', { err: apiErrorMessage(err), retryInMs }),
    });
    informer.on('add', onPod);
    informer.on('update', onPod);
    informer.on('delete', (pod) => {
      const worker = workers.get(pod.metadata.uid);
      if (!worker) return;
      workers.delete(pod.metadata.uid);
      void worker.gone();
    });
    await informer.start();
  } catch (err) {
    for (const t of timers) clearInterval(t);
    informer?.stop();
    releaseLock();
    throw new Error(`starting the node agent ${nodeName}: ${apiErrorMessage(err)}`, { cause: err });
  }

  let stopped: Promise<void> | undefined;
  return {
    nodeName,
    podDir: (uid) => workers.get(uid)?.dir,
    stop: () =>
      (stopped ??= (async () => {
        stopping.abort();
        for (const t of timers) clearInterval(t);
        informer?.stop();
        await Promise.all([...workers.values()].map((w) => w.stop(options.stopGraceMs ?? 3000)));
        releaseLock();
        log.info('node agent stopped');
      })()),
  };
}

async function registerNode(kc: KubeConfig, shape: NodeShape, now: Date): Promise<any> {
  try {
    return await requestJson(kc, 'POST', `/api/v1/nodes?fieldManager=${FIELD_MANAGER}`, { body: buildNode(shape, now) });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
  // Registered before (an earlier run): take it over, as a restarted kubelet does.
  const relabelled = await requestJson(kc, 'PATCH', `${nodePath(shape.name)}?fieldManager=${FIELD_MANAGER}`, {
    contentType: 'application/merge-patch+json',
    body: { metadata: { labels: nodeLabels(shape) } },
  });
  return putNodeStatus(kc, relabelled, shape, now);
}

async function postNodeStatus(kc: KubeConfig, shape: NodeShape, now: Date): Promise<void> {
  await putNodeStatus(kc, await requestJson(kc, 'GET', nodePath(shape.name)), shape, now);
}

/** Writes this agent's view of the Node's status onto `node`, as read (or written) last. */
function putNodeStatus(kc: KubeConfig, node: any, shape: NodeShape, now: Date): Promise<any> {
  return requestJson(kc, 'PUT', `${nodePath(shape.name)}/status?fieldManager=${FIELD_MANAGER}`, { body: { ...node, status: { ...node.status, ...buildNodeStatus(shape, node.status, now) } } });
}

const nodePath = (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`;

/**
 * Renews the node's Lease as the kubelet's lease controller does: an update of the Lease it last
 * wrote, one request a beat; a GET (or a create) only when that copy is missing or stale.
 */
export function leaseRenewer(kc: KubeConfig, nodeName: string, nodeUid: string): (now: Date) => Promise<void> {
  const path = leasePath('kube-node-lease', nodeName);
  let latest: any;
  const renewed = (lease: any, now: Date) => ({ ...lease, spec: { ...lease.spec, holderIdentity: nodeName, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: microTime(now.getTime()) } });
  return async (now) => {
    if (latest) {
      try {
        latest = await requestJson(kc, 'PUT', `${path}?fieldManager=${FIELD_MANAGER}`, { body: renewed(latest, now) });
        return;
      } catch (err) {
        latest = undefined;
        if (!isConflict(err) && !isNotFound(err)) throw err;
      }
    }
    try {
      latest = await requestJson(kc, 'PUT', `${path}?fieldManager=${FIELD_MANAGER}`, { body: renewed(await requestJson(kc, 'GET', path), now) });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      latest = await requestJson(kc, 'POST', `${leasePath('kube-node-lease')}?fieldManager=${FIELD_MANAGER}`, { body: buildLease(nodeName, nodeUid, now) });
    }
  };
}

/** One agent per state directory: a second would run the same Pods' processes twice. */
function lockStateDir(stateDir: string): () => void {
  const file = join(stateDir, 'agent.pid');
  const pid = readPidFile(file);
  if (pid !== undefined && pid !== process.pid && pidAlive(pid)) throw new Error(`another node agent (pid ${pid}) uses ${stateDir}`);
  writeFileSync(file, String(process.pid));
  return () => rmSync(file, { force: true });
}

/** A line function becomes a logger of `message key=value …` lines. */
function toLogger(log: NodeAgentOptions['log']): Logger {
  if (log && typeof log === 'object') return log;
  const write = log ?? (() => {});
  const make = (base: Fields): Logger => {
    const emit = (prefix: string, msg: string, fields?: Fields) => {
      const all = { ...base, ...fields };
      delete all.node;
      const parts = Object.entries(all).map(([k, v]) => `${k}=${v instanceof Error ? v.message : typeof v === 'string' ? v : JSON.stringify(v)}`);
      write([`${prefix}${msg}`, ...parts].join(' '));
    };
    return {
      info: (msg, fields) => emit('', msg, fields),
      error: (msg, fields) => emit('error: ', msg, fields),
      debug: () => {},
      with: (fields) => make({ ...base, ...fields }),
    };
  };
  return make({});
}
