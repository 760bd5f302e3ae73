import { describe, expect, it } from '@jest/globals';
import { ApiError } from '../kube/client.js';
import { Controller } from './controller.js';
import { TerminalError } from './errors.js';
import { silentLogger } from './log.js';
import { WorkQueue } from './queue.js';

function harness(fail: (call: number) => Error | undefined) {
  const calls: string[] = [];
  const queue = new WorkQueue({ baseDelayMs: 5, maxDelayMs: 20 });
  const controller = new Controller({
    name: 'test',
    log: silentLogger,
    queue,
    workers: 2,
    reconcile: async (key) => {
      calls.push(key);
      const err = fail(calls.length);
      if (err) throw err;
    },
  });
  const stop = new AbortController();
  const done = controller.run(stop.signal);
  return { calls, queue, controller, stop: async () => { stop.abort(); await done; } };
}

const settle = (ms = 60) => new Promise((r) => setTimeout(r, ms));

describe('Controller', () => {
  it('re-runs a pass at once after a 409 conflict, without backoff', async () => {
    const h = harness((n) => (n === 1 ? new ApiError(409, {}, 'the object has been modified') : undefined));
    h.controller.enqueue('ns/a');
    await settle();
    expect(h.calls).toEqual(['ns/a', 'ns/a']);
    expect(h.queue.numRequeues('ns/a')).toBe(0);
    await h.stop();
  });

  it('never retries a terminal error', async () => {
    const h = harness(() => new TerminalError('invalid spec'));
    h.controller.enqueue('ns/a');
    await settle();
    expect(h.calls).toEqual(['ns/a']);
    await h.stop();
  });

  it('never retries a write the API server rejects for good, even wrapped with context', async () => {
    const invalid = new ApiError(422, { message: 'Job.batch "a" is invalid: spec.template.spec.containers[0].resources.requests: Invalid value' }, 'POST: HTTP 422');
    const h = harness(() => new Error('create Job ns/a', { cause: invalid }));
    h.controller.enqueue('ns/a');
    await settle();
    expect(h.calls).toEqual(['ns/a']);
    expect(h.queue.numRequeues('ns/a')).toBe(0);
    await h.stop();
  });

  it('retries a 403 from RBAC or a quota: someone else fixes those', async () => {
    const h = harness((n) => (n <= 2 ? new ApiError(403, { message: 'jobs.batch "a" is forbidden: exceeded quota: compute' }, 'POST: HTTP 403') : undefined));
    h.controller.enqueue('ns/a');
    await settle(200);
    expect(h.calls).toEqual(['ns/a', 'ns/a', 'ns/a']);
    await h.stop();
  });

  it('retries other errors with backoff until a pass succeeds, then forgets the failures', async () => {
    const h = harness((n) => (n <= 3 ? new Error('apiserver unavailable') : undefined));
    h.controller.enqueue('ns/a');
    await settle(200);
    expect(h.calls).toEqual(['ns/a', 'ns/a', 'ns/a', 'ns/a']);
    expect(h.queue.numRequeues('ns/a')).toBe(0);
    await h.stop();
  });

  it('collapses a burst of events for one key into few passes', async () => {
    const h = harness(() => undefined);
    for (let i = 0; i < 100; i++) h.controller.enqueue('ns/a');
    await settle();
    expect(h.calls.length).toBeLessThanOrEqual(2);
    await h.stop();
  });
});
