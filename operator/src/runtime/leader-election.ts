// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it, so
// that of several operator replicas exactly one runs the controllers.
import { apiErrorMessage, requestJson, statusCode, type k8s } from '../kube/client.js';
import { silentLogger, type Logger } from './log.js';
import { systemClock, type Clock } from './queue.js';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** MicroTime: RFC 3339 with exactly six fractional digits. */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; [key: string]: unknown };
  spec?: LeaseSpec;
}

export interface LeaderElectorOptions {
  kc: k8s.KubeConfig;
  namespace: string;
  name: string;
  /** Unique per replica, e.g. the Pod name. */
  identity: string;
  /** How long others wait, after they last saw the Lease change, before taking it over. */
  leaseDurationSeconds?: number;
  /** How long the leader keeps retrying a failing renewal before it steps down. */
  renewDeadlineSeconds?: number;
  /** Wait between attempts to acquire (jittered) and between renewals. */
  retryPeriodSeconds?: number;
  /**
   * Called on becoming leader; `signal` aborts when leadership ends. If it returns a promise, run
   * releases the Lease and resolves only after it settles, so the next leader's work never
   * overlaps this one's.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called once leadership has ended (after the release, when there is one). */
  onStoppedLeading?(): void;
  /**
   * Release the Lease when run's signal aborts, so another replica takes over at once. Default
   * true; false leaves it to expire, as a crashed leader would.
   */
  releaseOnCancel?: boolean;
  clock?: Clock;
  log?: Logger;
}

const JITTER_FACTOR = 1.2;

/** Lease times are metav1.MicroTime: the API server rejects any other number of fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function leasePath(namespace: string, name?: string): string {
  const base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

/** The spec that makes `identity` the holder: a renewal keeps acquireTime, a takeover counts a transition. */
export function acquiredLeaseSpec(current: LeaseSpec | undefined, identity: string, leaseDurationSeconds: number, now: number): LeaseSpec {
  const renewal = current?.holderIdentity === identity;
  return {
    holderIdentity: identity,
    leaseDurationSeconds,
    acquireTime: renewal && current?.acquireTime ? current.acquireTime : microTime(now),
    renewTime: microTime(now),
    leaseTransitions: current === undefined ? 0 : (current.leaseTransitions ?? 0) + (renewal ? 0 : 1),
  };
}

/** client-go's release: no holder, and a one-second lease that is already as good as over. */
export function releasedLeaseSpec(current: LeaseSpec | undefined, now: number): LeaseSpec {
  return {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: microTime(now),
    renewTime: microTime(now),
    leaseTransitions: current?.leaseTransitions ?? 0,
  };
}

/**
 * Whether `identity` may write itself into the Lease. Expiry is judged by when this replica last
 * saw the Lease change (`observedAt`, local clock), not by renewTime, so clock skew between
 * replicas cannot make a live leader look expired.
 */
export function mayAcquire(spec: LeaseSpec | undefined, identity: string, observedAt: number, now: number, defaultDurationSeconds: number): boolean {
  const holder = spec?.holderIdentity ?? '';
  if (holder === '' || holder === identity) return true;
  return now >= observedAt + (spec?.leaseDurationSeconds ?? defaultDurationSeconds) * 1000;
}

type Attempt = 'held' | 'heldByOther' | 'failed';

export class LeaderElector {
  private readonly kc: k8s.KubeConfig;
  private readonly namespace: string;
  private readonly name: string;
  private readonly identity: string;
  private readonly leaseDurationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly onStartedLeading: LeaderElectorOptions['onStartedLeading'];
  private readonly onStoppedLeading: () => void;
  private readonly releaseOnCancel: boolean;
  private readonly clock: Clock;
  private readonly log: Logger;

  /** The Lease as last read or written, and when (local clock) its spec last changed. */
  private observed: { lease: Lease; specJson: string; at: number } | undefined;
  private leading = false;
  /** When the last successful write of ours began: the renew deadline counts from there. */
  private heldSince = 0;
  private running = false;

  constructor(options: LeaderElectorOptions) {
    const { leaseDurationSeconds = 15, renewDeadlineSeconds = 10, retryPeriodSeconds = 2 } = options;
    if (!options.identity) throw new Error('leader election: identity must not be empty');
    if (!Number.isInteger(leaseDurationSeconds) || leaseDurationSeconds < 1) {
      throw new Error(`leader election: leaseDurationSeconds must be a whole number ≥ 1 (the Lease stores an int32), got ${leaseDurationSeconds}`);
    }
    // client-go's checks: the leader must give up before others may take over, and get several tries first.
    if (!(leaseDurationSeconds > renewDeadlineSeconds)) {
      throw new Error(`leader election: leaseDurationSeconds (${leaseDurationSeconds}) must be greater than renewDeadlineSeconds (${renewDeadlineSeconds})`);
    }
    if (!(renewDeadlineSeconds > retryPeriodSeconds * JITTER_FACTOR)) {
      throw new Error(`leader election: renewDeadlineSeconds (${renewDeadlineSeconds}) must be greater than ${JITTER_FACTOR} × retryPeriodSeconds (${retryPeriodSeconds})`);
    }
    if (!(retryPeriodSeconds > 0)) throw new Error(`leader election: retryPeriodSeconds must be positive, got ${retryPeriodSeconds}`);
    this.kc = options.kc;
    this.namespace = options.namespace;
    this.name = options.name;
    this.identity = options.identity;
    this.leaseDurationSeconds = leaseDurationSeconds;
    this.renewDeadlineMs = renewDeadlineSeconds * 1000;
    this.retryPeriodMs = retryPeriodSeconds * 1000;
    this.onStartedLeading = options.onStartedLeading;
    this.onStoppedLeading = options.onStoppedLeading ?? (() => {});
    this.releaseOnCancel = options.releaseOnCancel ?? true;
    this.clock = options.clock ?? systemClock;
    this.log = (options.log ?? silentLogger).with({ lease: `${options.namespace}/${options.name}`, identity: options.identity });
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until leader, leads until `signal` aborts or a renewal fails for renewDeadline (or
   * another replica is seen holding the Lease), then stops. Resolves once leadership has ended
   * (or at once if `signal` aborts before it began); callers tell the cases apart by
   * `signal.aborted`: a lost lease usually means exiting, so the replica starts afresh.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error(`leader election ${this.namespace}/${this.name}: run() is already running`);
    this.running = true;
    try {
      if (!(await this.acquire(signal))) return;
      await this.lead(signal);
    } finally {
      this.running = false;
    }
  }

  private async acquire(signal: AbortSignal): Promise<boolean> {
    this.log.info('leader election: campaigning');
    for (;;) {
      if (signal.aborted) return false;
      if ((await this.tryAcquireOrRenew(this.renewDeadlineMs)) === 'held') {
        if (!signal.aborted) return true;
        // Aborted while winning: hand the Lease straight back rather than lead for nothing.
        if (this.releaseOnCancel) await this.release();
        return false;
      }
      // Jitter keeps replicas that started together from asking in lockstep.
      await this.sleep(this.retryPeriodMs * (1 + Math.random() * JITTER_FACTOR), signal);
    }
  }

  private async lead(signal: AbortSignal): Promise<void> {
    this.leading = true;
    this.log.info('leader election: became leader');
    const leadership = new AbortController();
    const work = this.start(leadership.signal);

    let lost = false;
    while (!signal.aborted) {
      await this.sleep(this.retryPeriodMs, signal);
      if (signal.aborted) break;
      const deadline = this.heldSince + this.renewDeadlineMs;
      const attempt = await this.tryAcquireOrRenew(Math.max(deadline - this.clock.now(), 1));
      if (attempt === 'heldByOther' || (attempt === 'failed' && this.clock.now() >= deadline)) {
        lost = true;
        this.log.error(
          attempt === 'heldByOther' ? 'leader election: another replica holds the lease; stepping down' : 'leader election: could not renew the lease within the renew deadline; stepping down',
          { holder: this.observed?.lease.spec?.holderIdentity },
        );
        break;
      }
    }

    this.leading = false;
    leadership.abort();
    await work;
    if (!lost && this.releaseOnCancel) await this.release();
    this.log.info('leader election: stopped leading', { lost });
    this.onStoppedLeading();
  }

  /** Runs onStartedLeading; the promise settles when its work has, and never rejects. */
  private start(signal: AbortSignal): Promise<void> {
    const logFailure = (err: unknown) => this.log.error('leader election: onStartedLeading failed', { err });
    try {
      return Promise.resolve(this.onStartedLeading(signal)).then(() => {}, logFailure);
    } catch (err) {
      logFailure(err);
      return Promise.resolve();
    }
  }

  /** One attempt to take or renew the Lease; errors are logged and count as a failed attempt. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<Attempt> {
    const now = this.clock.now();
    const attempt = await this.writeLease(now, timeoutMs);
    if (attempt === 'held') this.heldSince = now;
    return attempt;
  }

  private async writeLease(now: number, timeoutMs: number): Promise<Attempt> {
    try {
      // While leading, write on top of what we last wrote: one request per renewal.
      if (this.leading && this.observed) {
        try {
          await this.update(this.observed.lease, acquiredLeaseSpec(this.observed.lease.spec, this.identity, this.leaseDurationSeconds, now), timeoutMs);
          return 'held';
        } catch (err) {
          // Changed or deleted behind our back: read it afresh below.
          if (statusCode(err) !== 409 && statusCode(err) !== 404) throw err;
        }
      }

      let current: Lease;
      try {
        current = await this.request<Lease>('GET', leasePath(this.namespace, this.name), undefined, timeoutMs);
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
        const created = await this.request<Lease>(
          'POST',
          leasePath(this.namespace),
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.name, namespace: this.namespace },
            spec: acquiredLeaseSpec(undefined, this.identity, this.leaseDurationSeconds, now),
          },
          timeoutMs,
        );
        this.observe(created);
        return 'held';
      }

      this.observe(current);
      if (!mayAcquire(current.spec, this.identity, this.observed!.at, now, this.leaseDurationSeconds)) return 'heldByOther';
      await this.update(current, acquiredLeaseSpec(current.spec, this.identity, this.leaseDurationSeconds, now), timeoutMs);
      return 'held';
    } catch (err) {
      // 409: another replica wrote first (created the Lease, or updated it since we read it).
      if (statusCode(err) !== 409) this.log.error('leader election: lease request failed', { err: apiErrorMessage(err) });
      return 'failed';
    }
  }

  /**
   * Gives the Lease up so that another replica need not wait for it to expire. Should a renewal
   * of ours that timed out land first, this fails with 409 and the Lease just expires.
   */
  private async release(): Promise<void> {
    const lease = this.observed?.lease;
    if (!lease || lease.spec?.holderIdentity !== this.identity) return;
    const now = this.clock.now();
    try {
      await this.update(lease, releasedLeaseSpec(lease.spec, now), this.renewDeadlineMs);
      this.log.info('leader election: released the lease');
    } catch (err) {
      // A 409 means someone else has written the Lease since: it is no longer ours to release.
      this.log.error('leader election: could not release the lease', { err: apiErrorMessage(err) });
    }
  }

  /** A PUT guarded by the Lease's resourceVersion, so a concurrent writer makes it fail with 409. */
  private async update(lease: Lease, spec: LeaseSpec, timeoutMs: number): Promise<void> {
    const updated = await this.request<Lease>('PUT', leasePath(this.namespace, this.name), { ...lease, spec }, timeoutMs);
    this.observe(updated);
  }

  /** Records the Lease; its expiry counts from when we received it, the later and safer end. */
  private observe(lease: Lease): void {
    const specJson = JSON.stringify(lease.spec ?? {});
    const changed = !this.observed || this.observed.specJson !== specJson;
    this.observed = { lease, specJson, at: changed ? this.clock.now() : this.observed!.at };
  }

  /** requestJson cannot be cancelled, so a hung request is abandoned after `timeoutMs` instead. */
  private request<T>(method: 'GET' | 'POST' | 'PUT', path: string, body: unknown, timeoutMs: number): Promise<T> {
    const request: Promise<T> = requestJson(this.kc, method, path, body === undefined ? {} : { body });
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => reject(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
      request.then(
        (value) => {
          this.clock.clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          this.clock.clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        this.clock.clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = this.clock.setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
