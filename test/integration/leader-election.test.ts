// Leader election against a real kube-apiserver: one leader at a time, a quick hand-over when
// the leader shuts down, takeover after expiry when it dies, and stepping down when it can no
// longer renew. Durations are short (lease 3 s, renew 2 s, retry 0.5 s) to keep the file fast.
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { requestJson } from '../../operator/src/kube/client.js';
import {
  acquiredLeaseSpec,
  LeaderElector,
  leasePath,
  mayAcquire,
  microTime,
  releasedLeaseSpec,
  type Lease,
  type LeaderElectorOptions,
  type LeaseSpec,
} from '../../operator/src/runtime/leader-election.js';
import { createNamespace, testKubeConfig } from '../support/cluster.js';

const kc = testKubeConfig();
let namespace: string;

beforeAll(async () => {
  namespace = await createNamespace(kc, 'leader-election');
});

const durations = { leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.5 };
const MICROTIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

interface Candidate {
  identity: string;
  elector: LeaderElector;
  stop: AbortController;
  /** Resolves when run() does. */
  done: Promise<void>;
  /** Aborted when its leadership ends. */
  leadership: AbortSignal | undefined;
  started: number;
  stopped: number;
}

const running: Candidate[] = [];

afterEach(async () => {
  for (const c of running.splice(0)) {
    c.stop.abort();
    await c.done;
  }
});

function candidate(lease: string, identity: string, options: Partial<LeaderElectorOptions> = {}): Candidate {
  const c: Candidate = { identity, stop: new AbortController(), leadership: undefined, started: 0, stopped: 0 } as Candidate;
  c.elector = new LeaderElector({
    kc,
    namespace,
    name: lease,
    identity,
    ...durations,
    onStartedLeading: (signal) => {
      c.started++;
      c.leadership = signal;
    },
    onStoppedLeading: () => c.stopped++,
    ...options,
  });
  c.done = c.elector.run(c.stop.signal);
  running.push(c);
  return c;
}

async function readLease(name: string): Promise<Lease> {
  return requestJson(kc, 'GET', leasePath(namespace, name));
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<number> {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('leader election', () => {
  it('one replica leads, a second waits, and takes over at once when the first shuts down', async () => {
    const a = candidate('handover', 'replica-a');
    await waitFor('replica-a to lead', () => a.elector.isLeader());
    expect(a.started).toBe(1);
    const lease = await readLease('handover');
    expect(lease.spec).toMatchObject({ holderIdentity: 'replica-a', leaseDurationSeconds: 3, leaseTransitions: 0 });
    expect(lease.spec?.acquireTime).toMatch(MICROTIME);
    expect(lease.spec?.renewTime).toMatch(MICROTIME);

    const b = candidate('handover', 'replica-b');
    // Several retry periods, and a lease duration would have let a stale lease expire: b must still wait.
    await sleep(3500);
    expect(b.elector.isLeader()).toBe(false);
    expect(b.started).toBe(0);
    expect(a.elector.isLeader()).toBe(true);
    const renewed = await readLease('handover');
    expect(renewed.spec?.holderIdentity).toBe('replica-a');
    expect(renewed.spec?.renewTime! > lease.spec?.renewTime!).toBe(true);
    expect(renewed.spec?.acquireTime).toBe(lease.spec?.acquireTime);

    a.stop.abort();
    const stoppedAt = Date.now();
    await a.done;
    expect(a.leadership?.aborted).toBe(true);
    expect(a.stopped).toBe(1);
    expect(a.elector.isLeader()).toBe(false);

    await waitFor('replica-b to lead', () => b.elector.isLeader());
    expect(Date.now() - stoppedAt).toBeLessThan(3000);
    const taken = await readLease('handover');
    expect(taken.spec).toMatchObject({ holderIdentity: 'replica-b', leaseDurationSeconds: 3, leaseTransitions: 1 });
  });

  it('a released lease names no holder', async () => {
    const a = candidate('release', 'replica-a');
    await waitFor('replica-a to lead', () => a.elector.isLeader());
    a.stop.abort();
    await a.done;
    const lease = await readLease('release');
    expect(lease.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
    expect(lease.spec?.renewTime).toMatch(MICROTIME);
  });

  it('when the leader dies without releasing, another takes over after the lease expires', async () => {
    // releaseOnCancel: false stops renewing and leaves the Lease as it is, as a killed process would.
    const a = candidate('crash', 'replica-a', { releaseOnCancel: false });
    await waitFor('replica-a to lead', () => a.elector.isLeader());
    const b = candidate('crash', 'replica-b');
    await sleep(1000);

    a.stop.abort();
    await a.done;
    const lastRenew = Date.parse((await readLease('crash')).spec!.renewTime!);
    expect((await readLease('crash')).spec?.holderIdentity).toBe('replica-a');

    await waitFor('replica-b to lead', () => b.elector.isLeader(), 8000);
    // b saw the last renewal late by up to one of its (jittered) polls, and takes over on a later poll.
    const waited = Date.now() - lastRenew;
    expect(waited).toBeGreaterThanOrEqual(3000);
    expect(waited).toBeLessThan(3000 + 2 * 1100 + 1000);
    const lease = await readLease('crash');
    expect(lease.spec).toMatchObject({ holderIdentity: 'replica-b', leaseTransitions: 1 });
    expect(lease.spec?.acquireTime).toBe(lease.spec?.renewTime);
  });

  it('replicas racing to create the lease end with exactly one leader', async () => {
    const racers = ['replica-a', 'replica-b', 'replica-c', 'replica-d'].map((id) => candidate('race', id));
    const leaders = new Set<string>();
    const deadline = Date.now() + 2500;
    while (Date.now() < deadline) {
      const now = racers.filter((r) => r.elector.isLeader());
      expect(now.length).toBeLessThanOrEqual(1);
      for (const r of now) leaders.add(r.identity);
      await sleep(20);
    }
    expect([...leaders]).toHaveLength(1);
    expect(racers.reduce((n, r) => n + r.started, 0)).toBe(1);
    const lease = await readLease('race');
    expect(lease.spec).toMatchObject({ holderIdentity: [...leaders][0], leaseTransitions: 0 });
  });

  it('the leader steps down at once when it finds another holder in the lease', async () => {
    const a = candidate('intruder', 'replica-a');
    await waitFor('replica-a to lead', () => a.elector.isLeader());
    const lease = await readLease('intruder');
    await requestJson(kc, 'PUT', leasePath(namespace, 'intruder'), {
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'someone-else', leaseTransitions: 1 } },
    });
    const took = await waitFor('replica-a to step down', () => a.leadership?.aborted === true, 3000);
    expect(took).toBeLessThan(1500);
    await a.done;
    expect(a.stop.signal.aborted).toBe(false);
    expect(a.stopped).toBe(1);
    expect(a.elector.isLeader()).toBe(false);
    expect((await readLease('intruder')).spec?.holderIdentity).toBe('someone-else');
  });

  it('the leader recreates its lease when it is deleted, and keeps leading', async () => {
    const a = candidate('deleted', 'replica-a');
    await waitFor('replica-a to lead', () => a.elector.isLeader());
    const before = await readLease('deleted');
    await requestJson(kc, 'DELETE', leasePath(namespace, 'deleted'));
    await waitFor('the lease to be recreated', async () => {
      const lease = await readLease('deleted').catch(() => undefined);
      return lease !== undefined && lease.metadata.uid !== before.metadata.uid;
    }, 3000);
    expect((await readLease('deleted')).spec?.holderIdentity).toBe('replica-a');
    expect(a.elector.isLeader()).toBe(true);
    expect(a.leadership?.aborted).toBe(false);
  });

  it('the leader steps down when it cannot renew within the renew deadline, leaving the lease to expire', async () => {
    const own = testKubeConfig();
    const a = candidate('partition', 'replica-a', { kc: own });
    await waitFor('replica-a to lead', () => a.elector.isLeader());
    // Cut this replica off from the API server.
    own.clusters = own.clusters.map((c) => ({ ...c, server: 'https://127.0.0.1:1' }));
    const cutAt = Date.now();
    await a.done;
    const took = Date.now() - cutAt;
    expect(took).toBeGreaterThanOrEqual(1400);
    expect(took).toBeLessThan(3000);
    expect(a.leadership?.aborted).toBe(true);
    expect(a.stopped).toBe(1);
    expect((await readLease('partition')).spec?.holderIdentity).toBe('replica-a');
  });

  it('rejects durations that would let two replicas lead at once', () => {
    const base = { kc, namespace, name: 'x', identity: 'y', onStartedLeading: () => {} };
    expect(() => new LeaderElector({ ...base, leaseDurationSeconds: 10, renewDeadlineSeconds: 10 })).toThrow(/greater than renewDeadlineSeconds/);
    expect(() => new LeaderElector({ ...base, renewDeadlineSeconds: 2, retryPeriodSeconds: 2 })).toThrow(/retryPeriodSeconds/);
    expect(() => new LeaderElector({ ...base, leaseDurationSeconds: 2.5, renewDeadlineSeconds: 2, retryPeriodSeconds: 1 })).toThrow(/whole number/);
  });
});

describe('lease records', () => {
  const t0 = Date.parse('2026-11-23T10:00:00.123Z');

  it.each([
    ['2026-11-23T10:00:00.123Z', '2026-11-23T10:00:00.123000Z'],
    ['2026-11-23T10:00:00.000Z', '2026-11-23T10:00:00.000000Z'],
  ])('microTime(%s) = %s', (iso, expected) => {
    expect(microTime(Date.parse(iso))).toBe(expected);
  });

  it.each<[string, LeaseSpec | undefined, LeaseSpec]>([
    ['a new lease', undefined, { holderIdentity: 'me', leaseDurationSeconds: 3, acquireTime: microTime(t0), renewTime: microTime(t0), leaseTransitions: 0 }],
    [
      'a renewal keeps acquireTime and the transition count',
      { holderIdentity: 'me', leaseDurationSeconds: 3, acquireTime: '2026-11-23T09:00:00.000000Z', renewTime: '2026-11-23T09:59:59.000000Z', leaseTransitions: 4 },
      { holderIdentity: 'me', leaseDurationSeconds: 3, acquireTime: '2026-11-23T09:00:00.000000Z', renewTime: microTime(t0), leaseTransitions: 4 },
    ],
    [
      'a takeover counts a transition',
      { holderIdentity: 'other', leaseDurationSeconds: 15, acquireTime: '2026-11-23T09:00:00.000000Z', renewTime: '2026-11-23T09:59:00.000000Z', leaseTransitions: 4 },
      { holderIdentity: 'me', leaseDurationSeconds: 3, acquireTime: microTime(t0), renewTime: microTime(t0), leaseTransitions: 5 },
    ],
    [
      'taking a released lease counts a transition',
      { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: '2026-11-23T09:59:00.000000Z', renewTime: '2026-11-23T09:59:00.000000Z', leaseTransitions: 4 },
      { holderIdentity: 'me', leaseDurationSeconds: 3, acquireTime: microTime(t0), renewTime: microTime(t0), leaseTransitions: 5 },
    ],
  ])('acquiredLeaseSpec: %s', (_name, current, expected) => {
    expect(acquiredLeaseSpec(current, 'me', 3, t0)).toEqual(expected);
  });

  it('releasedLeaseSpec names no holder and keeps the transition count', () => {
    expect(releasedLeaseSpec({ holderIdentity: 'me', leaseTransitions: 2 }, t0)).toEqual({
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: microTime(t0),
      renewTime: microTime(t0),
      leaseTransitions: 2,
    });
  });

  it.each<[string, boolean, LeaseSpec | undefined, number]>([
    ['no lease spec', true, undefined, 0],
    ['released', true, { holderIdentity: '' }, 0],
    ['held by me', true, { holderIdentity: 'me', leaseDurationSeconds: 3 }, 0],
    ['held by another, seen changing 2.9 s ago', false, { holderIdentity: 'other', leaseDurationSeconds: 3 }, 2900],
    ['held by another, unchanged for 3 s', true, { holderIdentity: 'other', leaseDurationSeconds: 3 }, 3000],
    ['held by another, no duration: ours applies', false, { holderIdentity: 'other' }, 14_000],
  ])('mayAcquire: %s → %s', (_name, expected, spec, sinceObserved) => {
    expect(mayAcquire(spec, 'me', t0, t0 + sinceObserved, 15)).toBe(expected);
  });
});
