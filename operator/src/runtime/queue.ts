// A rate-limited work queue of object keys ("namespace/name") with client-go's workqueue
// semantics: a key is queued at most once and processed by at most one worker at a time, so a
// reconciler always sees the latest state rather than every event.

/** A timer handle; real ones can be unref'd so they never keep the process alive. */
export interface Timer {
  unref?(): unknown;
}

/** Time and timers, injected so that delays and backoff are tested without sleeping. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

export interface WorkQueueOptions {
  /** First retry delay of addRateLimited; doubles per requeue. Default 100 ms. */
  baseDelayMs?: number;
  /** Cap of the retry delay. Default 5 min. */
  maxDelayMs?: number;
  clock?: Clock;
}

/** client-go's ItemExponentialFailureRateLimiter: base·2^requeues, capped at max. */
export function exponentialBackoffMs(requeues: number, baseDelayMs: number, maxDelayMs: number): number {
  return Math.min(baseDelayMs * 2 ** requeues, maxDelayMs);
}

type Getter = (key: string | undefined) => void;

export class WorkQueue {
  private readonly clock: Clock;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  /** Keys waiting for a worker, in arrival order. */
  private readonly queue: string[] = [];
  /** Keys that need processing: waiting in `queue`, or re-added while being processed. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly getters: Getter[] = [];
  private readonly delayed = new Map<string, { at: number; timer: Timer }>();
  private readonly requeues = new Map<string, number>();
  /** Failed keys whose last failure was the API server's absence rather than its answer. */
  private readonly transient = new Set<string>();
  private shuttingDown = false;
  private drain: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor({ baseDelayMs = 100, maxDelayMs = 5 * 60_000, clock = systemClock }: WorkQueueOptions = {}) {
    this.clock = clock;
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    // A key being processed goes back in line when its worker calls done(), never to a second worker.
    if (this.processing.has(key)) return;
    this.queue.push(key);
    this.handOut();
  }

  /** The next key, once one is waiting; undefined once the queue is shut down. Call done(key) after. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.take(key));
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) {
      this.queue.push(key);
      this.handOut();
    }
    if (this.drain && this.processing.size === 0) this.drain.resolve();
  }

  /** Adds the key after `ms`; of several pending delays for one key only the earliest counts. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const pending = this.delayed.get(key);
    if (pending) {
      if (pending.at <= at) return;
      this.clock.clearTimeout(pending.timer);
    }
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    // A pending retry is no reason to keep a stopping process alive.
    timer.unref?.();
    this.delayed.set(key, { at, timer });
  }

  /**
   * Re-adds a failed key after its exponential backoff; call forget(key) once it succeeds.
   * `transient`: the failure was no answer, a timeout or a 5xx, which the API server's return fixes.
   */
  addRateLimited(key: string, { transient = false }: { transient?: boolean } = {}): void {
    if (transient) this.transient.add(key);
    else this.transient.delete(key);
    const requeues = this.requeues.get(key) ?? 0;
    this.requeues.set(key, requeues + 1);
    this.addAfter(key, exponentialBackoffMs(requeues, this.baseDelayMs, this.maxDelayMs));
  }

  forget(key: string): void {
    this.requeues.delete(key);
    this.transient.delete(key);
  }

  /**
   * Hands out now every key waiting out the backoff of a transient failure, keeping its count:
   * when the API server is back, a key that failed through the outage should not wait up to
   * minutes more. A key the server answered with a refusal (a quota's 403) keeps its backoff, as
   * do delays asked for by a pass that succeeded (requeueAfter).
   */
  retryFailedNow(): number {
    let retried = 0;
    for (const key of this.transient) {
      const pending = this.delayed.get(key);
      if (!pending) continue;
      this.clock.clearTimeout(pending.timer);
      this.delayed.delete(key);
      this.add(key);
      retried++;
    }
    return retried;
  }

  numRequeues(key: string): number {
    return this.requeues.get(key) ?? 0;
  }

  /** Keys waiting for a worker (not those being processed or delayed). */
  len(): number {
    return this.queue.length;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Stops handing out keys: waiting getters and later get() calls resolve undefined, adds are
   * ignored, and waiting or delayed keys are dropped (the next start lists everything again).
   */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) this.clock.clearTimeout(timer);
    this.delayed.clear();
    this.transient.clear();
    this.queue.length = 0;
    for (const getter of this.getters.splice(0)) getter(undefined);
  }

  /** Shuts down, then resolves once every key being processed is done. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (!this.drain) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.drain = { promise, resolve };
      if (this.processing.size === 0) resolve();
    }
    return this.drain.promise;
  }

  private take(key: string): string {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  private handOut(): void {
    while (this.getters.length > 0 && this.queue.length > 0) {
      this.getters.shift()!(this.take(this.queue.shift()!));
    }
  }
}

export interface RecoveryGateOptions {
  /**
   * Watches failing for less are a flap, not an outage. A key failing throughout waits at most
   * about as long again as the failures lasted, so a short one costs little; and it is above the
   * informers' 5 s reconnect cap, so a watch the server keeps closing never counts. Default 10 s.
   */
  minOutageMs?: number;
  /** Least time between two early retries, however many watches recover or how often. Default 60 s. */
  minIntervalMs?: number;
  clock?: Clock;
}

/**
 * Says when a watch coming back ends an outage, so that failed keys are retried at once: one
 * retry per outage rather than one per recovering watch, and none for a flapping one. Without it
 * every failing key ran once per watch on each recovery, defeating its backoff.
 */
export class RecoveryGate {
  private readonly minOutageMs: number;
  private readonly minIntervalMs: number;
  private readonly clock: Clock;
  /** Watch → when its current run of failures began. */
  private readonly failingSince = new Map<string, number>();
  private lastRetryAt: number | undefined;

  constructor({ minOutageMs = 10_000, minIntervalMs = 60_000, clock = systemClock }: RecoveryGateOptions = {}) {
    this.minOutageMs = minOutageMs;
    this.minIntervalMs = minIntervalMs;
    this.clock = clock;
  }

  failed(watch: string): void {
    if (!this.failingSince.has(watch)) this.failingSince.set(watch, this.clock.now());
  }

  /** True when failed keys should be retried now. */
  recovered(watch: string): boolean {
    const since = this.failingSince.get(watch);
    this.failingSince.delete(watch);
    const now = this.clock.now();
    if (since === undefined || now - since < this.minOutageMs) return false;
    if (this.lastRetryAt !== undefined && now - this.lastRetryAt < this.minIntervalMs) return false;
    this.lastRetryAt = now;
    return true;
  }
}
