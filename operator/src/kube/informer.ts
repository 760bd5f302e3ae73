// A list+watch cache of raw JSON objects (client-node's ListWatch, fed by our raw list), restarted
// with backoff when the watch fails; 410 Gone re-lists inside ListWatch itself.
import { k8s, requestJson } from './client.js';

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
  onError?: (err: unknown, retryInMs: number) => void;
}

export function makeInformer<T extends { metadata?: { name?: string; namespace?: string } }>(kc: k8s.KubeConfig, path: string, options: InformerOptions = {}): Informer<T> {
  const query = options.labelSelector ? `?labelSelector=${encodeURIComponent(options.labelSelector)}` : '';
  let isSynced = false;
  let markSynced!: () => void;
  const firstList = new Promise<void>((resolve) => (markSynced = resolve));
  // ListWatch reports a failed list through its error event only; the first good list means synced.
  const listFn = async () => {
    const list = (await requestJson(kc, 'GET', `${path}${query}`)) as k8s.KubernetesListObject<any>;
    setImmediate(() => {
      isSynced = true;
      markSynced();
    });
    return list;
  };
  const inner = k8s.makeInformer<any>(kc, path, listFn, options.labelSelector);
  let stopped = false;
  let backoff = 500;
  let timer: NodeJS.Timeout | undefined;
  const restart = () => {
    timer = undefined;
    if (!stopped) void inner.start().then(() => (backoff = 500), scheduleRestart);
  };
  function scheduleRestart(err: unknown) {
    if (stopped || timer) return;
    options.onError?.(err, backoff);
    timer = setTimeout(restart, backoff);
    timer.unref();
    backoff = Math.min(backoff * 2, 30_000);
  }
  inner.on(k8s.ERROR, scheduleRestart);
  return {
    async start() {
      stopped = false;
      inner.start().catch(scheduleRestart);
      await firstList;
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      void inner.stop();
    },
    synced: () => isSynced,
    get: (name, namespace) => inner.get(name, namespace) as T | undefined,
    list: (namespace) => inner.list(namespace) as T[],
    on(event, handler) {
      const type = event === 'add' ? k8s.ADD : event === 'update' ? k8s.UPDATE : k8s.DELETE;
      inner.on(type as any, handler as any);
    },
  };
}
