// The TrainingRun controller against a real API server and a real Job controller: the test plays
// the kubelet, moving the training Pod through its steps, and reads what the operator reports.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { requestJson } from '../../operator/src/kube/client.js';
import { buildTrainingJob, type TrainingDefaults } from '../../operator/src/controllers/training-run/desired.js';
import { trainingRunSpec } from '../../operator/src/api/v1alpha1/training-run.js';
import { startOperator, type RunningOperator } from '../../operator/src/operator.js';
import { TrainingRunReconciler } from '../../operator/src/controllers/training-run/reconciler.js';
import type { Informer } from '../../operator/src/kube/informer.js';
import { silentLogger } from '../../operator/src/runtime/log.js';
import { OperatorMetrics } from '../../operator/src/runtime/metrics.js';
import { createNamespace, testKubeConfig } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { operatorKubeConfig } from '../support/operator-access.js';
import { podOf as podOfJob, setPodStatus as setTrainingPodStatus } from '../support/training-pods.js';
import { eventually } from '../support/wait.js';

const kc = testKubeConfig();
const defaults: TrainingDefaults = { image: 'orchard:test', artifactRoot: 'gs://orchard-test/runs', backoffLimit: 1, serviceAccountName: 'default' };
const metrics = new OperatorMetrics();
const stop = new AbortController();
let namespace: string;
let operator: RunningOperator;

const api = '/apis/orchard.dev/v1alpha1';
const get = (path: string) => requestJson(kc, 'GET', path);
const run = (name: string) => get(`${api}/namespaces/${namespace}/trainingruns/${name}`);
const model = (name: string) => get(`${api}/namespaces/${namespace}/registeredmodels/${name}`);
const succeeded = (obj: any) => obj.status?.conditions?.find((c: any) => c.type === 'Succeeded');

async function reason(name: string, want: string) {
  return eventually(`${name} to be ${want}`, async () => {
    const r = await run(name);
    return succeeded(r)?.reason === want ? r : undefined;
  });
}

async function createModel(name: string) {
  await requestJson(kc, 'POST', `${api}/namespaces/${namespace}/registeredmodels`, {
    body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name }, spec: { task: 'Regression', serving: { mode: 'None' } } },
  });
}

async function createRun(name: string, modelName: string) {
  const spec = { ...exampleTrainingRun('salaries.yaml'), modelRef: { name: modelName } };
  return requestJson(kc, 'POST', `${api}/namespaces/${namespace}/trainingruns`, {
    body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name }, spec },
  });
}

const podOf = (jobName: string) => podOfJob(kc, namespace, jobName);
const setPodStatus = (pod: any, current: string, state: object, phase?: string, publishMessage?: string) => setTrainingPodStatus(kc, pod, current, state, phase, publishMessage);

beforeAll(async () => {
  namespace = await createNamespace(kc, 'trainingrun');
  operator = await startOperator({ kc: await operatorKubeConfig(), namespace, defaults, log: silentLogger, metrics, workers: 2 }, stop.signal);
});

afterAll(async () => {
  stop.abort();
  await operator?.done;
});

describe('TrainingRun controller', () => {
  it('creates exactly the built Job, follows the Pod through its steps and registers version 1', async () => {
    await createModel('salaries');
    const created = await createRun('salaries-1', 'salaries');
    const job = await eventually('the Job', () => get(`/apis/batch/v1/namespaces/${namespace}/jobs/salaries-1-train`));
    const want = buildTrainingJob({ metadata: created.metadata, spec: trainingRunSpec.parse(created.spec) }, defaults);
    expect(job.metadata.ownerReferences).toEqual(want.metadata.ownerReferences);
    expect(job.metadata.labels).toMatchObject(want.metadata.labels);
    expect(job.spec.template.spec.initContainers.map((c: any) => [c.name, c.args])).toEqual(want.spec.template.spec.initContainers.map((c: any) => [c.name, c.args]));
    expect(job.spec.template.spec.containers[0].args).toEqual(want.spec.template.spec.containers[0].args);
    expect(job.spec.podFailurePolicy).toEqual(want.spec.podFailurePolicy);

    const pod = await podOf('salaries-1-train');
    await setPodStatus(pod, 'prepare', { running: { startedAt: '2026-11-23T10:00:00Z' } });
    expect((await reason('salaries-1', 'Preparing')).status.step).toBe('Prepare');
    await setPodStatus(pod, 'train', { running: { startedAt: '2026-11-23T10:00:01Z' } });
    expect((await reason('salaries-1', 'Training')).status.step).toBe('Train');

    const summary = {
      artifactUri: 'gs://orchard-test/runs/x/',
      metrics: { RMSE: 56469.21, MAE: 40064.1, R2: 0.279621 },
      baseline: { RMSE: 66876.2 },
      topFeatures: [{ name: 'experience_level', importance: 0.1335 }],
      rows: { train: 4156, validation: 521, test: 1261 },
      trees: 322,
      testDataFingerprint: 'a1b2c3d4e5f60718',
      plots: ['featureImportance'],
    };
    await setPodStatus(pod, 'publish', {}, 'Succeeded', JSON.stringify(summary));
    const done = await reason('salaries-1', 'Succeeded');
    // Links the CRD's status schema keeps (a pruned field would be written again on every pass, below).
    expect(done.status.artifacts).toMatchObject({ metrics: 'gs://orchard-test/runs/x/metrics.json', plots: { featureImportance: 'gs://orchard-test/runs/x/feature-importance.svg' } });
    expect(done.status).toMatchObject({
      registeredVersion: 1,
      metrics: { RMSE: '56469.2', MAE: '40064.1', R2: '0.279621' },
      headlineMetric: 'RMSE=56469.2',
      artifacts: { onnx: 'gs://orchard-test/runs/x/model.onnx' },
      jobName: 'salaries-1-train',
    });
    const m = await model('salaries');
    expect(m.status.latestVersion).toBe(1);
    expect(m.status.versions).toEqual([
      expect.objectContaining({ version: 1, trainingRun: 'salaries-1', trainingRunUID: created.metadata.uid, task: 'Regression', artifactUri: summary.artifactUri, testDataFingerprint: summary.testDataFingerprint }),
    ]);

    // Idempotent: once both controllers have settled, another pass over the same world writes nothing.
    await eventually('the model to settle', async () => ((await model('salaries')).status?.aliases?.champion === 1 ? true : undefined));
    const writes = async () => (await metrics.apiWrites.get()).values.reduce((n, v) => n + v.value, 0);
    await new Promise((r) => setTimeout(r, 500));
    const before = await writes();
    operator.controllers[0]!.enqueue(`${namespace}/salaries-1`);
    operator.controllers[1]!.enqueue(`${namespace}/salaries`);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await writes()).toBe(before);
  }, 60_000);

  it('promotes automatically: the first version becomes champion, a better one takes over, with events', async () => {
    const m1 = await eventually('champion 1', async () => {
      const m = await model('salaries');
      return m.status?.aliases?.champion === 1 ? m : undefined;
    });
    expect(m1.status.promotions).toEqual([expect.objectContaining({ alias: 'Champion', version: 1, reason: 'FirstVersion' })]);
    expect(m1.status.conditions).toEqual([expect.objectContaining({ type: 'Ready', status: 'True', reason: 'ChampionSelected' })]);

    // A second run, 5% better on the same test data.
    await createRun('salaries-2', 'salaries');
    const pod = await podOf('salaries-2-train');
    const summary = {
      artifactUri: 'gs://orchard-test/runs/y/', metrics: { RMSE: 53645.7, MAE: 39000, R2: 0.31 }, topFeatures: [], rows: { train: 1, validation: 1, test: 1 }, trees: 300, testDataFingerprint: 'a1b2c3d4e5f60718',
    };
    await setPodStatus(pod, 'publish', {}, 'Succeeded', JSON.stringify(summary));
    const m2 = await eventually('champion 2', async () => {
      const m = await model('salaries');
      return m.status?.aliases?.champion === 2 ? m : undefined;
    });
    expect(m2.status.promotions.at(-1)).toMatchObject({ alias: 'Champion', version: 2, previous: 1, reason: 'BeatChampion' });
    expect(m2.status.promotions.at(-1).message).toMatch(/^version 2 RMSE 53645.7 beats champion 1 \(56469.2\) by 5.00% \(needs 0.00%\)$/);
    const events = await eventually('the promotion event', async () => {
      const list = await get(`/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent('involvedObject.name=salaries,reason=BeatChampion')}`);
      return list.items.length ? list.items : undefined;
    });
    expect(events[0]).toMatchObject({ type: 'Normal', involvedObject: { kind: 'RegisteredModel' } });
  }, 60_000);

  it('reports the failing step and its one-line message, and the Job fails without retrying bad input', async () => {
    await createModel('salaries-fail');
    await createRun('salaries-bad', 'salaries-fail');
    const pod = await podOf('salaries-bad-train');
    await setPodStatus(pod, 'train', { terminated: { exitCode: 2, reason: 'Error', message: 'orchard train: CatBoost refused to train: unknown loss "RMSEE"\n', startedAt: '2026-11-23T10:00:01Z', finishedAt: '2026-11-23T10:00:02Z' } }, 'Failed');
    const failed = await reason('salaries-bad', 'JobFailed');
    expect(succeeded(failed)).toMatchObject({ status: 'False', message: 'train failed: orchard train: CatBoost refused to train: unknown loss "RMSEE"' });
    expect(failed.status.failure).toEqual({ step: 'Train', message: 'orchard train: CatBoost refused to train: unknown loss "RMSEE"' });
    const pods = await get(`/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent('batch.kubernetes.io/job-name=salaries-bad-train')}`);
    expect(pods.items).toHaveLength(1); // FailJob on exit code 2: no retry Pod
    expect((await model('salaries-fail')).status?.versions ?? []).toEqual([]);
  }, 60_000);

  it('waits with ModelNotFound until the model exists, then starts by itself', async () => {
    await createRun('orphan', 'not-yet');
    const waiting = await reason('orphan', 'ModelNotFound');
    expect(succeeded(waiting).message).toMatch(/RegisteredModel "not-yet" does not exist/);
    await expect(get(`/apis/batch/v1/namespaces/${namespace}/jobs/orphan-train`)).rejects.toMatchObject({ code: 404 });
    await createModel('not-yet');
    await eventually('the Job after the model appears', () => get(`/apis/batch/v1/namespaces/${namespace}/jobs/orphan-train`));
    await reason('orphan', 'Pending');

    // Deleting the run takes its Job with it, through the owner reference and the garbage collector
    // (which notices a newly installed CRD on its next discovery pass, about 30 s, hence the wait).
    await requestJson(kc, 'DELETE', `${api}/namespaces/${namespace}/trainingruns/orphan`);
    await eventually('the Job to be collected', async () => {
      try {
        await get(`/apis/batch/v1/namespaces/${namespace}/jobs/orphan-train`);
        return undefined;
      } catch (err: any) {
        return err.code === 404 ? true : undefined;
      }
    }, 90_000);
  }, 120_000);

  it('a pass whose Job cache is behind reads the Job it met instead of POSTing it again each pass', async () => {
    // A namespace of its own, which the running operator does not watch: only this reconciler acts here.
    const ns = await createNamespace(kc, 'trainingrun-lag');
    await requestJson(kc, 'POST', `${api}/namespaces/${ns}/registeredmodels`, {
      body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name: 'm' }, spec: { task: 'Regression', serving: { mode: 'None' } } },
    });
    const raw = await requestJson(kc, 'POST', `${api}/namespaces/${ns}/trainingruns`, {
      body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name: 'r' }, spec: { ...exampleTrainingRun('salaries.yaml'), modelRef: { name: 'm' } } },
    });
    // The Job exists, with the run as its controller, before any cache could show it.
    const job = buildTrainingJob({ ...raw, spec: trainingRunSpec.parse(raw.spec) }, defaults, undefined);
    await requestJson(kc, 'POST', `/apis/batch/v1/namespaces/${ns}/jobs`, { body: job });

    // Real HTTP to the real API server; only the Job POSTs are counted on the way.
    let jobPosts = 0;
    const counting = Object.create(kc);
    counting.applyToHTTPSOptions = (options: any) => {
      if (options.method === 'POST' && String(options.path).endsWith('/jobs')) jobPosts++;
      return kc.applyToHTTPSOptions(options);
    };
    // Run and model caches filled from the server before each pass; a Job cache that never catches up.
    const cache = new Map<string, any>();
    const informer = (kind: string) => ({ get: (name: string) => cache.get(`${kind}/${name}`), list: () => [] }) as unknown as Informer;
    const reconciler = new TrainingRunReconciler({
      kc: counting, runs: informer('runs'), models: informer('models'), jobs: informer('jobs'), pods: informer('pods'),
      defaults, now: () => new Date(), log: silentLogger, record: async () => {},
    });
    for (let pass = 0; pass < 3; pass++) {
      cache.set('runs/r', await get(`${api}/namespaces/${ns}/trainingruns/r`));
      cache.set('models/m', await get(`${api}/namespaces/${ns}/registeredmodels/m`));
      await reconciler.reconcile(`${ns}/r`);
    }
    expect(jobPosts).toBeLessThanOrEqual(1);
    const after = await get(`${api}/namespaces/${ns}/trainingruns/r`);
    expect(after.status.jobName).toBe(job.metadata.name);
  }, 60_000);
});
