// The informer against a loopback server that speaks the API server's list and watch protocol,
// for the answers a real API server gives only now and then: 410 on the watch request, a 410
// ERROR event, a watch closed at once, a connection reset, paged lists.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from './kubeconfig.js';
import { makeInformer, watchRetryMs, type Informer } from './informer.js';

type Obj = { apiVersion?: string; kind?: string; metadata: { name: string; namespace: string; resourceVersion: string; managedFields?: unknown }; data?: Record<string, string> };
type WatchScript = (res: ServerResponse, url: URL) => void;

/** Objects with resourceVersions, a paged list and watches that follow changes, unless scripted otherwise. */
class FakeApiServer {
  private objects = new Map<string, Obj>();
  private rv = 100;
  private readonly watchers = new Set<ServerResponse>();
  readonly requests: URL[] = [];
  /** Answers for the next watch requests, in order; after them, watches follow changes. */
  readonly nextWatches: WatchScript[] = [];
  private server!: Server;

  async start(): Promise<KubeConfig> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const server = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return { getCurrentCluster: () => ({ server }), applyToHTTPSOptions: async () => {} };
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  put(name: string, data: Record<string, string>): Obj {
    const existed = this.objects.has(name);
    const obj: Obj = { metadata: { name, namespace: 'ns', resourceVersion: String(++this.rv), managedFields: [{ manager: 'test' }] }, data };
    this.objects.set(name, obj);
    this.broadcast({ type: existed ? 'MODIFIED' : 'ADDED', object: { apiVersion: 'v1', kind: 'ConfigMap', ...obj } });
    return obj;
  }

  remove(name: string): void {
    const obj = this.objects.get(name)!;
    this.objects.delete(name);
    this.broadcast({ type: 'DELETED', object: { apiVersion: 'v1', kind: 'ConfigMap', ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } } });
  }

  /** Changes no watch hears of, as while the informer is disconnected. */
  putQuietly(name: string, data: Record<string, string>): void {
    this.objects.set(name, { metadata: { name, namespace: 'ns', resourceVersion: String(++this.rv) }, data });
  }

  removeQuietly(name: string): void {
    this.objects.delete(name);
    this.rv++;
  }

  bookmark(): void {
    this.broadcast({ type: 'BOOKMARK', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: String(++this.rv) } } });
  }

  watching(): number {
    return this.watchers.size;
  }

  private broadcast(event: object): void {
    // Split each line in two writes: events arrive in pieces over a real connection too.
    const line = JSON.stringify(event) + '\n';
    for (const w of this.watchers) {
      w.write(line.slice(0, 10));
      w.write(line.slice(10));
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url!, 'http://fake');
    this.requests.push(url);
    if (url.searchParams.get('watch')) {
      const script = this.nextWatches.shift();
      if (script) return script(res, url);
      // The API server sends a watch's headers at once.
      res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders();
      this.watchers.add(res);
      res.on('close', () => this.watchers.delete(res));
      return;
    }
    const limit = Number(url.searchParams.get('limit') ?? Infinity);
    const offset = Number(url.searchParams.get('continue') ?? 0);
    const all = [...this.objects.values()];
    const page = all.slice(offset, offset + limit);
    const more = offset + limit < all.length;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: this.resourceVersion, ...(more ? { continue: String(offset + limit) } : {}) }, items: page }));
  }
}

function recorder(informer: Informer<Obj>) {
  const events: string[] = [];
  informer.on('add', (o) => events.push(`add ${o.metadata.name}`));
  informer.on('update', (o, old) => events.push(`update ${o.metadata.name} ${old?.data?.v}→${o.data?.v}`));
  informer.on('delete', (o) => events.push(`delete ${o.metadata.name}`));
  return events;
}

async function until(what: string, probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const watchRequests = (api: FakeApiServer) => api.requests.filter((u) => u.searchParams.get('watch'));
const listRequests = (api: FakeApiServer) => api.requests.filter((u) => !u.searchParams.get('watch'));

let api: FakeApiServer;
let informer: Informer<Obj> | undefined;
afterEach(async () => {
  informer?.stop();
  informer = undefined;
  await api?.close();
});

describe('informer against the watch protocol', () => {
  it('lists in pages, then watches from the list resourceVersion with bookmarks; caches without managedFields', async () => {
    api = new FakeApiServer();
    const kc = await api.start();
    for (let i = 0; i < 1205; i++) api.putQuietly(`cm-${i}`, { v: '1' });
    informer = makeInformer<Obj>(kc, '/api/v1/configmaps', { labelSelector: 'app=x' });
    const events = recorder(informer);
    await informer.start();
    expect(informer.synced()).toBe(true);
    expect(informer.list()).toHaveLength(1205);
    expect(events).toHaveLength(1205);
    expect(listRequests(api).map((u) => [u.searchParams.get('limit'), u.searchParams.get('continue'), u.searchParams.get('labelSelector')])).toEqual([
      ['500', null, 'app=x'],
      ['500', '500', 'app=x'],
      ['500', '1000', 'app=x'],
    ]);
    await until('the watch', () => api.watching() === 1);
    const watch = watchRequests(api)[0]!;
    expect(watch.searchParams.get('resourceVersion')).toBe(api.resourceVersion);
    expect(watch.searchParams.get('allowWatchBookmarks')).toBe('true');
    expect(watch.searchParams.get('labelSelector')).toBe('app=x');
    expect(Number(watch.searchParams.get('timeoutSeconds'))).toBeGreaterThanOrEqual(300);

    api.put('new', { v: '1' });
    await until('the add', () => informer!.get('new', 'ns') !== undefined);
    const cached = informer.get('new', 'ns')!;
    expect(cached.metadata).toEqual({ name: 'new', namespace: 'ns', resourceVersion: expect.any(String) });
    expect(cached).toMatchObject({ kind: 'ConfigMap', data: { v: '1' } });
    // List items get the kind that watch events carry.
    expect(informer.get('cm-0', 'ns')).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap' });
    expect(informer.get('cm-0', 'ns')!.metadata.managedFields).toBeUndefined();
  });

  it('on 410 to the watch request, lists again and delivers only the differences', async () => {
    api = new FakeApiServer();
    const kc = await api.start();
    api.putQuietly('kept', { v: '1' });
    api.putQuietly('changed', { v: '1' });
    api.putQuietly('removed', { v: '1' });
    const errors: unknown[] = [];
    informer = makeInformer<Obj>(kc, '/api/v1/configmaps', { onError: (err) => errors.push(err) });
    const events = recorder(informer);
    const gone = (res: ServerResponse) => {
      api.putQuietly('changed', { v: '2' });
      api.removeQuietly('removed');
      api.putQuietly('added', { v: '1' });
      res.writeHead(410, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' }));
    };
    // The first watch delivers an event, then the second is answered 410.
    api.nextWatches.push(
      (res) => {
        res.writeHead(200);
        res.end(JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: api.resourceVersion } } }) + '\n');
      },
      gone,
    );
    const kept = () => informer!.get('kept', 'ns');
    await informer.start();
    const keptBefore = kept();
    events.length = 0;
    await until('the relist', () => events.length === 3);
    expect(events).toEqual(['update changed 1→2', 'add added', 'delete removed']);
    expect(informer.list().map((o) => o.metadata.name).sort()).toEqual(['added', 'changed', 'kept']);
    // An unchanged object stays the same object.
    expect(kept()).toBe(keptBefore);
    expect(listRequests(api)).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  it('on a 410 ERROR event, lists again; a bookmark moves the resourceVersion on', async () => {
    api = new FakeApiServer();
    const kc = await api.start();
    api.putQuietly('a', { v: '1' });
    informer = makeInformer<Obj>(kc, '/api/v1/configmaps');
    const events = recorder(informer);
    await informer.start();
    await until('the watch', () => api.watching() === 1);
    api.bookmark();
    const bookmarked = api.resourceVersion;
    api.put('a', { v: '2' });
    await until('the update', () => events.length === 2);
    // The server cuts the watch; the informer resumes from the last event it saw...
    api.nextWatches.push((res) => {
      res.writeHead(200);
      api.putQuietly('b', { v: '1' });
      res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } }) + '\n');
    });
    (api as unknown as { watchers: Set<ServerResponse> }).watchers.forEach((w) => w.end());
    // ...is told that it is gone, and lists again.
    await until('the relist', () => events.length === 3);
    expect(events).toEqual(['add a', 'update a 1→2', 'add b']);
    const [, second] = watchRequests(api);
    expect(Number(second!.searchParams.get('resourceVersion'))).toBeGreaterThan(Number(bookmarked));
    expect(listRequests(api)).toHaveLength(2);
  });

  it('reconnects from the last resourceVersion after a reset, backing off; a healthy watch resets the backoff', async () => {
    api = new FakeApiServer();
    const kc = await api.start();
    const retries: number[] = [];
    informer = makeInformer<Obj>(kc, '/api/v1/configmaps', { onError: (_err, retryInMs) => retries.push(retryInMs) });
    const events = recorder(informer);
    const reset: WatchScript = (res) => res.socket!.destroy();
    const closeAtOnce: WatchScript = (res) => {
      res.writeHead(200);
      res.end();
    };
    api.nextWatches.push(reset, closeAtOnce);
    await informer.start();
    await until('two failures', () => retries.length === 2);
    expect(retries[0]).toBeGreaterThanOrEqual(400);
    expect(retries[0]).toBeLessThanOrEqual(500);
    expect(retries[1]).toBeGreaterThanOrEqual(800);
    expect(retries[1]).toBeLessThanOrEqual(1000);
    await until('the watch', () => api.watching() === 1, 3000);
    api.put('a', { v: '1' });
    await until('the add', () => events.length === 1);
    const lastSeen = informer.get('a', 'ns')!.metadata.resourceVersion;
    // A reset after a healthy watch starts the backoff over, and the next watch resumes from the
    // last event seen.
    (api as unknown as { watchers: Set<ServerResponse> }).watchers.forEach((w) => w.socket!.destroy());
    await until('the third failure', () => retries.length === 3);
    expect(retries[2]).toBeLessThanOrEqual(500);
    await until('the watch', () => api.watching() === 1, 3000);
    expect(watchRequests(api).at(-1)!.searchParams.get('resourceVersion')).toBe(lastSeen);
    api.put('a', { v: '2' });
    await until('the update', () => events.length === 2);
    expect(events).toEqual(['add a', 'update a 1→2']);
    expect(listRequests(api)).toHaveLength(1);
  });

  it('backs off from 0.5 s to at most 5 s, so a watch is back within 5 s of the API server', () => {
    expect([0, 1, 2, 3, 4, 10, 50].map((n) => watchRetryMs(n, 0))).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000]);
    // Jitter only shortens the wait, by up to a fifth.
    expect(watchRetryMs(10, 1)).toBe(4000);
    expect(watchRetryMs(0, 1)).toBe(400);
  });

  it('reports the recovery once a watch works again after failures, and not before any failure', async () => {
    api = new FakeApiServer();
    const kc = await api.start();
    let recoveries = 0;
    informer = makeInformer<Obj>(kc, '/api/v1/configmaps', { onRecovered: () => recoveries++ });
    api.nextWatches.push((res) => res.socket!.destroy(), (res) => res.socket!.destroy());
    await informer.start();
    expect(recoveries).toBe(0);
    await until('the watch', () => api.watching() === 1, 5000);
    expect(recoveries).toBe(1);
  });

  it('a watch the server ends after its timeout reconnects at once, without an error', async () => {
    api = new FakeApiServer();
    const kc = await api.start();
    const errors: unknown[] = [];
    informer = makeInformer<Obj>(kc, '/api/v1/configmaps', { watchTimeoutSeconds: 1, onError: (err) => errors.push(err) });
    api.nextWatches.push((res, url) => {
      res.writeHead(200).flushHeaders();
      setTimeout(() => res.end(), Number(url.searchParams.get('timeoutSeconds')) * 1000);
    });
    await informer.start();
    await until('the second watch', () => watchRequests(api).length === 2 && api.watching() === 1, 3000);
    expect(watchRequests(api)[0]!.searchParams.get('timeoutSeconds')).toBe('1');
    expect(errors).toEqual([]);
  });

  it('stop ends the watch and start resumes it', async () => {
    api = new FakeApiServer();
    const kc = await api.start();
    informer = makeInformer<Obj>(kc, '/api/v1/configmaps');
    const events = recorder(informer);
    await informer.start();
    await until('the watch', () => api.watching() === 1);
    informer.stop();
    await until('the watch to close', () => api.watching() === 0);
    await informer.start();
    await until('the watch', () => api.watching() === 1);
    expect(listRequests(api)).toHaveLength(1);
    expect(events).toEqual([]);
  });
});
