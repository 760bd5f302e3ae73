// The RegisteredModel reconciler against a loopback API stand-in whose caches never catch up: a
// serving child's POST answered AlreadyExists must be followed by a read, not by a POST every pass.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registeredModelSpec } from '../../api/v1alpha1/registered-model.js';
import type { Informer } from '../../kube/informer.js';
import type { KubeConfig } from '../../kube/kubeconfig.js';
import { silentLogger } from '../../runtime/log.js';
import { RegisteredModelReconciler } from './reconciler.js';

const uid = '7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6';
const version = { version: 1, trainingRun: 'salaries-1', createdTime: '2026-11-23T10:00:00Z', task: 'Regression', artifactUri: 'gs://a/runs/salaries-1/' };

let server: Server | undefined;
afterEach(() => {
  server?.close();
});

/**
 * Every create is answered 409 AlreadyExists, as if an earlier POST had landed; the object is kept
 * (with `owner` as its controller) and GETs return it. Status PUTs store the model.
 */
async function apiServer(store: { model: any; posts: Map<string, number>; owner: string }): Promise<KubeConfig> {
  const objects = new Map<string, any>();
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const reply = (code: number, obj: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
      const url = req.url!.split('?')[0]!;
      if (req.method === 'POST') {
        const obj = JSON.parse(body);
        store.posts.set(url, (store.posts.get(url) ?? 0) + 1);
        const refs = (obj.metadata.ownerReferences ?? []).map((o: any) => ({ ...o, uid: store.owner }));
        objects.set(`${url}/${obj.metadata.name}`, { ...obj, metadata: { ...obj.metadata, ownerReferences: refs, resourceVersion: '1' } });
        return reply(409, { kind: 'Status', code: 409, reason: 'AlreadyExists', message: `"${obj.metadata.name}" already exists` });
      }
      if (req.method === 'GET' && objects.has(url)) return reply(200, objects.get(url));
      if (req.method === 'PUT' && url.endsWith('/status')) {
        store.model = JSON.parse(body);
        return reply(200, store.model);
      }
      reply(404, { kind: 'Status', code: 404, reason: 'NotFound', message: `${req.method} ${url}` });
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
  return { getCurrentCluster: () => ({ server: url }), applyToHTTPSOptions: async () => {} } as unknown as KubeConfig;
}

function reconcilerFor(kc: KubeConfig, store: { model: any }): RegisteredModelReconciler {
  const empty = { get: () => undefined, list: () => [] } as unknown as Informer;
  return new RegisteredModelReconciler({
    kc,
    models: { get: () => store.model, list: () => [store.model] } as unknown as Informer,
    runs: empty,
    deployments: empty,
    services: empty,
    autoscalers: empty,
    serving: { image: 'orchard:test', serviceAccountName: 'default' },
    now: () => new Date('2026-12-04T00:00:00Z'),
    log: silentLogger,
    record: async () => {},
  });
}

const served = () => ({
  apiVersion: 'orchard.dev/v1alpha1',
  kind: 'RegisteredModel',
  metadata: { name: 'salaries', namespace: 'ml', uid, generation: 1 },
  spec: registeredModelSpec.parse({ task: 'Regression' }),
  status: { latestVersion: 1, versions: [version], aliases: { champion: 1 } },
});

describe('RegisteredModelReconciler with serving caches that are behind', () => {
  it('reads each serving child its POST met, and POSTs each at most once over several passes', async () => {
    const store = { model: served() as any, posts: new Map<string, number>(), owner: uid };
    const reconciler = reconcilerFor(await apiServer(store), store);
    for (let pass = 0; pass < 3; pass++) await reconciler.reconcile('ml/salaries');
    expect(store.posts.size).toBeGreaterThan(0);
    for (const [collection, n] of store.posts) expect([collection, n]).toEqual([collection, 1]);
  });

  it('refuses a serving child of the same name that another object controls', async () => {
    const store = { model: served() as any, posts: new Map<string, number>(), owner: 'someone-else' };
    const reconciler = reconcilerFor(await apiServer(store), store);
    await expect(reconciler.reconcile('ml/salaries')).rejects.toThrow(/exists but belongs to something else: delete or rename it/);
  });
});
