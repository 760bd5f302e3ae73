// One Pod on the local node, from admission to deletion, as the kubelet runs it: volumes, init
// containers one after another, then the containers together with their probes, restarts by the
// Pod's restartPolicy with back-off, and the status written back whenever it changes.
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiErrorMessage, getIfExists, requestJson, type KubeConfig } from '../../kube/client.js';
import { isConflict, isNotFound } from '../../runtime/errors.js';
import { exponentialBackoffMs } from '../../runtime/queue.js';
import { rfc3339 } from '../../runtime/conditions.js';
import type { Logger } from '../../runtime/log.js';
import type { AddressPool } from './addresses.js';
import { findImage, type LocalImage } from './images.js';
import { admitPod, ConfigError, containerEnv, envReferences, planProcess, refusalMessage, type Container, type Lookups, type NodeFacts, type Pod, type Refusal } from './pod-spec.js';
import { ProbeLoop } from './probes.js';
import { startContainerProcess, type ContainerProcess } from './processes.js';
import { computePodStatus, isTerminal, podPhase, waitingStatus, type ContainerStatus, type PodRuntime, type Terminated } from './status.js';
import { PodStatusWriter } from './status-writer.js';
import { terminationMessage } from './termination.js';
import { MountError, secretBytes, setUpVolumes } from './volumes.js';

export interface WorkerContext {
  kc: KubeConfig;
  hostIP: string;
  node: NodeFacts;
  images: LocalImage[];
  /** <stateDir>/pods: one directory per Pod, laid out like the kubelet's /var/log/pods. */
  podsDir: string;
  addresses: AddressPool;
  log: Logger;
  /** Restart back-off: the kubelet's is 10 s doubling to 300 s. */
  backoff: { initialMs: number; maxMs: number };
  /** PATH for the containers: the executables are this machine's. */
  hostPath: string;
  /** The container supervisor script (./processes.ts). */
  supervisor: string;
  /** Host directories every Pod sees at the same path (the checkout, a local artifact store): never rewritten. */
  sharedPaths: string[];
  now: () => Date;
}

type Kind = 'init' | 'main';
const LOST_MESSAGE = 'The container could not be located when the pod was terminated';

export class PodWorker {
  private readonly runtime: PodRuntime;
  private readonly status: PodStatusWriter;
  readonly dir: string;
  private volumeDirs = new Map<string, string>();
  private readonly running = new Map<string, { process: ContainerProcess; probes: ProbeLoop[] }>();
  /** Ends every wait and loop: deletion, the deadline, the agent stopping, the Pod gone. */
  private readonly ending = new AbortController();
  private mode: 'running' | 'deleting' | 'stopped' | 'gone' = 'running';
  private done: Promise<void> = Promise.resolve();
  private deletion: Promise<void> | undefined;
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: WorkerContext,
    pod: Pod,
  ) {
    this.status = new PodStatusWriter(ctx.kc, pod, (latest) => computePodStatus(latest, this.runtime, ctx.now()), ctx.log);
    const { name, namespace, uid } = pod.metadata;
    this.dir = join(ctx.podsDir, `${namespace}_${name}_${uid}`);
    this.runtime = { hostIP: ctx.hostIP, sandboxReady: false, init: [], containers: [], ...(pod.status?.startTime ? { startTime: pod.status.startTime } : {}) };
    const initializing = (pod.spec.initContainers ?? []).length > 0;
    this.runtime.init = (pod.spec.initContainers ?? []).map((c) => carried(c, pod.status?.initContainerStatuses, 'PodInitializing', ctx.now()));
    this.runtime.containers = pod.spec.containers.map((c) => carried(c, pod.status?.containerStatuses, initializing ? 'PodInitializing' : 'ContainerCreating', ctx.now()));
  }

  /** The newest version of the Pod. */
  private get pod(): Pod {
    return this.status.latest;
  }

  get uid(): string {
    return this.pod.metadata.uid;
  }

  get name(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  /** Starts the Pod (or, for a Pod an earlier agent ran, what is left of it). */
  start(): void {
    if (this.mode !== 'running') return;
    this.done = this.run()
      .catch((err: unknown) => {
        this.ctx.log.error('pod worker failed', { pod: this.name, err });
        this.runtime.failure = { reason: 'NodeAgentError', message: `the local node agent failed to run the Pod: ${(err as Error).message}` };
      })
      .finally(() => {
        // Every process of the Pod has exited by now.
        this.release();
        this.status.request();
      });
  }

  /** A newer version of the Pod from the API server. */
  update(pod: Pod): void {
    this.status.observe(pod);
    if (pod.metadata.deletionTimestamp) this.delete();
    else this.status.request();
  }

  /** The Pod is gone from the API server (force-deleted, or deleted by us): stop what still runs. */
  async gone(): Promise<void> {
    this.status.close();
    const wasRunning = this.mode === 'running';
    this.mode = 'gone';
    if (wasRunning) {
      this.ending.abort();
      await this.killAll(this.graceSeconds() * 1000);
    }
    await this.deletion;
    await this.done;
    this.cleanUp();
  }

  /** The agent stops: every process ends, nothing is written or deleted. */
  async stop(graceMs: number): Promise<void> {
    this.mode = 'stopped';
    this.ending.abort();
    this.status.close();
    await this.killAll(graceMs);
    await this.done;
  }

  private async run(): Promise<void> {
    const refusals = admitPod(this.pod, this.ctx.node, this.ctx.images);
    if (refusals.length) return this.refuse(refusals);
    if (this.lostWithEarlierAgent()) return;
    this.runtime.podIP = this.ctx.addresses.allocate(this.uid, this.pod.status?.podIP);
    this.runtime.startTime ??= rfc3339(this.ctx.now());
    this.armDeadline();
    mkdirSync(join(this.dir, 'containers'), { recursive: true });
    this.status.request();

    for (let attempt = 0; !this.ended(); attempt++) {
      try {
        this.volumeDirs = await setUpVolumes(this.ctx.kc, this.pod, join(this.dir, 'volumes'), this.ips());
        break;
      } catch (err) {
        const message = err instanceof MountError ? err.message : `setting up volumes: ${apiErrorMessage(err)}`;
        this.ctx.log.info('volumes not ready', { pod: this.name, err: message });
        for (const s of this.runtime.init) this.setStatus('init', s.name, waitingStatus(s.name, s.image, 'PodInitializing', message, s));
        for (const s of this.runtime.containers) this.setStatus('main', s.name, waitingStatus(s.name, s.image, 'ContainerCreating', message, s));
        this.status.request();
        if (!(await this.sleep(this.retryDelay(attempt)))) return;
      }
    }
    if (this.ended()) return;
    this.runtime.sandboxReady = true;
    for (const s of this.runtime.containers) if ('waiting' in s.state && !s.lastState.terminated) this.setStatus('main', s.name, waitingStatus(s.name, s.image, this.runtime.init.length ? 'PodInitializing' : 'ContainerCreating', undefined, s));
    this.status.request();

    for (const c of this.pod.spec.initContainers ?? []) {
      if (!(await this.runInit(c))) return;
    }
    for (const s of this.runtime.containers) if ('waiting' in s.state && !s.lastState.terminated) this.setStatus('main', s.name, waitingStatus(s.name, s.image, 'ContainerCreating', undefined, s));
    await Promise.all(this.pod.spec.containers.map((c) => this.runMain(c)));
  }

  /** True when the init container succeeded and the next may start. */
  private async runInit(c: Container): Promise<boolean> {
    for (;;) {
      const terminated = await this.runContainer(c, 'init');
      if (!terminated || this.ended()) return false;
      if (terminated.exitCode === 0) return true;
      if ((this.pod.spec.restartPolicy ?? 'Always') === 'Never') return false;
      if (!(await this.backOff(c, 'init', terminated))) return false;
    }
  }

  private async runMain(c: Container): Promise<void> {
    const policy = this.pod.spec.restartPolicy ?? 'Always';
    for (;;) {
      const terminated = await this.runContainer(c, 'main');
      if (!terminated || this.ended()) return;
      if (policy === 'Never' || (policy === 'OnFailure' && terminated.exitCode === 0)) return;
      if (!(await this.backOff(c, 'main', terminated))) return;
    }
  }

  /** Runs the container once; its termination, or undefined when the Pod ended before it started. */
  private async runContainer(c: Container, kind: Kind): Promise<Terminated | undefined> {
    const image = findImage(this.ctx.images, c.image!)!;
    let env: Record<string, string> | undefined;
    for (let attempt = 0; env === undefined; attempt++) {
      if (this.ended()) return undefined;
      try {
        env = containerEnv(this.pod, c, image, await this.lookups(c), this.ips());
      } catch (err) {
        const message = err instanceof ConfigError ? err.message : apiErrorMessage(err);
        this.setStatus(kind, c.name, waitingStatus(c.name, c.image!, 'CreateContainerConfigError', message, this.statusOf(kind, c.name)));
        this.status.request();
        if (!(await this.sleep(this.retryDelay(attempt)))) return undefined;
      }
    }
    if (this.ended()) return undefined;

    const previous = this.statusOf(kind, c.name);
    const cdir = join(this.dir, 'containers', c.name);
    mkdirSync(join(cdir, 'tmp'), { recursive: true });
    const terminationFile = join(cdir, 'termination-log');
    writeFileSync(terminationFile, '');
    const logFile = join(cdir, `${previous.restartCount}.log`);
    const plan = planProcess({ container: c, image, env, paths: this.containerPaths(c, image, cdir), podIP: this.runtime.podIP!, podName: this.pod.metadata.name, hostPath: this.ctx.hostPath });
    const startedAt = rfc3339(this.ctx.now());
    if (!existsSync(plan.cwd) || !statSync(plan.cwd).isDirectory()) {
      return this.terminated(kind, c, { exitCode: 128, reason: 'StartError', message: `workingDir ${c.workingDir ?? image.workingDir} is ${plan.cwd} here, which is not a directory`, startedAt, finishedAt: startedAt });
    }

    const proc = startContainerProcess({ supervisor: this.ctx.supervisor, argv: plan.argv, env: plan.env, cwd: plan.cwd, logFile, dir: cdir });
    // The supervisor's pid, which is also the container's process group.
    const containerID = `orchard-local://${proc.pid}`;
    const entry = { process: proc, probes: [] as ProbeLoop[] };
    this.running.set(c.name, entry);
    const started = kind === 'init' || !c.startupProbe;
    this.setStatus(kind, c.name, {
      ...previous,
      containerID,
      state: { running: { startedAt } },
      started,
      ready: kind === 'main' && started && !c.readinessProbe,
    });
    this.ctx.log.info('container started', { pod: this.name, container: c.name, pid: proc.pid, command: plan.argv.join(' '), log: logFile });
    if (kind === 'main') this.startProbes(c, entry);
    this.status.request();

    const exitCode = await proc.exited;
    for (const p of entry.probes) p.stop();
    this.running.delete(c.name);
    const message = terminationMessage(terminationFile, logFile, exitCode, c.terminationMessagePolicy);
    this.ctx.log.info('container exited', { pod: this.name, container: c.name, exitCode });
    return this.terminated(kind, c, {
      exitCode,
      reason: exitCode === 0 ? 'Completed' : 'Error',
      ...(message ? { message } : {}),
      startedAt,
      finishedAt: rfc3339(this.ctx.now()),
      containerID,
    });
  }

  private terminated(kind: Kind, c: Container, terminated: Terminated): Terminated {
    const previous = this.statusOf(kind, c.name);
    // A completed init container counts as ready, as the kubelet reports it.
    this.setStatus(kind, c.name, { ...previous, state: { terminated }, ready: kind === 'init' && terminated.exitCode === 0, started: false, ...(terminated.containerID ? { containerID: terminated.containerID } : {}) });
    this.status.request();
    return terminated;
  }

  /** Startup first; readiness and liveness once it passed. Readiness sets `ready`, a failed liveness or startup probe restarts the container. */
  private startProbes(c: Container, entry: { process: ContainerProcess; probes: ProbeLoop[] }): void {
    const target = () => ({ host: this.runtime.podIP!, ports: c.ports });
    const kill = (probe: string, message: string | undefined) => {
      this.ctx.log.info(`${probe} probe failed: restarting the container`, { pod: this.name, container: c.name, err: message });
      const grace = (c[probe === 'startup' ? 'startupProbe' : 'livenessProbe']?.terminationGracePeriodSeconds ?? this.graceSeconds()) * 1000;
      void entry.process.terminate(grace);
    };
    const afterStart = () => {
      const status = this.statusOf('main', c.name);
      this.setStatus('main', c.name, { ...status, started: true, ready: !c.readinessProbe });
      this.status.request();
      if (c.readinessProbe) {
        entry.probes.push(
          new ProbeLoop(c.readinessProbe, target, (ok) => {
            const current = this.statusOf('main', c.name);
            if ('running' in current.state) this.setStatus('main', c.name, { ...current, ready: ok });
            this.status.request();
          }),
        );
      }
      if (c.livenessProbe) entry.probes.push(new ProbeLoop(c.livenessProbe, target, (ok, message) => !ok && kill('liveness', message)));
      for (const p of entry.probes) p.start();
    };
    if (!c.startupProbe) return afterStart();
    const startup = new ProbeLoop(c.startupProbe, target, (ok, message) => {
      startup.stop();
      if (ok) afterStart();
      else kill('startup', message);
    });
    entry.probes.push(startup);
    startup.start();
  }

  /** CrashLoopBackOff: waits before the container runs again; false when the Pod ended meanwhile. */
  private async backOff(c: Container, kind: Kind, terminated: Terminated): Promise<boolean> {
    const previous = this.statusOf(kind, c.name);
    const ranMs = Date.parse(terminated.finishedAt) - Date.parse(terminated.startedAt ?? terminated.finishedAt);
    // The kubelet forgets the back-off of a container that ran for twice its maximum.
    const exponent = ranMs > 2 * this.ctx.backoff.maxMs ? 0 : previous.restartCount;
    const delay = exponentialBackoffMs(exponent, this.ctx.backoff.initialMs, this.ctx.backoff.maxMs);
    const { name, namespace, uid } = this.pod.metadata;
    this.setStatus(kind, c.name, {
      ...waitingStatus(c.name, c.image!, 'CrashLoopBackOff', `back-off ${formatSeconds(delay)} restarting failed container=${c.name} pod=${name}_${namespace}(${uid})`, previous),
      lastState: { terminated },
      restartCount: previous.restartCount + 1,
    });
    this.status.request();
    return this.sleep(delay);
  }

  /** Refused at admission: the Pod fails at once, and every container says why (its own fields first). */
  private refuse(refusals: Refusal[]): void {
    const message = refusalMessage(refusals);
    const reason = refusals[0]!.reason;
    this.ctx.log.info('pod refused', { pod: this.name, reason, err: message });
    this.runtime.failure = { reason, message };
    for (const [kind, list] of [['init', this.pod.spec.initContainers ?? []], ['main', this.pod.spec.containers]] as const) {
      list.forEach((c, i) => {
        const prefix = `spec.${kind === 'init' ? 'initContainers' : 'containers'}[${i}].`;
        const own = refusals.filter((r) => r.field.startsWith(prefix));
        this.setStatus(kind, c.name, waitingStatus(c.name, c.image ?? '', reason, own.length ? refusalMessage(own) : message, this.statusOf(kind, c.name)));
      });
    }
    this.status.request();
  }

  /**
   * A Pod whose containers were running under an agent that is gone: their processes died with
   * it. With restartPolicy Never the kubelet then reports them lost and the Pod Failed; otherwise
   * they start again (constructor: restartCount and lastState carried over).
   */
  private lostWithEarlierAgent(): boolean {
    const earlier = this.pod.status;
    const wasRunning = (s: ContainerStatus) => 'running' in s.state;
    if ((this.pod.spec.restartPolicy ?? 'Always') !== 'Never' || ![...(earlier?.initContainerStatuses ?? []), ...(earlier?.containerStatuses ?? [])].some(wasRunning)) return false;
    const now = rfc3339(this.ctx.now());
    const settle = (s: ContainerStatus): ContainerStatus =>
      'running' in s.state ? { ...s, state: { terminated: lostTermination(s.state.running.startedAt, now) }, ready: false, started: false } : s;
    this.runtime.init = this.runtime.init.map((s) => settle(earlier?.initContainerStatuses?.find((e) => e.name === s.name) ?? s));
    this.runtime.containers = this.runtime.containers.map((s) => settle(earlier?.containerStatuses?.find((e) => e.name === s.name) ?? s));
    if (earlier?.podIP) this.runtime.podIP = earlier.podIP;
    this.runtime.stopped = true;
    this.ctx.log.info('pod lost with an earlier agent', { pod: this.name });
    this.status.request();
    return true;
  }

  private armDeadline(): void {
    const seconds = this.pod.spec.activeDeadlineSeconds;
    if (!seconds) return;
    const left = Date.parse(this.runtime.startTime!) + seconds * 1000 - this.ctx.now().getTime();
    this.deadline = setTimeout(() => {
      if (this.mode !== 'running' || isTerminal(podPhase(this.pod, this.runtime))) return;
      this.runtime.failure = { reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' };
      this.ending.abort();
      void this.killAll(this.graceSeconds() * 1000).then(() => this.status.request());
    }, Math.max(0, left));
    this.deadline.unref();
  }

  /** Deletion: stop every container within the grace period, report the terminal phase, then remove the Pod. */
  private delete(): void {
    if (this.mode !== 'running') return;
    this.mode = 'deleting';
    this.ending.abort();
    const grace = this.pod.metadata.deletionGracePeriodSeconds ?? this.graceSeconds();
    this.deletion = (async () => {
      await this.killAll(grace * 1000);
      await this.done;
      // The agent stopped meanwhile: the next one finishes the deletion.
      if (this.mode === 'stopped') return;
      this.runtime.stopped = true;
      await this.status.flush();
      const { name, namespace, uid } = this.pod.metadata;
      try {
        await requestJson(this.ctx.kc, 'DELETE', `/api/v1/namespaces/${namespace}/pods/${encodeURIComponent(name)}`, {
          body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid } },
        });
        this.ctx.log.info('pod deleted', { pod: this.name });
      } catch (err) {
        // 404: already gone; 409: a newer Pod of that name, not ours to delete.
        if (!isNotFound(err) && !isConflict(err)) this.ctx.log.error('deleting the pod failed', { pod: this.name, err });
      }
      this.release();
    })();
  }

  private async killAll(graceMs: number): Promise<void> {
    await Promise.all([...this.running.values()].map(({ process, probes }) => {
      for (const p of probes) p.stop();
      return process.terminate(graceMs);
    }));
  }

  /** Frees the Pod's address and timers; its status keeps the address, as the kubelet's does. */
  private release(): void {
    clearTimeout(this.deadline);
    // A Pod that never started (refused, or deleted first) holds the address reserved for it from its status.
    this.ctx.addresses.release(this.uid, this.runtime.podIP ?? this.pod.status?.podIP);
  }

  /** Volumes and scratch space go with the Pod; container logs stay for reading. */
  private cleanUp(): void {
    this.release();
    rmSync(join(this.dir, 'volumes'), { recursive: true, force: true });
    for (const s of [...this.runtime.init, ...this.runtime.containers]) rmSync(join(this.dir, 'containers', s.name, 'tmp'), { recursive: true, force: true });
  }

  private ended(): boolean {
    return this.ending.signal.aborted;
  }

  /** Resolves true after `ms`, false as soon as the Pod ends. */
  private sleep(ms: number): Promise<boolean> {
    const signal = this.ending.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The Pod's termination grace period, the kubelet's default 30 s when unset. */
  private graceSeconds(): number {
    return this.pod.spec.terminationGracePeriodSeconds ?? 30;
  }

  private retryDelay(attempt: number): number {
    // Soon at first: a Pod just bound may wait a moment for the Node authorizer to link its volumes to this node.
    return exponentialBackoffMs(attempt, 250, 30_000);
  }

  private ips() {
    return { podIP: this.runtime.podIP ?? '', hostIP: this.ctx.hostIP };
  }

  /** Image paths, volume mounts, the container's own /tmp and its termination message file → local paths. */
  private containerPaths(c: Container, image: LocalImage, cdir: string): Record<string, string> {
    const shared = Object.fromEntries(this.ctx.sharedPaths.map((p) => [p, p]));
    const paths: Record<string, string> = { ...shared, ...image.paths, '/tmp': join(cdir, 'tmp') };
    paths[c.terminationMessagePath ?? '/dev/termination-log'] = join(cdir, 'termination-log');
    for (const m of c.volumeMounts ?? []) {
      const dir = this.volumeDirs.get(m.name)!;
      const local = m.subPath ? join(dir, m.subPath) : dir;
      if (m.subPath && !existsSync(local)) mkdirSync(local, { recursive: true });
      paths[m.mountPath] = local;
    }
    return paths;
  }

  private async lookups(c: Container): Promise<Lookups> {
    const refs = envReferences(c);
    const base = `/api/v1/namespaces/${this.pod.metadata.namespace}`;
    const read = (resource: string, names: Iterable<string>) => Promise.all([...names].map((name) => getIfExists(this.ctx.kc, `${base}/${resource}/${encodeURIComponent(name)}`)));
    const [configMaps, secrets] = await Promise.all([read('configmaps', refs.configMaps), read('secrets', refs.secrets)]);
    return {
      configMaps: new Map([...refs.configMaps].map((name, i) => [name, configMaps[i]?.data ?? undefined])),
      secrets: new Map(
        [...refs.secrets].map((name, i) => {
          const secret = secrets[i];
          return [name, secret ? Object.fromEntries(Object.entries(secretBytes(secret)).map(([k, v]) => [k, v.toString('utf8')])) : undefined];
        }),
      ),
    };
  }

  private statusOf(kind: Kind, name: string): ContainerStatus {
    return (kind === 'init' ? this.runtime.init : this.runtime.containers).find((s) => s.name === name)!;
  }

  private setStatus(kind: Kind, name: string, status: ContainerStatus): void {
    const list = kind === 'init' ? this.runtime.init : this.runtime.containers;
    const i = list.findIndex((s) => s.name === name);
    list[i] = status;
  }
}

/** How a container that was running under an agent that died is reported: killed, state unknown (as the kubelet does). */
function lostTermination(startedAt: string | undefined, finishedAt: string): Terminated {
  return { exitCode: 137, reason: 'ContainerStatusUnknown', message: LOST_MESSAGE, startedAt, finishedAt };
}

/** A container's status to start from: what an earlier agent reported, a running container becoming one lost with it. */
function carried(c: Container, statuses: ContainerStatus[] | undefined, reason: string, now: Date): ContainerStatus {
  const earlier = statuses?.find((s) => s.name === c.name);
  const fresh = waitingStatus(c.name, c.image ?? '', reason);
  if (!earlier) return fresh;
  if ('running' in earlier.state) {
    return { ...fresh, lastState: { terminated: lostTermination(earlier.state.running.startedAt, rfc3339(now)) }, restartCount: earlier.restartCount + 1 };
  }
  if ('terminated' in earlier.state) return { ...fresh, lastState: { terminated: earlier.state.terminated }, restartCount: earlier.restartCount + 1 };
  return { ...fresh, lastState: earlier.lastState ?? {}, restartCount: earlier.restartCount };
}

function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return s >= 60 ? `${Math.floor(s / 60)}m${s % 60 ? `${Math.round(s % 60)}s` : ''}` : `${Number(s.toFixed(1))}s`;
}
