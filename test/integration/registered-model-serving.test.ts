// RegisteredModel serving against a real API server and real Deployment/ReplicaSet controllers:
// the test plays the kubelet (marking scoring Pods ready) and registers versions the way the
// TrainingRun controller does, then reads what the operator reports.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registeredModelSpec, type ModelVersion } from '../../operator/src/api/v1alpha1/registered-model.js';
import { buildScoringDeployment, type ServingDefaults } from '../../operator/src/controllers/registered-model/serving.js';
import type { TrainingDefaults } from '../../operator/src/controllers/training-run/desired.js';
import { requestJson } from '../../operator/src/kube/client.js';
import { startOperator, type RunningOperator } from '../../operator/src/operator.js';
import { silentLogger } from '../../operator/src/runtime/log.js';
import { OperatorMetrics } from '../../operator/src/runtime/metrics.js';
import { createNamespace, testKubeConfig } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { operatorKubeConfig } from '../support/operator-access.js';
import { eventually } from '../support/wait.js';

const kc = testKubeConfig();
const defaults: TrainingDefaults = { image: 'orchard:test', artifactRoot: 'gs://orchard-test/runs', backoffLimit: 1 };
const serving: ServingDefaults = { image: 'orchard-serve:test', serviceAccountName: 'default' };
const metrics = new OperatorMetrics();
const stop = new AbortController();
let namespace: string;
let operator: RunningOperator;

const api = '/apis/orchard.dev/v1alpha1';
const get = (path: string) => requestJson(kc, 'GET', path);
const model = (ns = namespace, name = 'salaries') => get(`${api}/namespaces/${ns}/registeredmodels/${name}`);
const deployment = (ns = namespace, name = 'salaries') => get(`/apis/apps/v1/namespaces/${ns}/deployments/${name}-scorer`).catch(() => undefined);
const condition = (obj: any, type: string) => obj.status?.conditions?.find((c: any) => c.type === type);
const writes = async () => (await metrics.apiWrites.get()).values.reduce((n, v) => n + v.value, 0);
const settle = () => new Promise((r) => setTimeout(r, 800));

async function until(what: string, test: (m: any) => boolean) {
  return eventually(what, async () => {
    const m = await model();
    return test(m) ? m : undefined;
  });
}

function version(v: number, rmse: number): ModelVersion {
  return {
    version: v,
    trainingRun: `salaries-${v}`,
    createdTime: `2026-11-23T10:0${v}:00Z`,
    task: 'Regression',
    metrics: { RMSE: String(rmse) },
    testDataFingerprint: 'a1b2c3d4e5f60718',
    artifactUri: `gs://orchard-test/runs/${namespace}/salaries/salaries-${v}/`,
  };
}

/** Appends versions to status as the TrainingRun controller does (optimistic concurrency). */
async function register(...versions: ModelVersion[]) {
  await registerIn(namespace, 'salaries', ...versions);
}

async function registerIn(ns: string, name: string, ...versions: ModelVersion[]) {
  await eventually(`the versions of ${name} to be registered`, async () => {
    const m = await model(ns, name);
    const status = { ...(m.status ?? {}), versions: [...(m.status?.versions ?? []), ...versions], latestVersion: versions.at(-1)!.version };
    return requestJson(kc, 'PUT', `${api}/namespaces/${ns}/registeredmodels/${name}/status`, { body: { ...m, status } }).then(
      () => true,
      () => undefined,
    );
  });
}

async function patchSpec(serving: object, extra: object = {}) {
  await requestJson(kc, 'PATCH', `${api}/namespaces/${namespace}/registeredmodels/salaries`, {
    contentType: 'application/merge-patch+json',
    body: { spec: { serving, ...extra } },
  });
}

async function scorerPods(version?: number): Promise<any[]> {
  const pods = await get(`/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent('orchard.dev/model=salaries,app.kubernetes.io/component=scorer')}`);
  return pods.items.filter((p: any) => !p.metadata.deletionTimestamp && (version === undefined || p.metadata.annotations?.['orchard.dev/version'] === String(version)));
}

/** What a kubelet reports once the scorer has loaded its model and passes readiness. */
async function markReady(pod: any) {
  const ready = { status: 'True', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
  await requestJson(kc, 'PATCH', `/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}/status`, {
    contentType: 'application/merge-patch+json',
    body: {
      status: {
        phase: 'Running',
        podIP: '10.0.0.9',
        conditions: [{ type: 'Ready', ...ready }, { type: 'ContainersReady', ...ready }, { type: 'PodScheduled', ...ready }],
        containerStatuses: ['scorer', 'drift'].map((name) => ({ name, image: serving.image, imageID: '', ready: true, restartCount: 0, started: true, state: { running: { startedAt: ready.lastTransitionTime } } })),
      },
    },
  });
}

const isReady = (p: any) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');

beforeAll(async () => {
  namespace = await createNamespace(kc, 'serving');
  // The Pods here have no drift monitor behind them; the drift test file reads real ones.
  operator = await startOperator({ kc: await operatorKubeConfig(), namespace, defaults, serving, drift: { urlFor: () => undefined }, log: silentLogger, metrics, workers: 2 }, stop.signal);
});

afterAll(async () => {
  stop.abort();
  await operator?.done;
});

describe('RegisteredModel serving', () => {
  it('deploys the champion once there is one and reports it serving when its Pods are ready', async () => {
    await requestJson(kc, 'POST', `${api}/namespaces/${namespace}/registeredmodels`, {
      body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name: 'salaries' }, spec: { task: 'Regression', serving: { replicas: 2 } } },
    });
    const empty = await until('NoVersions', (m) => condition(m, 'Ready')?.reason === 'NoVersions');
    expect(empty.status.serving).toBeUndefined();
    expect(await deployment()).toBeUndefined();

    await register(version(1, 60000));
    const created = await eventually('the scoring Deployment', deployment);
    const m = await model();
    const want = buildScoringDeployment({ metadata: m.metadata, spec: registeredModelSpec.parse(m.spec) }, version(1, 60000), undefined, serving);
    expect(created.metadata.ownerReferences).toEqual(want.metadata.ownerReferences);
    expect(created.metadata.labels).toEqual(want.metadata.labels);
    expect(created.metadata.annotations).toMatchObject(want.metadata.annotations);
    expect(created.spec.replicas).toBe(2);
    expect(created.spec.strategy).toEqual(want.spec.strategy);
    expect(created.spec.template.spec.containers.map((c: any) => [c.name, c.image, c.args, c.env])).toEqual(want.spec.template.spec.containers.map((c: any) => [c.name, c.image, c.args, c.env]));
    expect(JSON.parse(created.spec.template.spec.containers[0].env[0].value)).toMatchObject({ model: 'salaries', version: 1, modelUri: version(1, 0).artifactUri });
    const service = await get(`/api/v1/namespaces/${namespace}/services/salaries-scorer`);
    expect(service.spec.selector).toEqual(want.spec.selector.matchLabels);
    expect(service.metadata.ownerReferences).toEqual(want.metadata.ownerReferences);

    const waiting = await until('NoReadyReplicas', (x) => condition(x, 'Ready')?.reason === 'NoReadyReplicas');
    expect(waiting.status.serving).toMatchObject({ replicas: 2, readyReplicas: 0 });
    expect(waiting.status.serving.servedVersion).toBeUndefined();

    for (const pod of await eventually('2 scoring Pods', async () => ((await scorerPods()).length === 2 ? scorerPods() : undefined))) await markReady(pod);
    const live = await until('Serving from both Pods', (x) => condition(x, 'Ready')?.reason === 'Serving' && x.status.serving.readyReplicas === 2);
    expect(live.status.serving).toEqual({ url: `http://salaries-scorer.${namespace}.svc.cluster.local`, replicas: 2, readyReplicas: 2, servedVersion: 1 });
    expect(condition(live, 'Ready').message).toBe(`version 1 served by 2/2 scoring Pods ready at http://salaries-scorer.${namespace}.svc.cluster.local`);
    expect(condition(live, 'Drifted')).toMatchObject({ status: 'Unknown', reason: 'NoSummary' });
  }, 60_000);

  it('makes no API write on a second pass over an unchanged world', async () => {
    await settle();
    const before = await writes();
    operator.controllers[1]!.enqueue(`${namespace}/salaries`);
    await settle();
    expect(await writes()).toBe(before);
  });

  it('rolls a new champion out without downtime: the old version serves until the new Pods are ready', async () => {
    await register(version(2, 55000));
    const rolling = await until('RollingOut', (m) => condition(m, 'Ready')?.reason === 'RollingOut');
    expect(rolling.status.aliases.champion).toBe(2);
    expect(rolling.status.serving).toMatchObject({ servedVersion: 1, rolloutVersion: 2 });
    expect(condition(rolling, 'Ready').status).toBe('True');

    // Play the kubelet for each surge Pod; at every step at least the wanted replicas are ready.
    await eventually(
      'version 2 to serve',
      async () => {
        const pods = await scorerPods();
        expect(pods.filter(isReady).length).toBeGreaterThanOrEqual(2);
        for (const pod of pods.filter((p) => !isReady(p))) await markReady(pod);
        const m = await model();
        return m.status.serving?.servedVersion === 2 ? m : undefined;
      },
      45_000,
      300,
    );
    expect((await scorerPods(1)).length).toBe(0);
    const served = await until('Serving 2', (m) => condition(m, 'Ready')?.reason === 'Serving');
    expect(served.status.serving.rolloutVersion).toBeUndefined();
    const events = await get(`/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent('involvedObject.name=salaries')}`);
    expect(events.items.filter((e: any) => e.reason === 'Serving').map((e: any) => e.message).sort()).toEqual([
      `version 1 now serves at http://salaries-scorer.${namespace}.svc.cluster.local`,
      `version 2 now serves at http://salaries-scorer.${namespace}.svc.cluster.local`,
    ]);
  }, 60_000);

  it('loads the challenger for a canary and hands replicas to an autoscaler', async () => {
    await register(version(3, 58000));
    await until('challenger 3', (m) => m.status.aliases.challenger === 3);
    await patchSpec({ replicas: 2, canary: { challengerPercent: 10 }, autoscaling: { minReplicas: 2, maxReplicas: 4 } });
    const hpa = await eventually('the autoscaler', () => get(`/apis/autoscaling/v2/namespaces/${namespace}/horizontalpodautoscalers/salaries-scorer`).catch(() => undefined));
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 4, scaleTargetRef: { kind: 'Deployment', name: 'salaries-scorer' } });
    const d = await eventually('the canary Deployment', async () => {
      const x = await deployment();
      return x?.metadata.annotations['orchard.dev/challenger-version'] === '3' ? x : undefined;
    });
    expect(JSON.parse(d.spec.template.spec.containers[0].env[0].value).challenger).toEqual({ version: 3, modelUri: version(3, 0).artifactUri, percent: 10 });

    // The autoscaler owns replicas now: the operator keeps whatever it set.
    await requestJson(kc, 'PATCH', `/apis/apps/v1/namespaces/${namespace}/deployments/salaries-scorer/scale`, { contentType: 'application/merge-patch+json', body: { spec: { replicas: 3 } } });
    operator.controllers[1]!.enqueue(`${namespace}/salaries`);
    await settle();
    expect((await deployment()).spec.replicas).toBe(3);
  }, 60_000);

  it('retrains on drift once per cool-down, and says so in the Drifted condition', async () => {
    const template = { ...exampleTrainingRun('salaries.yaml') } as any;
    delete template.modelRef;
    await patchSpec({ canary: null, autoscaling: null, replicas: 2 }, { drift: { onDrift: 'Retrain', coolDownSeconds: 3600 }, retrain: { template } });
    // The drift sidecar's summary, as the drift reader writes it into status.
    const m = await model();
    const drift = {
      checkedTime: '2026-11-23T12:00:00Z',
      windowRows: 5000,
      driftedShare: '0.67',
      drifted: 'True',
      features: [
        { name: 'work_year', test: 'Wasserstein', score: '0.42', drifted: true },
        { name: 'job_title', test: 'JensenShannon', score: '0.21', drifted: true },
        { name: 'company_size', test: 'JensenShannon', score: '0.03', drifted: false },
      ],
    };
    await requestJson(kc, 'PUT', `${api}/namespaces/${namespace}/registeredmodels/salaries/status`, { body: { ...m, status: { ...m.status, drift } } });

    const run = await eventually('the retrain run', () => get(`${api}/namespaces/${namespace}/trainingruns/salaries-retrain-1`).catch(() => undefined));
    expect(run.spec.modelRef).toEqual({ name: 'salaries' });
    expect(run.spec.features).toEqual(template.features);
    expect(run.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'RegisteredModel', name: 'salaries', uid: m.metadata.uid })]);
    const drifted = await until('Drifted with the cool-down', (x) => /next retraining may start after/.test(condition(x, 'Drifted')?.message ?? ''));
    expect(condition(drifted, 'Drifted')).toMatchObject({ status: 'True', reason: 'DatasetDrift' });
    expect(condition(drifted, 'Drifted').message).toMatch(/^2 of 3 features drifted over the last 5000 rows \(share 0.67 ≥ 0.5\): work_year \(Wasserstein 0.42\), job_title \(JensenShannon 0.21\); retrained with salaries-retrain-1 at /);
    expect(drifted.status.lastRetrainRun).toBe('salaries-retrain-1');

    operator.controllers[1]!.enqueue(`${namespace}/salaries`);
    await settle();
    const runs = await get(`${api}/namespaces/${namespace}/trainingruns?labelSelector=${encodeURIComponent('orchard.dev/retrain-of=salaries')}`);
    expect(runs.items.map((r: any) => r.metadata.name)).toEqual(['salaries-retrain-1']);
    const events = await get(`/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent('involvedObject.name=salaries')}`);
    expect(events.items.filter((e: any) => e.reason === 'DriftDetected')).toHaveLength(1);
    expect(events.items.filter((e: any) => e.reason === 'RetrainStarted')).toHaveLength(1);
  }, 60_000);

  it('removes the serving children when serving is switched off', async () => {
    await patchSpec({ mode: 'None' });
    const m = await until('ChampionSelected', (x) => condition(x, 'Ready')?.reason === 'ChampionSelected');
    expect(m.status.serving).toBeUndefined();
    expect(condition(m, 'Drifted')).toBeUndefined();
    await eventually('the Deployment to go', async () => ((await deployment()) ? undefined : true));
    await expect(get(`/api/v1/namespaces/${namespace}/services/salaries-scorer`)).rejects.toThrow(/404/);
  }, 30_000);
});

describe("the operator's default autoscaling (the chart's scorer.autoscaling)", () => {
  it('gives a model without serving.autoscaling an autoscaler that keeps the replicas, lets a model pin its own, and goes when the default does', async () => {
    const ns = await createNamespace(kc, 'serving-hpa');
    const hpaOf = (name: string) => get(`/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers/${name}-scorer`).catch(() => undefined);
    const start = async (autoscaling?: ServingDefaults['autoscaling']) => {
      const stopped = new AbortController();
      const running = await startOperator(
        { kc: await operatorKubeConfig(), namespace: ns, defaults, serving: { ...serving, ...(autoscaling ? { autoscaling } : {}) }, drift: { urlFor: () => undefined }, log: silentLogger, workers: 2 },
        stopped.signal,
      );
      return async () => {
        stopped.abort();
        await running.done;
      };
    };
    let stopOperator = await start({ minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 60 });
    try {
      for (const [name, servingSpec] of [['auto', {}], ['pinned', { autoscaling: { minReplicas: 3, maxReplicas: 3 } }]] as const) {
        await requestJson(kc, 'POST', `${api}/namespaces/${ns}/registeredmodels`, {
          body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name }, spec: { task: 'Regression', serving: servingSpec } },
        });
        await registerIn(ns, name, version(1, 60000));
      }
      const auto = await eventually('the default autoscaler', () => hpaOf('auto'));
      expect(auto.spec).toMatchObject({ minReplicas: 2, maxReplicas: 6, scaleTargetRef: { kind: 'Deployment', name: 'auto-scorer' } });
      expect(auto.spec.metrics[0].resource.target.averageUtilization).toBe(60);
      expect((await eventually("the pinned model's own autoscaler", () => hpaOf('pinned'))).spec).toMatchObject({ minReplicas: 3, maxReplicas: 3 });

      // What the autoscaler sets, the operator keeps.
      await eventually('the Deployment', () => deployment(ns, 'auto'));
      await requestJson(kc, 'PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/auto-scorer/scale`, { contentType: 'application/merge-patch+json', body: { spec: { replicas: 4 } } });
      await settle();
      expect((await deployment(ns, 'auto')).spec.replicas).toBe(4);

      // The default off: the model's autoscaler goes and serving.replicas (1) is back; the pinned model keeps its own.
      await stopOperator();
      stopOperator = await start();
      await eventually('the default autoscaler deleted', async () => ((await hpaOf('auto')) ? undefined : true));
      await eventually('serving.replicas back', async () => (await deployment(ns, 'auto'))?.spec.replicas === 1);
      expect((await hpaOf('pinned'))?.spec).toMatchObject({ minReplicas: 3, maxReplicas: 3 });
    } finally {
      await stopOperator();
    }
  }, 60_000);
});
