// Online drift end to end on the operator's side: two scoring Pods (played on the API server), each
// with a real drift monitor on loopback fed count blocks over HTTP as a scorer feeds it; the operator
// reads their windows, merges them, judges them against the version's training reference, and
// retrains on drift.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { publishArtifacts } from '../../operator/src/artifacts/store.js';
import type { DriftSidecarSpec } from '../../operator/src/controllers/registered-model/serving.js';
import { DriftCounter } from '../../operator/src/drift/counts.js';
import type { TrainingDefaults } from '../../operator/src/controllers/training-run/desired.js';
import { numericProfile, referenceProfile } from '../../operator/src/features/profile.js';
import type { InputSchema } from '../../operator/src/features/schema.js';
import { requestJson } from '../../operator/src/kube/client.js';
import { startOperator, type RunningOperator } from '../../operator/src/operator.js';
import { silentLogger } from '../../operator/src/runtime/log.js';
import { createDriftSidecar, listen } from '../../operator/src/serving/drift-sidecar.js';
import { createNamespace, testKubeConfig } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { operatorKubeConfig } from '../support/operator-access.js';
import { eventually } from '../support/wait.js';

const kc = testKubeConfig();
const defaults: TrainingDefaults = { image: 'orchard:test', artifactRoot: 'gs://orchard-test/runs', backoffLimit: 1 };
const api = '/apis/orchard.dev/v1alpha1';
const stop = new AbortController();
const artifactUri = `${pathToFileURL(mkdtempSync(join(tmpdir(), 'orchard-drift-'))).href}/v1/`;
let namespace: string;
let operator: RunningOperator;
/** Each monitor's read side (what the operator asks) and ingest side (what its scorer posts to). */
const monitors: { servers: Server[]; url: string; ingest: string }[] = [];
/** Scoring Pod name → the monitor standing in for its sidecar. */
const podMonitor = new Map<string, string>();

const schema: InputSchema = {
  version: 1,
  task: 'Regression',
  features: { target: { column: 'salary' }, columns: [{ name: 'years', type: 'Numeric' }, { name: 'size', type: 'Categorical' }] } as any,
  inputs: [
    { name: 'years', type: 'Numeric', feature: 'years' },
    { name: 'size', type: 'Categorical', feature: 'size' },
  ],
  multiLabel: {},
};
const trainingRows = Array.from({ length: 3000 }, (_, i) => [i % 40, ['S', 'M', 'L'][i % 3]!] as [number, string]);
const profile = { ...referenceProfile(schema.inputs, trainingRows), prediction: numericProfile(trainingRows.map((r) => 1000 * r[0])) };

const get = (path: string) => requestJson(kc, 'GET', path);
const model = () => get(`${api}/namespaces/${namespace}/registeredmodels/salaries`);
const drifted = (m: any) => m.status?.conditions?.find((c: any) => c.type === 'Drifted');

/** What a scorer sends its monitor after scoring: the counts of the encoded rows and their predictions. */
async function serve(monitor: { ingest: string }, rows: [number, string][]) {
  const counter = new DriftCounter(profile, ['years', 'size']);
  counter.addRange(rows, rows.map((r) => 1000 * r[0]), 0, rows.length);
  const t = Date.now();
  const res = await fetch(`${monitor.ingest}/v1/blocks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ blocks: [{ counts: counter.take(), first: t, last: t }] }),
  });
  expect(res.status).toBe(204);
}

async function markReady(pod: any) {
  const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await requestJson(kc, 'PATCH', `/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}/status`, {
    contentType: 'application/merge-patch+json',
    body: { status: { phase: 'Running', podIP: '10.0.0.9', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: t }] } },
  });
}

beforeAll(async () => {
  await publishArtifacts(artifactUri, [
    { name: 'input-schema.json', bytes: Buffer.from(JSON.stringify(schema)) },
    { name: 'reference-profile.json', bytes: Buffer.from(JSON.stringify(profile)) },
  ]);
  const spec: DriftSidecarSpec = { model: 'salaries', version: 1, modelUri: artifactUri, port: 0, ingestPort: 0, windowRows: 2000, windowSeconds: 3600, minRows: 500, driftShare: '0.5' };
  const at = (server: Server) => `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  for (let i = 0; i < 2; i++) {
    const sidecar = createDriftSidecar(spec, schema, profile);
    const [read, ingest] = [await listen(sidecar.read, 0, '127.0.0.1'), await listen(sidecar.ingest, 0, '127.0.0.1')];
    monitors.push({ servers: [read, ingest], url: at(read), ingest: at(ingest) });
  }
  namespace = await createNamespace(kc, 'drift');
  // Each scoring Pod gets the next free monitor, as if it were its own sidecar.
  const urlFor = (pod: any) => {
    if (!podMonitor.has(pod.metadata.name) && podMonitor.size < monitors.length) podMonitor.set(pod.metadata.name, monitors[podMonitor.size]!.url);
    return podMonitor.get(pod.metadata.name);
  };
  operator = await startOperator({ kc: await operatorKubeConfig(), namespace, defaults, drift: { pollSeconds: 1, urlFor }, log: silentLogger, workers: 2 }, stop.signal);
});

afterAll(async () => {
  stop.abort();
  await operator?.done;
  for (const s of monitors.flatMap((m) => m.servers)) s.close();
});

describe('online drift', () => {
  it('merges the windows of every scoring Pod, judges them against the reference, and retrains once on drift', async () => {
    const template = { ...exampleTrainingRun('salaries.yaml') } as any;
    delete template.modelRef;
    await requestJson(kc, 'POST', `${api}/namespaces/${namespace}/registeredmodels`, {
      body: {
        apiVersion: 'orchard.dev/v1alpha1',
        kind: 'RegisteredModel',
        metadata: { name: 'salaries' },
        spec: { task: 'Regression', serving: { replicas: 2 }, drift: { onDrift: 'Retrain', windowRows: 2000, minRows: 500, coolDownSeconds: 3600 }, retrain: { template } },
      },
    });
    // Version 1 registered as the TrainingRun controller does it: on the latest resourceVersion.
    const versions = [{ version: 1, trainingRun: 'salaries-1', createdTime: '2026-11-23T10:00:00Z', task: 'Regression', metrics: { RMSE: '50000' }, artifactUri }];
    await eventually('version 1 registered', async () => {
      const m = await model();
      const body = { ...m, status: { ...(m.status ?? {}), versions, latestVersion: 1 } };
      return requestJson(kc, 'PUT', `${api}/namespaces/${namespace}/registeredmodels/salaries/status`, { body }).then(() => true, () => undefined);
    });
    const pods = await eventually('2 scoring Pods', async () => {
      const list = await get(`/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent('orchard.dev/model=salaries')}`);
      return list.items.length === 2 ? list.items : undefined;
    });
    for (const pod of pods) await markReady(pod);

    // Too little traffic to judge yet.
    await serve(monitors[0]!, trainingRows.slice(0, 200));
    const early = await eventually('NotEnoughData', async () => {
      const x = await model();
      return drifted(x)?.reason === 'NotEnoughData' && x.status.drift.windowRows === 200 ? x : undefined;
    });
    expect(early.status.drift.drifted).toBe('Unknown');
    expect(drifted(early).message).toBe('200 rows in the window; drift is judged from 500 (drift.minRows)');

    // The second Pod's window adds to the first's: still short of minRows, so the merged size is news.
    await serve(monitors[1]!, trainingRows.slice(200, 450));
    await eventually('NotEnoughData over both windows', async () => {
      const x = await model();
      return drifted(x)?.reason === 'NotEnoughData' && x.status.drift.windowRows === 450 ? x : undefined;
    });

    // Traffic like training's on both Pods: judged together, no drift. Once judged, the status keeps
    // its verdict until it changes (no write per poll), so the window it names may be either step.
    await serve(monitors[0]!, trainingRows.slice(450, 1050));
    await serve(monitors[1]!, trainingRows.slice(1050, 1650));
    const calm = await eventually('NoDrift over both windows', async () => {
      const x = await model();
      return drifted(x)?.reason === 'NoDrift' ? x : undefined;
    });
    expect([1050, 1650]).toContain(calm.status.drift.windowRows);
    expect(calm.status.drift.features.map((f: any) => [f.name, f.test, f.drifted])).toEqual([
      ['years', 'Wasserstein', false],
      ['size', 'JensenShannon', false],
    ]);
    expect(await get(`${api}/namespaces/${namespace}/trainingruns`)).toMatchObject({ items: [] });

    // Years far above training's on both Pods: the window drifts and a retrain run starts, once.
    const shifted = trainingRows.slice(0, 2000).map(([y, s]) => [y + 50, s] as [number, string]);
    await serve(monitors[0]!, shifted.slice(0, 1000));
    await serve(monitors[1]!, shifted.slice(1000));
    const moved = await eventually('DatasetDrift', async () => {
      const x = await model();
      return drifted(x)?.status === 'True' && x.status.lastRetrainRun ? x : undefined;
    });
    expect(drifted(moved)).toMatchObject({ reason: 'DatasetDrift' });
    expect(drifted(moved).message).toMatch(/^1 of 2 features drifted over the last \d+ rows \(share 0.5 ≥ 0.5\): years \(Wasserstein [\d.]+\)/);
    expect(moved.status.drift.features.find((f: any) => f.name === 'years')).toMatchObject({ drifted: true });
    expect(moved.status.lastRetrainRun).toBe('salaries-retrain-1');
    await new Promise((r) => setTimeout(r, 2500)); // two more polls
    const runs = await get(`${api}/namespaces/${namespace}/trainingruns`);
    expect(runs.items.map((r: any) => r.metadata.name)).toEqual(['salaries-retrain-1']);
  }, 60_000);
});
