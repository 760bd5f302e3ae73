// A list+watch cache of raw JSON objects, kept the way client-go's reflector keeps one: list (in
// pages), then watch from the list's resourceVersion with bookmarks. When the server says the
// resourceVersion is gone (410), the cache is listed again and the differences are delivered as
// add/update/delete events, so handlers stay level-correct. Other failures, and a watch the server
// ends, reconnect from the last resourceVersion seen; failures back off up to 5 s.
import { ApiError, openRequest, requestJson } from './client.js';
import type { KubeConfig } from './kubeconfig.js';

export type InformerEvent = 'add' | 'update' | 'delete';

export interface Informer<T = any> {
  /** Resolves once the first list is in the cache. */
  start(): Promise<void>;
  stop(): void;
  synced(): boolean;
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): T[];
  on(event: InformerEvent, handler: (obj: T, old?: T) => void): void;
}

export interface InformerOptions {
  labelSelector?: string;
  /** E.g. `spec.nodeName=n1`: a node agent watches only its own Pods. */
  fieldSelector?: string;
  onError?: (err: unknown, retryInMs: number) => void;
  /** The first list or watch that works after failures: the API server is back. */
  onRecovered?: () => void;
  /** How long the server keeps one watch open; when unset, 5–10 minutes at random, as client-go asks. */
  watchTimeoutSeconds?: number;
}

type Meta = { name?: string; namespace?: string; resourceVersion?: string; managedFields?: unknown };
type Handler<T> = (obj: T, old?: T) => void;

const PAGE_SIZE = 500;
const FIRST_RETRY_MS = 500;
/**
 * Low, because the wait after the API server is back is up to one whole delay: at 30 s, Jobs came
 * 30 s after a 30 s outage. A failing attempt is one refused or failing request, cheap for the
 * server; the jitter keeps the operator's several watches from reconnecting in one burst.
 */
const MAX_RETRY_MS = 5_000;

/** The wait after `failures` failures in a row: doubling from 0.5 s up to 5 s, less up to a fifth at random. */
export function watchRetryMs(failures: number, random = Math.random()): number {
  return Math.round(Math.min(FIRST_RETRY_MS * 2 ** failures, MAX_RETRY_MS) * (1 - 0.2 * random));
}
/** A watch that ends sooner than this with no event is a failure, so a server closing at once is not hammered. */
const HEALTHY_WATCH_MS = 500;
/** A watch still open this long after its timeoutSeconds sits on a dead connection. */
const WATCH_GRACE_SECONDS = 60;

export function makeInformer<T extends { metadata?: { name?: string; namespace?: string } }>(kc: KubeConfig, path: string, options: InformerOptions = {}): Informer<T> {
  return new ListWatch<T>(kc, path, options);
}

class ListWatch<T extends { metadata?: { name?: string; namespace?: string } }> implements Informer<T> {
  /** namespace ('' for cluster-scoped) → name → object */
  private objects = new Map<string, Map<string, T>>();
  private readonly handlers: Record<InformerEvent, Handler<T>[]> = { add: [], update: [], delete: [] };
  private resourceVersion = '';
  /** Watch events applied so far. */
  private events = 0;
  /** When the current watch's answer arrived. */
  private watchOpenedAt: number | undefined;
  private running: AbortController | undefined;
  private isSynced = false;
  /** The last attempt failed; the next that works reports the recovery. */
  private failing = false;
  private markSynced!: () => void;
  private readonly firstList = new Promise<void>((resolve) => (this.markSynced = resolve));

  constructor(
    private readonly kc: KubeConfig,
    private readonly path: string,
    private readonly options: InformerOptions,
  ) {}

  async start(): Promise<void> {
    if (!this.running) {
      this.running = new AbortController();
      void this.run(this.running.signal);
    }
    await this.firstList;
  }

  stop(): void {
    this.running?.abort();
    this.running = undefined;
  }

  synced(): boolean {
    return this.isSynced;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(namespace || '')?.get(name);
  }

  list(namespace?: string): T[] {
    if (namespace) return [...(this.objects.get(namespace)?.values() ?? [])];
    return [...this.objects.values()].flatMap((byName) => [...byName.values()]);
  }

  on(event: InformerEvent, handler: Handler<T>): void {
    this.handlers[event].push(handler);
  }

  private async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      // A watch that delivered events or stayed open a while was healthy, however it ended.
      this.watchOpenedAt = undefined;
      const eventsBefore = this.events;
      const healthy = () => this.watchOpenedAt !== undefined && (this.events > eventsBefore || Date.now() - this.watchOpenedAt >= HEALTHY_WATCH_MS);
      try {
        let listed = false;
        if (!this.resourceVersion) {
          await this.relist(signal);
          listed = true;
          if (!this.isSynced) {
            this.isSynced = true;
            this.markSynced();
          }
        }
        const { gone } = await this.watch(signal);
        if (gone) {
          this.resourceVersion = '';
          if (listed && this.events === eventsBefore) throw new Error(`watch ${this.path}: resourceVersion expired right after listing`);
          if (healthy()) failures = 0;
          continue;
        }
        if (!healthy()) throw new Error(`watch ${this.path}: closed by the server at once`);
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        if (healthy()) failures = 0;
        this.failing = true;
        const retryInMs = watchRetryMs(failures);
        failures++;
        this.options.onError?.(err, retryInMs);
        await sleep(retryInMs, signal);
      }
    }
  }

  private query(params: Record<string, string>): string {
    const query = new URLSearchParams(params);
    if (this.options.labelSelector) query.set('labelSelector', this.options.labelSelector);
    if (this.options.fieldSelector) query.set('fieldSelector', this.options.fieldSelector);
    return query.toString();
  }

  /** Lists everything, replaces the cache and delivers the differences. */
  private async relist(signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let resourceVersion = '';
    let next = '';
    do {
      const page = await requestJson(this.kc, 'GET', `${this.path}?${this.query({ limit: String(PAGE_SIZE), ...(next ? { continue: next } : {}) })}`, { signal });
      // List items carry no kind of their own; give them the one watch events carry.
      const kind = typeof page.kind === 'string' && page.kind.endsWith('List') ? page.kind.slice(0, -'List'.length) : undefined;
      for (const item of page.items ?? []) {
        if (kind && !item.kind) Object.assign(item, { apiVersion: page.apiVersion, kind });
        items.push(slim(item));
      }
      resourceVersion = page.metadata?.resourceVersion ?? '';
      next = page.metadata?.continue ?? '';
    } while (next);
    if (!resourceVersion) throw new Error(`list ${this.path}: the answer has no resourceVersion`);
    if (signal.aborted) return;
    this.replace(items);
    this.resourceVersion = resourceVersion;
    this.recovered();
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.options.onRecovered?.();
  }

  private replace(items: T[]): void {
    const previous = this.objects;
    const objects = new Map<string, Map<string, T>>();
    const changes: [InformerEvent, T, T?][] = [];
    for (const obj of items) {
      const { name = '', namespace = '' } = meta(obj);
      const old = previous.get(namespace)?.get(name);
      let kept = obj;
      if (!old) changes.push(['add', obj]);
      else if (sameVersion(old, obj)) kept = old;
      else changes.push(['update', obj, old]);
      let byName = objects.get(namespace);
      if (!byName) objects.set(namespace, (byName = new Map()));
      byName.set(name, kept);
    }
    for (const [namespace, byName] of previous) {
      for (const [name, old] of byName) if (!objects.get(namespace)?.has(name)) changes.push(['delete', old]);
    }
    this.objects = objects;
    for (const [event, obj, old] of changes) this.emit(event, obj, old);
  }

  /** One watch from the current resourceVersion, until the server ends it or answers 410. */
  private async watch(signal: AbortSignal): Promise<{ gone: boolean }> {
    const timeoutSeconds = this.options.watchTimeoutSeconds ?? Math.floor(300 * (1 + Math.random()));
    const query = this.query({ watch: '1', resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) });
    const aborter = new AbortController();
    const abort = () => aborter.abort(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    const deadline = setTimeout(() => aborter.abort(new Error(`watch ${this.path}: still open ${WATCH_GRACE_SECONDS} s after its timeoutSeconds`)), (timeoutSeconds + WATCH_GRACE_SECONDS) * 1000);
    deadline.unref();
    try {
      const res = await openRequest(this.kc, 'GET', `${this.path}?${query}`, { headers: { accept: 'application/json' }, signal: aborter.signal });
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let text = '';
        for await (const chunk of res) text += chunk;
        if (res.statusCode === 410) return { gone: true };
        throw new ApiError(res.statusCode ?? 0, parseOr(text), `watch ${this.path}: HTTP ${res.statusCode}`);
      }
      this.watchOpenedAt = Date.now();
      this.recovered();
      let buffered = '';
      try {
        for await (const chunk of res) {
          buffered += chunk;
          let start = 0;
          for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n', start)) {
            const line = buffered.slice(start, end);
            start = end + 1;
            if (!line.trim()) continue;
            const event = JSON.parse(line) as { type: string; object: any };
            if (event.type === 'ERROR') {
              if (event.object?.code === 410) return { gone: true };
              throw new ApiError(event.object?.code ?? 0, event.object, `watch ${this.path}: ${event.object?.message ?? 'ERROR event'}`);
            }
            this.apply(event.type, event.object);
            this.events++;
          }
          buffered = buffered.slice(start);
        }
      } finally {
        res.destroy();
      }
      return { gone: false };
    } finally {
      clearTimeout(deadline);
      signal.removeEventListener('abort', abort);
    }
  }

  private apply(type: string, object: T): void {
    if (type === 'ADDED' || type === 'MODIFIED') this.upsert(slim(object));
    else if (type === 'DELETED') this.remove(slim(object));
    // BOOKMARK only moves the resourceVersion on.
    const resourceVersion = meta(object).resourceVersion;
    if (resourceVersion) this.resourceVersion = resourceVersion;
  }

  private upsert(obj: T): void {
    const { name = '', namespace = '' } = meta(obj);
    let byName = this.objects.get(namespace);
    if (!byName) this.objects.set(namespace, (byName = new Map()));
    const old = byName.get(name);
    if (old && sameVersion(old, obj)) return;
    byName.set(name, obj);
    if (old) this.emit('update', obj, old);
    else this.emit('add', obj);
  }

  private remove(obj: T): void {
    const { name = '', namespace = '' } = meta(obj);
    const byName = this.objects.get(namespace);
    if (!byName?.delete(name)) return;
    if (byName.size === 0) this.objects.delete(namespace);
    this.emit('delete', obj);
  }

  private emit(event: InformerEvent, obj: T, old?: T): void {
    for (const handler of this.handlers[event]) handler(obj, old);
  }
}

const meta = (obj: { metadata?: Meta }): Meta => obj.metadata ?? {};

function sameVersion(a: { metadata?: Meta }, b: { metadata?: Meta }): boolean {
  const version = meta(a).resourceVersion;
  return version !== undefined && version === meta(b).resourceVersion;
}

/** Drops metadata.managedFields, which no reconciler reads and which is a fifth to a half of an object. */
function slim<T extends { metadata?: Meta }>(obj: T): T {
  if (obj.metadata && 'managedFields' in obj.metadata) {
    const { managedFields: _dropped, ...metadata } = obj.metadata;
    obj.metadata = metadata;
  }
  return obj;
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
