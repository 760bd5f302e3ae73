// The informer against the real API server: the first list, events under a label selector, a
// watch cut by the network or ended by the server, and a resourceVersion that etcd has compacted.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { loadKubeConfig, requestJson, type KubeConfig } from '../../operator/src/kube/client.js';
import { makeInformer, type Informer, type InformerOptions } from '../../operator/src/kube/informer.js';
import { createNamespace } from '../support/cluster.js';
import { eventually } from '../support/wait.js';

const kc = loadKubeConfig(process.env.KUBECONFIG);
let namespace: string;
const informers: Informer[] = [];
const closers: (() => Promise<void>)[] = [];

type Obj = { metadata: { name: string; namespace: string; resourceVersion: string; labels?: Record<string, string>; managedFields?: unknown }; data?: Record<string, string>; message?: string };

/** The same cluster, with every request's path recorded. */
function recording(inner: KubeConfig, server?: string) {
  const paths: string[] = [];
  const config: KubeConfig = {
    getCurrentCluster: () => (server ? { server } : inner.getCurrentCluster()),
    applyToHTTPSOptions: async (options: RequestOptions) => {
      paths.push(options.path ?? '');
      await inner.applyToHTTPSOptions(options);
    },
  };
  const watches = () => paths.filter((p) => /[?&]watch=1/.test(p)).map((p) => new URLSearchParams(p.split('?')[1]));
  const lists = () => paths.filter((p) => /[?&]limit=/.test(p) && !/[?&]watch=1/.test(p));
  return { config, paths, watches, lists };
}

function start(config: KubeConfig, resource: string, selector: string, options: InformerOptions = {}) {
  const informer = makeInformer<Obj>(config, `/api/v1/namespaces/${namespace}/${resource}`, { labelSelector: selector, ...options });
  informers.push(informer);
  const events: string[] = [];
  informer.on('add', (o) => events.push(`add ${o.metadata.name}`));
  informer.on('update', (o, old) => events.push(`update ${o.metadata.name}${o.data ? ` ${old?.data?.v}→${o.data.v}` : ''}`));
  informer.on('delete', (o) => events.push(`delete ${o.metadata.name}`));
  return { informer, events };
}

const configMaps = () => `/api/v1/namespaces/${namespace}/configmaps`;
const putConfigMap = (name: string, labels: Record<string, string>, v: string, create = false) =>
  requestJson(kc, create ? 'POST' : 'PUT', create ? configMaps() : `${configMaps()}/${name}`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data: { v } } });
const eventsLike = (events: string[], expected: string[]) => eventually(`events ${expected.join(', ')}`, async () => events.length >= expected.length, 10_000);

/** A loopback TCP proxy to the API server whose connections the test can cut. */
async function cuttableProxy(target: string): Promise<{ server: string; cut: () => void }> {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  const proxy: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    const pair = [client, upstream];
    for (const socket of pair) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => pair.forEach((s) => s.destroy()));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    open.forEach((s) => s.destroy());
    await new Promise((resolve) => proxy.close(resolve));
  });
  return { server: `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`, cut: () => open.forEach((s) => s.destroy()) };
}

/** The test control plane's etcd, found by its data directory. */
function etcdUrl(): string {
  const dataDir = `--data-dir=${join(process.env.ORCHARD_TEST_CONTROL_PLANE_DIR ?? '', 'etcd')}`;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // the process has exited
    }
    if (args.includes(dataDir)) return args.find((a) => a.startsWith('--listen-client-urls='))!.split('=')[1]!.split(',')[0]!;
  }
  throw new Error(`no etcd with ${dataDir}`);
}

/** Compacts etcd's history up to now, as kube-apiserver does every five minutes; returns the revision. */
async function compactEtcd(): Promise<number> {
  const etcd = etcdUrl();
  const call = async (path: string, body: object) => {
    const res = await fetch(`${etcd}${path}`, { method: 'POST', body: JSON.stringify(body) });
    return (await res.json()) as { header?: { revision: string }; error?: string };
  };
  const revision = Number((await call('/v3/kv/range', { key: Buffer.from('/registry/').toString('base64'), limit: 1 })).header!.revision);
  const compacted = await call('/v3/kv/compaction', { revision, physical: true });
  if (compacted.error) throw new Error(`compact etcd at ${revision}: ${compacted.error}`);
  // Reading the revision before is now refused.
  expect((await call('/v3/kv/range', { key: Buffer.from('/registry/').toString('base64'), revision: revision - 1 })).error).toMatch(/compacted/);
  return revision;
}

beforeAll(async () => {
  namespace = await createNamespace(kc, 'informer');
});

afterEach(async () => {
  informers.splice(0).forEach((i) => i.stop());
  for (const close of closers.splice(0)) await close();
});

afterAll(async () => {
  await requestJson(kc, 'DELETE', `/api/v1/namespaces/${namespace}`);
});

describe('informer against the API server', () => {
  it('lists, then delivers add/update/delete for the objects its label selector matches, without managedFields', async () => {
    await putConfigMap('one', { app: 'listed' }, '1', true);
    await putConfigMap('stranger', { app: 'other' }, '1', true);
    const { informer, events } = start(kc, 'configmaps', 'app=listed');
    await informer.start();
    expect(informer.synced()).toBe(true);
    expect(informer.list().map((o) => o.metadata.name)).toEqual(['one']);
    expect(events).toEqual(['add one']);
    // The server keeps managedFields; the cache does not.
    expect((await requestJson(kc, 'GET', `${configMaps()}/one`)).metadata.managedFields).toBeDefined();
    expect(informer.get('one', namespace)).toMatchObject({ kind: 'ConfigMap', apiVersion: 'v1', data: { v: '1' } });
    expect(informer.get('one', namespace)!.metadata).not.toHaveProperty('managedFields');

    await putConfigMap('two', { app: 'listed' }, '1', true);
    await putConfigMap('one', { app: 'listed' }, '2');
    await putConfigMap('two', { app: 'moved' }, '1'); // no longer selected: a delete
    await putConfigMap('three', { app: 'other' }, '1', true);
    await requestJson(kc, 'DELETE', `${configMaps()}/one`);
    const expected = ['add one', 'add two', 'update one 1→2', 'delete two', 'delete one'];
    await eventsLike(events, expected);
    expect(events).toEqual(expected);
    expect(informer.list()).toEqual([]);
  });

  it('after the connection is cut, resumes the watch from the last resourceVersion and misses nothing', async () => {
    const proxy = await cuttableProxy(kc.getCurrentCluster()!.server);
    const requests = recording(kc, proxy.server);
    const retries: number[] = [];
    const { informer, events } = start(requests.config, 'configmaps', 'app=cut', { onError: (_err, retryInMs) => retries.push(retryInMs) });
    await informer.start();
    await putConfigMap('a', { app: 'cut' }, '1', true);
    await eventsLike(events, ['add a']);
    const lastSeen = informer.get('a', namespace)!.metadata.resourceVersion;

    proxy.cut();
    // Changes while the informer is disconnected.
    const missed = await putConfigMap('a', { app: 'cut' }, '2');
    await putConfigMap('b', { app: 'cut' }, '1', true);
    const expected = ['add a', 'update a 1→2', 'add b'];
    await eventsLike(events, expected);
    expect(events).toEqual(expected);
    // The first retry: 0.5 s, less up to a fifth of jitter.
    expect(retries[0]).toBeGreaterThanOrEqual(400);
    expect(retries[0]).toBeLessThanOrEqual(500);
    const watches = requests.watches();
    expect(watches.length).toBeGreaterThanOrEqual(2);
    // From what it had seen (or a later bookmark), not from after the changes it missed.
    const resumedFrom = Number(watches[1]!.get('resourceVersion'));
    expect(resumedFrom).toBeGreaterThanOrEqual(Number(lastSeen));
    expect(resumedFrom).toBeLessThan(Number(missed.metadata.resourceVersion));
    expect(requests.lists()).toHaveLength(1);
  });

  it('when the server ends the watch at its timeoutSeconds, watches again at once without an error', async () => {
    const requests = recording(kc);
    const errors: unknown[] = [];
    const { informer, events } = start(requests.config, 'configmaps', 'app=timeout', { watchTimeoutSeconds: 1, onError: (err) => errors.push(err) });
    await informer.start();
    await eventually('a third watch', async () => requests.watches().length >= 3, 10_000);
    expect(requests.watches().every((w) => w.get('timeoutSeconds') === '1' && w.get('allowWatchBookmarks') === 'true')).toBe(true);
    await putConfigMap('late', { app: 'timeout' }, '1', true);
    await eventsLike(events, ['add late']);
    expect(events).toEqual(['add late']);
    expect(errors).toEqual([]);
    expect(requests.lists()).toHaveLength(1);
  });

  it('when etcd has compacted its resourceVersion, lists again and delivers the differences', async () => {
    // core/v1 Events are watched from etcd itself (kube-apiserver keeps no watch cache for them),
    // so a watch from a compacted revision is answered 410 Gone.
    const event = (name: string, message: string) => ({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, labels: { app: 'compacted' } },
      involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', name: 'subject', namespace },
      reason: 'Test',
      message,
    });
    const events_ = `/api/v1/namespaces/${namespace}/events`;
    for (const name of ['e1', 'e2', 'e3']) await requestJson(kc, 'POST', events_, { body: event(name, 'first') });
    const requests = recording(kc);
    const errors: unknown[] = [];
    const { informer, events } = start(requests.config, 'events', 'app=compacted', { onError: (err) => errors.push(err) });
    await informer.start();
    expect(events.sort()).toEqual(['add e1', 'add e2', 'add e3']);
    await eventually('the watch', async () => requests.watches().length === 1);
    informer.stop();

    // While it is stopped: one added, one changed, one deleted, and the history compacted.
    await requestJson(kc, 'POST', events_, { body: event('e4', 'first') });
    await requestJson(kc, 'PUT', `${events_}/e2`, { body: { ...(await requestJson(kc, 'GET', `${events_}/e2`)), message: 'second' } });
    await requestJson(kc, 'DELETE', `${events_}/e3`);
    await compactEtcd();
    events.length = 0;

    await informer.start();
    await eventsLike(events, ['update e2', 'add e4', 'delete e3']);
    expect(events).toEqual(['update e2', 'add e4', 'delete e3']);
    expect(informer.get('e2', namespace)?.message).toBe('second');
    expect(informer.list().map((o) => o.metadata.name).sort()).toEqual(['e1', 'e2', 'e4']);
    // The resumed watch was refused, the informer listed again and watched from the new list.
    const watches = requests.watches();
    expect(watches).toHaveLength(3);
    expect(Number(watches[2]!.get('resourceVersion'))).toBeGreaterThan(Number(watches[1]!.get('resourceVersion')));
    expect(requests.lists()).toHaveLength(2);
    expect(errors).toEqual([]);
  });
});
