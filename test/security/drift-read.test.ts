// The operator's read of the drift monitors, against scoring Pods whose monitors answer hostile
// windows: a __proto__ input, short and negative counts, a layout of another profile, 64 MiB of
// JSON. The operator leaves those Pods out and judges the honest Pod's window alone, every poll.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import type { RequestListener, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { publishArtifacts } from '../../operator/src/artifacts/store.js';
import type { DriftSidecarSpec } from '../../operator/src/controllers/registered-model/serving.js';
import type { TrainingDefaults } from '../../operator/src/controllers/training-run/desired.js';
import { DriftCounter } from '../../operator/src/drift/counts.js';
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
const artifactUri = `${pathToFileURL(mkdtempSync(join(tmpdir(), 'orchard-drift-read-'))).href}/v1/`;
let namespace: string;
let operator: RunningOperator;
const servers: Server[] = [];
const urls: string[] = [];
const podMonitor = new Map<string, string>();
const asked = { hostile: 0 };

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

/** Counts of rows far outside training: a window that would drift every input. */
function driftedCounts(rows: number) {
  const counter = new DriftCounter(profile, ['years', 'size']);
  for (let i = 0; i < rows; i++) counter.add([1000, 'XL'], 1e9);
  return JSON.parse(JSON.stringify(counter.take())) as Record<string, any>;
}

/** What hostile monitors answer, one after the other: each drifts, none fits the profile. */
const hostileAnswers: (() => string)[] = [
  () => JSON.stringify({ version: 1, counts: driftedCounts(2000) }).replace('"inputs":{', '"inputs":{"__proto__":[2000],'),
  () => JSON.stringify({ version: 1, counts: { ...driftedCounts(2000), inputs: { ...driftedCounts(2000).inputs, years: [2000] } } }),
  () => {
    // Still adding up to the rows, with a negative count.
    const c = driftedCounts(2000);
    c.inputs.size = c.inputs.size.map((v: number, i: number) => (i === 0 ? v + 10 : i === 1 ? v - 10 : v));
    return JSON.stringify({ version: 1, counts: c });
  },
  () => JSON.stringify({ version: 1, counts: { ...driftedCounts(2000), layout: '0123456789abcdef' } }),
  () => JSON.stringify({ version: 1, counts: { ...driftedCounts(2000), extra: 1 } }),
];

const model = () => requestJson(kc, 'GET', `${api}/namespaces/${namespace}/registeredmodels/salaries`);
const drifted = (m: any) => m.status?.conditions?.find((c: any) => c.type === 'Drifted');

async function markReady(pod: any) {
  const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await requestJson(kc, 'PATCH', `/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}/status`, {
    contentType: 'application/merge-patch+json',
    body: { status: { phase: 'Running', podIP: '10.0.0.9', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: t }] } },
  });
}

async function serverOn(handler: RequestListener): Promise<string> {
  const server = await listen(handler, 0, '127.0.0.1');
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

beforeAll(async () => {
  await publishArtifacts(artifactUri, [
    { name: 'input-schema.json', bytes: Buffer.from(JSON.stringify(schema)) },
    { name: 'reference-profile.json', bytes: Buffer.from(JSON.stringify(profile)) },
  ]);
  const spec: DriftSidecarSpec = { model: 'salaries', version: 1, modelUri: artifactUri, port: 0, ingestPort: 0, windowRows: 2000, windowSeconds: 3600, minRows: 500, driftShare: '0.5' };
  const honest = createDriftSidecar(spec, schema, profile);
  const counter = new DriftCounter(profile, ['years', 'size']);
  counter.addRange(trainingRows, trainingRows.map((r) => 1000 * r[0]), 0, 600);
  const ingest = await serverOn(honest.ingest);
  const t = Date.now();
  const res = await fetch(`${ingest}/v1/blocks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ blocks: [{ counts: counter.take(), first: t, last: t }] }) });
  expect(res.status).toBe(204);
  urls.push(await serverOn(honest.read));
  let next = 0;
  urls.push(
    await serverOn((_req, res) => {
      asked.hostile++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(hostileAnswers[next++ % hostileAnswers.length]!());
    }),
  );
  // 64 MiB of counts that parse, streamed without a length.
  urls.push(
    await serverOn((_req, res) => {
      asked.hostile++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"version":1,"counts":{"version":1,"rows":0,"inputs":{"years":[0');
      const chunk = ',0'.repeat(1 << 20);
      let sent = 0;
      const more = () => {
        while (sent < 32 && !res.destroyed) {
          sent++;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end(']}}}');
      };
      res.on('error', () => undefined);
      more();
    }),
  );
  namespace = await createNamespace(kc, 'drift-read');
  const urlFor = (pod: any) => {
    if (!podMonitor.has(pod.metadata.name) && podMonitor.size < urls.length) podMonitor.set(pod.metadata.name, urls[podMonitor.size]!);
    return podMonitor.get(pod.metadata.name);
  };
  operator = await startOperator({ kc: await operatorKubeConfig(), namespace, defaults, drift: { pollSeconds: 1, urlFor }, log: silentLogger, workers: 2 }, stop.signal);
});

afterAll(async () => {
  stop.abort();
  await operator?.done;
  for (const s of servers) s.close();
});

describe("the operator's read of the drift monitors", () => {
  it('leaves out Pods whose windows do not fit the profile or are too large, and judges the others', async () => {
    const template = { ...exampleTrainingRun('salaries.yaml') } as any;
    delete template.modelRef;
    await requestJson(kc, 'POST', `${api}/namespaces/${namespace}/registeredmodels`, {
      body: {
        apiVersion: 'orchard.dev/v1alpha1',
        kind: 'RegisteredModel',
        metadata: { name: 'salaries' },
        spec: { task: 'Regression', serving: { replicas: 3 }, drift: { onDrift: 'Retrain', windowRows: 2000, minRows: 500, coolDownSeconds: 3600 }, retrain: { template } },
      },
    });
    const versions = [{ version: 1, trainingRun: 'salaries-1', createdTime: '2026-11-23T10:00:00Z', task: 'Regression', metrics: { RMSE: '50000' }, artifactUri }];
    await eventually('version 1 registered', async () => {
      const m = await model();
      const body = { ...m, status: { ...(m.status ?? {}), versions, latestVersion: 1 } };
      return requestJson(kc, 'PUT', `${api}/namespaces/${namespace}/registeredmodels/salaries/status`, { body }).then(() => true, () => undefined);
    });
    const pods = await eventually('3 scoring Pods', async () => {
      const list = await requestJson(kc, 'GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent('orchard.dev/model=salaries')}`);
      return list.items.length === 3 ? list.items : undefined;
    });
    for (const pod of pods) await markReady(pod);

    const calm = await eventually('NoDrift from the honest Pod alone', async () => {
      const x = await model();
      return drifted(x)?.reason === 'NoDrift' ? x : undefined;
    });
    expect(calm.status.drift.windowRows).toBe(600);
    // Polls go on with every hostile answer in turn; the verdict stays the honest Pod's, and nothing retrains.
    const seen = asked.hostile;
    await eventually('every hostile answer tried', async () => asked.hostile >= seen + 2 * hostileAnswers.length, 30_000, 200);
    const later = await model();
    expect(drifted(later)).toMatchObject({ status: 'False', reason: 'NoDrift' });
    expect(later.status.drift.windowRows).toBe(600);
    expect((await requestJson(kc, 'GET', `${api}/namespaces/${namespace}/trainingruns`)).items).toEqual([]);
  }, 90_000);
});
