import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, requestJson } from '../kube/client.js';
import { kubeConfigFrom } from '../kube/kubeconfig.js';
import { Controller, isTransientFailure, retryAfterOutage } from './controller.js';
import { silentLogger } from './log.js';
import { exponentialBackoffMs, RecoveryGate, WorkQueue, type Clock, type Timer } from './queue.js';

/** A clock that only moves when told to, firing due timers in time order. */
class FakeClock implements Clock {
  private t = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void; ms: number }>();

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): Timer {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn, ms });
    return { id } as Timer;
  }
  clearTimeout(timer: Timer): void {
    this.timers.delete((timer as { id: number }).id);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort(([, a], [, b]) => a.at - b.at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
  /** Delays of the timers still pending, as they were asked for. */
  pendingDelays(): number[] {
    return [...this.timers.values()].map((t) => t.ms);
  }
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
/** The operator's eight watches. */
const watches = ['trainingruns', 'registeredmodels', 'jobs', 'pods', 'deployments', 'services', 'horizontalpodautoscalers', 'scoringjobs'];

type Step =
  | ['add', string]
  | ['get']
  | ['done', string]
  | ['addAfter', string, number]
  | ['advance', number]
  | ['shutDown'];

/** Runs the steps; every get() records what it resolves to, whenever that happens. */
async function play(steps: Step[]): Promise<{ got: (string | undefined)[]; queue: WorkQueue }> {
  const clock = new FakeClock();
  const queue = new WorkQueue({ clock });
  const got: (string | undefined)[] = [];
  for (const step of steps) {
    switch (step[0]) {
      case 'add':
        queue.add(step[1]);
        break;
      case 'get':
        void queue.get().then((key) => got.push(key));
        break;
      case 'done':
        queue.done(step[1]);
        break;
      case 'addAfter':
        queue.addAfter(step[1], step[2]);
        break;
      case 'advance':
        clock.advance(step[1]);
        break;
      case 'shutDown':
        queue.shutDown();
        break;
    }
    await flush();
  }
  return { got, queue };
}

describe('WorkQueue', () => {
  it.each<{ name: string; steps: Step[]; got: (string | undefined)[]; len: number }>([
    {
      name: 'a waiting key is queued once',
      steps: [['add', 'ns/a'], ['add', 'ns/a'], ['add', 'ns/b'], ['add', 'ns/a']],
      got: [],
      len: 2,
    },
    {
      name: 'keys come out in arrival order',
      steps: [['add', 'ns/c'], ['add', 'ns/a'], ['add', 'ns/b'], ['get'], ['get'], ['get'], ['get']],
      got: ['ns/c', 'ns/a', 'ns/b'],
      len: 0,
    },
    {
      name: 'a waiting getter receives the next key added',
      steps: [['get'], ['add', 'ns/a']],
      got: ['ns/a'],
      len: 0,
    },
    {
      name: 'a key re-added while processing is not handed to a second worker',
      steps: [['add', 'ns/a'], ['get'], ['add', 'ns/a'], ['get']],
      got: ['ns/a'],
      len: 0,
    },
    {
      name: 'a key re-added while processing is re-queued exactly once, after done',
      steps: [['add', 'ns/a'], ['get'], ['add', 'ns/a'], ['add', 'ns/a'], ['done', 'ns/a'], ['get'], ['done', 'ns/a'], ['get']],
      got: ['ns/a', 'ns/a'],
      len: 0,
    },
    {
      name: 'a key processed without re-adds is not re-queued',
      steps: [['add', 'ns/a'], ['get'], ['done', 'ns/a'], ['get']],
      got: ['ns/a'],
      len: 0,
    },
    {
      name: 'a key re-added while processing keeps its place behind keys already waiting',
      steps: [['add', 'ns/a'], ['get'], ['add', 'ns/b'], ['add', 'ns/a'], ['done', 'ns/a'], ['get'], ['get']],
      got: ['ns/a', 'ns/b', 'ns/a'],
      len: 0,
    },
    {
      name: 'addAfter waits for its delay',
      steps: [['addAfter', 'ns/a', 500], ['get'], ['advance', 499], ['advance', 1]],
      got: ['ns/a'],
      len: 0,
    },
    {
      name: 'addAfter keeps the earlier of two delays',
      steps: [['addAfter', 'ns/a', 1000], ['addAfter', 'ns/a', 200], ['advance', 200], ['addAfter', 'ns/b', 5000], ['advance', 1000]],
      got: [],
      len: 1,
    },
    {
      name: 'a later addAfter does not postpone an earlier one',
      steps: [['addAfter', 'ns/a', 200], ['addAfter', 'ns/a', 1000], ['get'], ['advance', 200], ['done', 'ns/a'], ['get'], ['advance', 1000]],
      got: ['ns/a'],
      len: 0,
    },
    {
      name: 'addAfter with no delay adds at once',
      steps: [['addAfter', 'ns/a', 0]],
      got: [],
      len: 1,
    },
    {
      name: 'shutDown wakes every waiting getter with undefined',
      steps: [['get'], ['get'], ['shutDown']],
      got: [undefined, undefined],
      len: 0,
    },
    {
      name: 'after shutDown adds are ignored and get resolves undefined',
      steps: [['add', 'ns/a'], ['shutDown'], ['add', 'ns/b'], ['addAfter', 'ns/c', 10], ['advance', 10], ['get']],
      got: [undefined],
      len: 0,
    },
  ])('$name', async ({ steps, got, len }) => {
    const result = await play(steps);
    expect(result.got).toEqual(got);
    expect(result.queue.len()).toBe(len);
  });

  it('addAfter keeps the earlier delay: the key arrives at 200 ms, once', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    queue.addAfter('ns/a', 1000);
    queue.addAfter('ns/a', 200);
    expect(clock.pendingDelays()).toEqual([200]);
    clock.advance(199);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
    expect(clock.pendingDelays()).toEqual([]);
  });

  it('shutDownWithDrain resolves once the keys being processed are done', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    queue.add('ns/a');
    queue.add('ns/b');
    const a = await queue.get();
    let drained = false;
    void queue.shutDownWithDrain().then(() => (drained = true));
    await flush();
    expect(drained).toBe(false);
    expect(await queue.get()).toBeUndefined();
    queue.add('ns/a');
    queue.done(a!);
    await flush();
    expect(drained).toBe(true);
    expect(queue.len()).toBe(0);
  });

  it('shutDownWithDrain resolves at once when nothing is being processed', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    queue.add('ns/a');
    await expect(queue.shutDownWithDrain()).resolves.toBeUndefined();
  });
});

describe('exponentialBackoffMs', () => {
  it.each([
    [0, 100, 300_000, 100],
    [1, 100, 300_000, 200],
    [2, 100, 300_000, 400],
    [10, 100, 300_000, 102_400],
    [11, 100, 300_000, 204_800],
    [12, 100, 300_000, 300_000],
    [2000, 100, 300_000, 300_000],
    [3, 5, 30, 30],
  ])('requeue %i, base %i, max %i → %i ms', (requeues, base, max, expected) => {
    expect(exponentialBackoffMs(requeues, base, max)).toBe(expected);
  });
});

describe('addRateLimited', () => {
  it('doubles the delay per requeue from 100 ms and caps it at the maximum', () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock, maxDelayMs: 1000 });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      queue.addRateLimited('ns/a');
      delays.push(...clock.pendingDelays());
      clock.advance(1000);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(queue.numRequeues('ns/a')).toBe(6);
  });

  it('defaults to a 5 minute cap', () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    for (let i = 0; i < 20; i++) {
      queue.addRateLimited('ns/a');
      clock.advance(10 * 60_000);
    }
    queue.addRateLimited('ns/a');
    expect(clock.pendingDelays()).toEqual([300_000]);
  });

  it('forget resets the backoff of one key only', () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    for (let i = 0; i < 3; i++) {
      queue.addRateLimited('ns/a');
      queue.addRateLimited('ns/b');
      clock.advance(1000);
    }
    queue.forget('ns/a');
    expect(queue.numRequeues('ns/a')).toBe(0);
    expect(queue.numRequeues('ns/b')).toBe(3);
    queue.addRateLimited('ns/a');
    queue.addRateLimited('ns/b');
    expect(clock.pendingDelays().sort((x, y) => x - y)).toEqual([100, 800]);
  });

  it('retryFailedNow hands out the keys backing off from transient failures at once, and leaves refusals and requeueAfter delays', () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    for (let i = 0; i < 10; i++) queue.addRateLimited('ns/failing', { transient: true });
    for (let i = 0; i < 10; i++) queue.addRateLimited('ns/quota');
    // Its last failure was a refusal: the transient ones before it no longer count.
    queue.addRateLimited('ns/refused-last', { transient: true });
    queue.addRateLimited('ns/refused-last');
    queue.addAfter('ns/scheduled', 60_000);
    expect(queue.retryFailedNow()).toBe(1);
    expect(queue.len()).toBe(1);
    expect(clock.pendingDelays().sort((x, y) => x - y)).toEqual([100, 100, 60_000]);
    // The failure count stays: if the pass fails again it backs off from where it was.
    expect(queue.numRequeues('ns/failing')).toBe(10);
    expect(queue.retryFailedNow()).toBe(0);
    // A key that succeeded and fails again with a refusal is not retried early either.
    queue.forget('ns/failing');
    queue.addRateLimited('ns/failing');
    expect(queue.retryFailedNow()).toBe(0);
  });

  it('keys back off independently and arrive when due', () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    queue.addRateLimited('ns/a');
    queue.addRateLimited('ns/a');
    queue.addRateLimited('ns/b');
    // ns/a's second retry (200 ms) does not replace its pending first one (100 ms).
    expect(clock.pendingDelays().sort((x, y) => x - y)).toEqual([100, 100]);
    clock.advance(100);
    expect(queue.len()).toBe(2);
  });
});

describe('concurrent workers', () => {
  it('never hold the same key at once, and every add after processing started is seen', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    const keys = ['ns/a', 'ns/b', 'ns/c'];
    // A fixed pseudo-random sequence, so a failure reproduces.
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const active = new Set<string>();
    const overlaps: string[] = [];
    const processed = new Map<string, number>();
    const lastAdd = new Map<string, number>();
    const lastStart = new Map<string, number>();
    let tick = 0;

    const worker = async () => {
      for (;;) {
        const key = await queue.get();
        if (key === undefined) return;
        if (active.has(key)) overlaps.push(key);
        active.add(key);
        lastStart.set(key, ++tick);
        processed.set(key, (processed.get(key) ?? 0) + 1);
        for (let i = Math.floor(random() * 4); i >= 0; i--) await flush();
        active.delete(key);
        queue.done(key);
      }
    };
    const workers = [worker(), worker()];
    for (let i = 0; i < 300; i++) {
      const key = keys[Math.floor(random() * keys.length)]!;
      queue.add(key);
      lastAdd.set(key, ++tick);
      if (random() < 0.5) await flush();
    }
    // Let the workers catch up, then stop.
    while (queue.len() > 0 || active.size > 0) await flush();
    await queue.shutDownWithDrain();
    await Promise.all(workers);

    expect(overlaps).toEqual([]);
    for (const key of keys) {
      // Every key's last add was followed by a processing start of that key.
      expect(lastStart.get(key)!).toBeGreaterThan(lastAdd.get(key)!);
    }
    expect([...processed.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(keys.length);
  });
});

describe('RecoveryGate', () => {
  it.each<{ name: string; steps: readonly (readonly ['failed' | 'recovered', string, number])[]; retries: number }>([
    { name: 'one outage seen by 8 watches', steps: [...watches.map((w) => ['failed', w, 0] as const), ...watches.map((w, i) => ['recovered', w, 30_000 + 600 * i] as const)], retries: 1 },
    { name: 'a watch flapping every 5 s for 10 minutes', steps: Array.from({ length: 120 }, (_, i) => [['failed', 'pods', i * 5_000], ['recovered', 'pods', i * 5_000 + 4_999]] as const).flat(), retries: 0 },
    { name: 'a watch down 20 s of every 30 s for 10 minutes', steps: Array.from({ length: 20 }, (_, i) => [['failed', 'pods', i * 30_000], ['recovered', 'pods', i * 30_000 + 20_000]] as const).flat(), retries: 10 },
    { name: 'two outages two minutes apart', steps: [['failed', 'jobs', 0], ['recovered', 'jobs', 15_000], ['failed', 'jobs', 135_000], ['recovered', 'jobs', 150_000]], retries: 2 },
    { name: 'a recovery with no failure before it', steps: [['recovered', 'jobs', 60_000]], retries: 0 },
  ])('$name: $retries early retries', ({ steps, retries }) => {
    const clock = new FakeClock();
    const gate = new RecoveryGate({ clock });
    let retried = 0;
    for (const [what, watch, at] of steps) {
      clock.advance(at - clock.now());
      if (what === 'failed') gate.failed(watch);
      else if (gate.recovered(watch)) retried++;
    }
    expect(retried).toBe(retries);
  });
});

describe('isTransientFailure', () => {
  let server: Server;
  let port = 0;
  const answers: Record<string, [number, object]> = {
    '/unavailable': [503, { kind: 'Status', message: 'etcd cluster is unavailable' }],
    '/throttled': [429, { kind: 'Status', message: 'too many requests' }],
    '/quota': [403, { kind: 'Status', message: 'jobs.batch "a" is forbidden: exceeded quota: jobs, requested: count/jobs.batch=1' }],
    '/rbac': [403, { kind: 'Status', message: 'jobs.batch is forbidden: User "system:serviceaccount:orchard-system:orchard" cannot create resource "jobs"' }],
  };
  beforeAll(async () => {
    server = createServer((req, res) => {
      const answer = answers[req.url ?? ''];
      // Any other path never answers: the client's timeout ends it.
      if (answer) res.writeHead(answer[0], { 'content-type': 'application/json' }).end(JSON.stringify(answer[1]));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const kubeConfig = (p: number) =>
    kubeConfigFrom({ apiVersion: 'v1', kind: 'Config', 'current-context': 't', clusters: [{ name: 't', cluster: { server: `http://127.0.0.1:${p}` } }], users: [{ name: 't', user: {} }], contexts: [{ name: 't', context: { cluster: 't', user: 't' } }] }, 'test');
  const failure = (path: string, p = port) => requestJson(kubeConfig(p), 'POST', path, { body: {}, timeoutMs: 200 }).then(() => { throw new Error(`${path} answered`); }, (err: unknown) => new Error('create Job ns/a', { cause: err }));

  it.each([
    ['a 503', '/unavailable', true],
    ['a 429', '/throttled', true],
    ['no answer in time', '/silent', true],
    ["a quota's 403", '/quota', false],
    ["RBAC's 403", '/rbac', false],
  ])('%s, wrapped with context: %s', async (_name, path, transient) => {
    expect(isTransientFailure(await failure(path))).toBe(transient);
  });

  it('a refused connection is transient', async () => {
    // A port just freed: nothing listens there.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const freed = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(isTransientFailure(await failure('/x', freed))).toBe(true);
  });

  it('an invalid spec or a plain bug is not', () => {
    expect(isTransientFailure(new ApiError(422, {}, 'HTTP 422'))).toBe(false);
    expect(isTransientFailure(new TypeError("Cannot read properties of undefined (reading 'spec')"))).toBe(false);
  });
});

describe('retryAfterOutage', () => {
  const unreachable = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
  const quota = () => new ApiError(403, { message: 'jobs.batch "a" is forbidden: exceeded quota: jobs' }, 'POST: HTTP 403');

  /**
   * Three controllers as the operator runs them, each with a key the API server's absence fails
   * and one a quota refuses. Their backoff starts at 5 minutes, so every pass after the first is
   * an early retry.
   */
  async function operator() {
    const clock = new FakeClock();
    const passes = new Map<string, number>();
    const stop = new AbortController();
    const controllers = ['trainingruns', 'registeredmodels', 'scoringjobs'].map((name) => new Controller({
      name,
      log: silentLogger,
      workers: 2,
      queue: new WorkQueue({ clock, baseDelayMs: 300_000 }),
      reconcile: async (key) => {
        passes.set(`${name} ${key}`, (passes.get(`${name} ${key}`) ?? 0) + 1);
        throw key === 'ns/away' ? unreachable() : quota();
      },
    }));
    const running = controllers.map((c) => c.run(stop.signal));
    for (const c of controllers) for (const key of ['ns/away', 'ns/quota']) c.enqueue(key);
    for (let i = 0; i < 10; i++) await flush();
    const hooks = retryAfterOutage(controllers, silentLogger, new RecoveryGate({ clock }));
    const early = () => [...passes.entries()].filter(([, n]) => n > 1).map(([what, n]) => `${what}: ${n - 1}`).sort();
    return { clock, hooks, early, stop: async () => { stop.abort(); await Promise.all(running); } };
  }

  it('retries the keys that failed for want of the API server once per outage, however many of the 8 watches recover', async () => {
    const o = await operator();
    for (const w of watches) o.hooks(w).onError(unreachable(), 5_000);
    o.clock.advance(34_000);
    // The watches reconnect over the next few seconds, each after its own jittered wait.
    for (const w of watches) {
      o.clock.advance(500);
      o.hooks(w).onRecovered();
      for (let i = 0; i < 5; i++) await flush();
    }
    expect(o.early()).toEqual(['registeredmodels ns/away: 1', 'scoringjobs ns/away: 1', 'trainingruns ns/away: 1']);
    await o.stop();
  });

  it('retries nothing early for a watch that flaps', async () => {
    const o = await operator();
    for (let i = 0; i < 50; i++) {
      o.hooks('pods').onError(new Error('watch /api/v1/pods: closed by the server at once'), 4_000);
      o.clock.advance(4_500);
      o.hooks('pods').onRecovered();
      for (let j = 0; j < 3; j++) await flush();
    }
    expect(o.early()).toEqual([]);
    await o.stop();
  });
});
