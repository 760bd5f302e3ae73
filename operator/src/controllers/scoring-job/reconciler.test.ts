// The ScoringJob reconciler against a loopback API stand-in whose Job cache never catches up: a
// POST answered AlreadyExists must be followed by a read, not by a POST every pass.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { scoringJobSpec } from '../../api/v1alpha1/scoring-job.js';
import type { Informer } from '../../kube/informer.js';
import type { KubeConfig } from '../../kube/kubeconfig.js';
import { silentLogger } from '../../runtime/log.js';
import { buildScoringJob, type ScoringDefaults } from './desired.js';
import { ScoringJobReconciler } from './reconciler.js';

const defaults: ScoringDefaults = { image: 'orchard:test', backoffLimit: 1, serviceAccountName: 'default' };
const uid = '7d2f9c1a-3b4e-4f5a-8c6d-9e0f1a2b3c4d';
const version = { version: 1, trainingRun: 'r1', createdTime: '2026-12-01T00:00:00Z', task: 'Regression', artifactUri: 'gs://a/runs/r1/' };
const model = { metadata: { name: 'salaries', namespace: 'ml' }, status: { latestVersion: 1, versions: [version], aliases: { champion: 1 } } };
const spec = scoringJobSpec.parse({
  modelRef: { name: 'salaries' },
  input: { sources: [{ uri: 'gs://data/in.csv' }] },
  output: { uri: 'gs://scores/out' },
});

let server: Server | undefined;
afterEach(() => {
  server?.close();
});

/** Answers Job POSTs with 409, Job GETs with `job`, and status PUTs by storing the object. */
async function apiServer(job: any, store: { sj: any; posts: number; gets: number }): Promise<KubeConfig> {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const reply = (code: number, obj: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
      if (req.method === 'POST' && req.url === '/apis/batch/v1/namespaces/ml/jobs') {
        store.posts++;
        return reply(409, { kind: 'Status', code: 409, reason: 'AlreadyExists', message: `jobs.batch "${job.metadata.name}" already exists` });
      }
      if (req.method === 'GET' && req.url === `/apis/batch/v1/namespaces/ml/jobs/${job.metadata.name}`) {
        store.gets++;
        return reply(200, job);
      }
      if (req.method === 'PUT' && req.url?.endsWith('/status')) {
        store.sj = JSON.parse(body);
        return reply(200, store.sj);
      }
      reply(404, { kind: 'Status', code: 404, reason: 'NotFound', message: `${req.method} ${req.url}` });
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
  return { getCurrentCluster: () => ({ server: url }), applyToHTTPSOptions: async () => {} } as unknown as KubeConfig;
}

describe('ScoringJobReconciler with a Job cache that is behind', () => {
  /** A reconciler whose caches hold `store.sj` and the model, and no Job or Pod. */
  const reconcilerFor = (kc: KubeConfig, store: { sj: any }) => {
    const empty = { get: () => undefined, list: () => [] } as unknown as Informer;
    return new ScoringJobReconciler({
      kc,
      scoringJobs: { get: () => store.sj, list: () => [store.sj] } as unknown as Informer,
      models: { get: () => model, list: () => [model] } as unknown as Informer,
      jobs: empty,
      pods: empty,
      defaults,
      now: () => new Date('2026-12-04T00:00:00Z'),
      log: silentLogger,
      record: async () => {},
    });
  };

  it('reads the Job the POST met, shows it in status, and does not POST it again', async () => {
    const sj = { apiVersion: 'orchard.dev/v1alpha1', kind: 'ScoringJob', metadata: { name: 'nightly', namespace: 'ml', uid, generation: 1, creationTimestamp: '2026-12-01T00:00:00Z' }, spec };
    const job = buildScoringJob(sj as any, { model: { version: 1, artifactUri: version.artifactUri, task: 'Regression' } }, defaults);
    const store = { sj: sj as any, posts: 0, gets: 0 };
    const kc = await apiServer({ ...job, metadata: { ...job.metadata, uid: 'job-uid' } }, store);
    const reconciler = reconcilerFor(kc, store);
    for (let pass = 0; pass < 3; pass++) await reconciler.reconcile('ml/nightly');
    expect(store.posts).toBe(1);
    expect(store.sj.status.jobName).toBe(job.metadata.name);
  });

  it('refuses a Job of the same name that another object controls', async () => {
    const sj = { apiVersion: 'orchard.dev/v1alpha1', kind: 'ScoringJob', metadata: { name: 'nightly', namespace: 'ml', uid, generation: 1 }, spec };
    const job = buildScoringJob(sj as any, { model: { version: 1, artifactUri: version.artifactUri, task: 'Regression' } }, defaults);
    const foreign = { ...job, metadata: { ...job.metadata, ownerReferences: [{ ...job.metadata.ownerReferences[0], uid: 'someone-else' }] } };
    const store = { sj: sj as any, posts: 0, gets: 0 };
    const reconciler = reconcilerFor(await apiServer(foreign, store), store);
    await expect(reconciler.reconcile('ml/nightly')).rejects.toThrow(/belongs to something else: delete it or rename the ScoringJob/);
  });
});
