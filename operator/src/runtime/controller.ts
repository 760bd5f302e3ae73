// A controller: keys in a work queue, workers that reconcile one key at a time, level-triggered.
// A reconcile never asks what changed: it reads the world from caches and makes it right.
import type { Logger } from './log.js';
import type { OperatorMetrics } from './metrics.js';
import { apiErrorMessage, statusCode } from '../kube/client.js';
import { apiAnswerOf, isConflict, isPermanentRejection, TerminalError } from './errors.js';
import { RecoveryGate, WorkQueue } from './queue.js';

export interface Result {
  /** Look again after this long even if nothing changes (e.g. a cool-down ends). */
  requeueAfterMs?: number;
}

export interface ControllerOptions {
  name: string;
  reconcile: (key: string) => Promise<Result | void>;
  workers?: number;
  log: Logger;
  metrics?: OperatorMetrics;
  queue?: WorkQueue;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly options: ControllerOptions;

  constructor(options: ControllerOptions) {
    this.options = options;
    this.name = options.name;
    this.queue = options.queue ?? new WorkQueue();
  }

  enqueue(key: string): void {
    this.queue.add(key);
    this.options.metrics?.queueDepth.set({ controller: this.name }, this.queue.len());
  }

  /** Runs the workers until the signal aborts, then lets passes in flight finish. */
  async run(signal: AbortSignal): Promise<void> {
    const stop = () => this.queue.shutDown();
    signal.addEventListener('abort', stop, { once: true });
    const workers = Array.from({ length: this.options.workers ?? 4 }, () => this.worker());
    await Promise.all(workers);
    signal.removeEventListener('abort', stop);
  }

  private async worker(): Promise<void> {
    const { metrics, log } = this.options;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      metrics?.queueDepth.set({ controller: this.name }, this.queue.len());
      const [namespace, name] = key.split('/');
      const started = performance.now();
      let result = 'success';
      try {
        const outcome = await this.options.reconcile(key);
        this.queue.forget(key);
        if (outcome?.requeueAfterMs !== undefined) {
          result = 'requeue';
          this.queue.addAfter(key, outcome.requeueAfterMs);
        }
      } catch (err) {
        if (err instanceof TerminalError) {
          result = 'terminal';
          this.queue.forget(key);
          log.error('reconcile failed; not retrying', { controller: this.name, namespace, name, err });
        } else if (isPermanentRejection(err)) {
          // The same request gets the same answer: wait for an event (a changed spec) instead of looping.
          result = 'terminal';
          this.queue.forget(key);
          log.error('the API server rejected a write; not retrying until the object or its inputs change', { controller: this.name, namespace, name, err, answer: apiErrorMessage(apiAnswerOf(err)) });
        } else if (isConflict(err)) {
          // Someone wrote first: run the pass again on fresh state.
          result = 'conflict';
          this.queue.add(key);
        } else {
          result = 'error';
          this.queue.addRateLimited(key, { transient: isTransientFailure(err) });
          log.error('reconcile failed; retrying with backoff', { controller: this.name, namespace, name, err, retries: this.queue.numRequeues(key) });
        }
      } finally {
        this.queue.done(key);
        metrics?.reconciles.inc({ controller: this.name, result });
        metrics?.reconcileSeconds.observe({ controller: this.name }, (performance.now() - started) / 1000);
      }
    }
  }
}

/** Node's codes for a connection refused, cut or unanswered: what an API server away looks like. */
const TRANSPORT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * A failure the API server's return fixes by itself: no connection, no answer in time, a 5xx, or
 * 429 throttling. A refusal such as a quota's or RBAC's 403 waits for someone to act, so it keeps
 * its backoff when a watch recovers.
 */
export function isTransientFailure(err: unknown): boolean {
  // By shape, not instanceof: Node's own errors and DOMExceptions may come from another realm.
  for (let e: unknown = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = statusCode(e);
    if (code !== undefined) return code >= 500 || code === 408 || code === 429;
    const { code: sys, name } = e as { code?: unknown; name?: unknown };
    if ((typeof sys === 'string' && TRANSPORT_CODES.has(sys)) || name === 'TimeoutError') return true;
  }
  return false;
}

/**
 * The hooks of each watch: its failures and recoveries go through one gate, so that when the
 * API server is back the controllers' transiently failed keys are retried at once, once per
 * outage, and not after backoffs grown to minutes.
 */
export function retryAfterOutage(controllers: readonly Controller[], log: Logger, gate = new RecoveryGate()) {
  return (watch: string) => ({
    onError: (err: unknown, retryInMs: number) => {
      gate.failed(watch);
      log.error('watch failed; restarting', { informer: watch, err, retryInMs });
    },
    onRecovered: () => {
      const retried = gate.recovered(watch) ? controllers.reduce((n, c) => n + c.queue.retryFailedNow(), 0) : 0;
      log.info('watch recovered', { informer: watch, retried });
    },
  });
}

export function objectKey(obj: { metadata?: { name?: string; namespace?: string } }): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

/** The key of an object's controlling owner of the given kind, for mapping child events to parents. */
export function ownerKey(obj: { metadata?: { namespace?: string; ownerReferences?: { kind: string; name: string; controller?: boolean }[] } }, kind: string): string | undefined {
  const owner = obj.metadata?.ownerReferences?.find((o) => o.controller && o.kind === kind);
  return owner ? `${obj.metadata?.namespace ?? ''}/${owner.name}` : undefined;
}
