// The TrainingRun controller when things go wrong: the operator dies between registering a version
// and writing the run's status, runs finish at once and race to register, a deadline passes, a
// step fails and is retried, and a spec that slipped past admission sits in the cache.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerVersion } from '../../operator/src/controllers/registered-model/versions.js';
import type { TrainingDefaults } from '../../operator/src/controllers/training-run/desired.js';
import { TrainingRunReconciler } from '../../operator/src/controllers/training-run/reconciler.js';
import { metricTable } from '../../operator/src/controllers/training-run/status.js';
import { requestJson } from '../../operator/src/kube/client.js';
import type { Informer } from '../../operator/src/kube/informer.js';
import { startOperator, type RunningOperator } from '../../operator/src/operator.js';
import { Controller } from '../../operator/src/runtime/controller.js';
import { silentLogger } from '../../operator/src/runtime/log.js';
import { OperatorMetrics } from '../../operator/src/runtime/metrics.js';
import { createNamespace, testKubeConfig } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { operatorKubeConfig } from '../support/operator-access.js';
import { podOf, runSummary, setPodStatus } from '../support/training-pods.js';
import { eventually } from '../support/wait.js';

const kc = testKubeConfig();
const defaults: TrainingDefaults = { image: 'orchard:test', artifactRoot: 'gs://orchard-test/runs', backoffLimit: 1 };
const api = '/apis/orchard.dev/v1alpha1';
let namespace: string;
const running: { stop: AbortController; operator: RunningOperator }[] = [];

const get = (path: string) => requestJson(kc, 'GET', path);
const run = (name: string, ns = namespace) => get(`${api}/namespaces/${ns}/trainingruns/${name}`);
const model = (name: string) => get(`${api}/namespaces/${namespace}/registeredmodels/${name}`);
const succeeded = (obj: any) => obj.status?.conditions?.find((c: any) => c.type === 'Succeeded');
const reason = (name: string, want: string) =>
  eventually(`${name} to be ${want}`, async () => {
    const r = await run(name);
    return succeeded(r)?.reason === want ? r : undefined;
  });

async function start(): Promise<RunningOperator> {
  const stop = new AbortController();
  const operator = await startOperator({ kc: await operatorKubeConfig(), namespace, defaults, log: silentLogger, workers: 2 }, stop.signal);
  running.push({ stop, operator });
  return operator;
}

async function createModel(name: string) {
  await requestJson(kc, 'POST', `${api}/namespaces/${namespace}/registeredmodels`, {
    body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name }, spec: { task: 'Regression', serving: { mode: 'None' } } },
  });
}

async function createRun(name: string, modelName: string, extra: object = {}, ns = namespace) {
  const spec = { ...exampleTrainingRun('salaries.yaml'), modelRef: { name: modelName }, ...extra };
  return requestJson(kc, 'POST', `${api}/namespaces/${ns}/trainingruns`, {
    body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name }, spec },
  });
}

async function jobComplete(name: string) {
  await eventually(`Job ${name} complete`, async () => {
    const job = await get(`/apis/batch/v1/namespaces/${namespace}/jobs/${name}`);
    return job.status?.conditions?.some((c: any) => c.type === 'Complete' && c.status === 'True');
  });
}

beforeAll(async () => {
  namespace = await createNamespace(kc, 'recovery');
});

afterAll(async () => {
  for (const r of running) r.stop.abort();
  await Promise.all(running.map((r) => r.operator.done));
});

describe('TrainingRun recovery', () => {
  it('an operator that died between registering the version and writing the run status registers nothing twice', async () => {
    const first = await start();
    await createModel('recover');
    const created = await createRun('recover-1', 'recover');
    const pod = await podOf(kc, namespace, 'recover-1-train');
    running[0]!.stop.abort();
    await first.done;

    // While no operator runs: training finishes, and the dead operator's last write had landed.
    const summary = runSummary(56000);
    await setPodStatus(kc, pod, 'publish', {}, 'Succeeded', JSON.stringify(summary));
    await jobComplete('recover-1-train');
    const m = await model('recover');
    const registered = registerVersion(
      m.status,
      { name: 'recover-1', uid: created.metadata.uid, task: 'Regression', metrics: metricTable(summary.metrics), artifactUri: summary.artifactUri, testDataFingerprint: summary.testDataFingerprint },
      new Date(),
    );
    await requestJson(kc, 'PUT', `${api}/namespaces/${namespace}/registeredmodels/recover/status`, { body: { ...m, status: registered.status } });
    expect((await run('recover-1')).status?.registeredVersion).toBeUndefined();

    await start();
    const done = await reason('recover-1', 'Succeeded');
    expect(done.status.registeredVersion).toBe(1);
    const after = await eventually('the champion', async () => {
      const x = await model('recover');
      return x.status?.aliases?.champion === 1 ? x : undefined;
    });
    expect(after.status.versions.map((v: any) => [v.version, v.trainingRun])).toEqual([[1, 'recover-1']]);
    expect(after.status.promotions.map((p: any) => [p.alias, p.version, p.reason])).toEqual([['Champion', 1, 'FirstVersion']]);
    const jobs = await get(`/apis/batch/v1/namespaces/${namespace}/jobs?labelSelector=${encodeURIComponent('orchard.dev/training-run=recover-1')}`);
    expect(jobs.items).toHaveLength(1);
  }, 90_000);

  it('runs finishing at once each get their own version, none lost or duplicated', async () => {
    const names = ['race-1', 'race-2', 'race-3', 'race-4'];
    for (const name of names) await createRun(name, 'recover');
    const pods = await Promise.all(names.map((name) => podOf(kc, namespace, `${name}-train`)));
    await Promise.all(pods.map((pod, i) => setPodStatus(kc, pod, 'publish', {}, 'Succeeded', JSON.stringify(runSummary(57000 + i)))));
    const runs = await Promise.all(names.map((name) => reason(name, 'Succeeded')));
    const versions = runs.map((r) => r.status.registeredVersion).sort();
    expect(versions).toEqual([2, 3, 4, 5]);
    const m = await model('recover');
    expect(m.status.latestVersion).toBe(5);
    expect(m.status.versions.map((v: any) => v.version)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(m.status.versions.map((v: any) => v.trainingRunUID)).size).toBe(5);
    for (const r of runs) expect(m.status.versions.find((v: any) => v.version === r.status.registeredVersion).trainingRun).toBe(r.metadata.name);
  }, 60_000);

  it('a run past activeDeadlineSeconds fails with DeadlineExceeded and the step it was in', async () => {
    await createRun('slow', 'recover', { activeDeadlineSeconds: 3 });
    const pod = await podOf(kc, namespace, 'slow-train');
    await setPodStatus(kc, pod, 'train', { running: { startedAt: '2026-11-23T10:00:01Z' } });
    await reason('slow', 'Training');
    const failed = await eventually('DeadlineExceeded', async () => {
      const r = await run('slow');
      return succeeded(r)?.reason === 'DeadlineExceeded' ? r : undefined;
    });
    expect(succeeded(failed)).toMatchObject({ status: 'False', message: 'the run exceeded activeDeadlineSeconds (3 s) during Train: raise spec.activeDeadlineSeconds or train less' });
  }, 60_000);

  it('a step that fails for a passing reason is retried, the attempt shown, until backoffLimit', async () => {
    await createRun('flaky', 'recover', { backoffLimit: 1 });
    const crash = (message: string) => ({ terminated: { exitCode: 1, reason: 'Error', message, startedAt: '2026-11-23T10:00:00Z', finishedAt: '2026-11-23T10:00:01Z' } });
    const first = await podOf(kc, namespace, 'flaky-train');
    await setPodStatus(kc, first, 'prepare', crash('orchard prepare: gs://data/salaries.csv: connection reset'), 'Failed');
    // The Job controller waits its back-off (about 10 s) before the second Pod.
    const second = await eventually('the retry Pod', () => podOf(kc, namespace, 'flaky-train', [first.metadata.name]), 40_000);
    await setPodStatus(kc, second, 'prepare', { running: { startedAt: '2026-11-23T10:00:12Z' } }, 'Running');
    const retrying = await eventually('attempt 2', async () => {
      const r = await run('flaky');
      return succeeded(r)?.message === 'Prepare step running (attempt 2)' ? r : undefined;
    });
    expect(succeeded(retrying)).toMatchObject({ status: 'Unknown', reason: 'Preparing' });
    await setPodStatus(kc, second, 'prepare', crash('orchard prepare: gs://data/salaries.csv: connection reset again'), 'Failed');
    const failed = await reason('flaky', 'JobFailed');
    expect(succeeded(failed).message).toBe('prepare failed: orchard prepare: gs://data/salaries.csv: connection reset again');
  }, 90_000);

  it('a finished run whose Job the TTL controller removed keeps its status and is not trained again', async () => {
    await createRun('short-lived', 'recover', { ttlSecondsAfterFinished: 1 });
    const pod = await podOf(kc, namespace, 'short-lived-train');
    await setPodStatus(kc, pod, 'publish', {}, 'Succeeded', JSON.stringify(runSummary(58000)));
    const done = await reason('short-lived', 'Succeeded');
    await eventually('the Job to be removed', async () => {
      try {
        await get(`/apis/batch/v1/namespaces/${namespace}/jobs/short-lived-train`);
        return undefined;
      } catch (err: any) {
        return err.code === 404 ? true : undefined;
      }
    }, 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    await expect(get(`/apis/batch/v1/namespaces/${namespace}/jobs/short-lived-train`)).rejects.toMatchObject({ code: 404 });
    expect((await run('short-lived')).status).toEqual(done.status);
  }, 60_000);

  it('a spec that slipped past admission becomes InvalidSpec once, with no retry storm', async () => {
    // Its own namespace, watched by no operator: the pass below is the only writer.
    const quiet = await createNamespace(kc, 'invalid');
    await createRun('stale', 'none', {}, quiet);
    // What a cache holds for an object stored under an older, looser schema.
    const cached = async () => {
      const r = await run('stale', quiet);
      return { ...r, spec: { ...r.spec, task: 'Ranking' } };
    };
    let current = await cached();
    const informer = (get: () => any): Informer => ({ start: async () => {}, stop() {}, synced: () => true, get, list: () => [get()].filter(Boolean), on() {} });
    const empty = informer(() => undefined);
    const metrics = new OperatorMetrics();
    const reconciler = new TrainingRunReconciler({
      kc: await operatorKubeConfig(),
      runs: informer(() => current),
      models: empty,
      jobs: empty,
      pods: empty,
      defaults,
      now: () => new Date(),
      log: silentLogger,
      record: async () => {},
      metrics,
    });
    let passes = 0;
    const controller = new Controller({
      name: 'trainingrun',
      log: silentLogger,
      metrics,
      reconcile: async (key) => {
        passes++;
        return reconciler.reconcile(key);
      },
    });
    const stop = new AbortController();
    const done = controller.run(stop.signal);
    controller.enqueue(`${quiet}/stale`);
    const invalid = await eventually('InvalidSpec', async () => {
      const r = await run('stale', quiet);
      return succeeded(r)?.reason === 'InvalidSpec' ? r : undefined;
    });
    expect(succeeded(invalid)).toMatchObject({ status: 'False' });
    expect(succeeded(invalid).message).toMatch(/^spec\.task: .*; fix the spec \(the run will not start until then\)$/);
    await new Promise((r) => setTimeout(r, 1500));
    expect(passes).toBe(1);

    // Another pass over the same world (the cache now holding the written status) writes nothing.
    current = await cached();
    const writes = async () => (await metrics.apiWrites.get()).values.reduce((n, v) => n + v.value, 0);
    const before = await writes();
    controller.enqueue(`${quiet}/stale`);
    await eventually('the second pass', async () => passes === 2);
    await new Promise((r) => setTimeout(r, 300));
    expect(await writes()).toBe(before);
    stop.abort();
    await done;
    const jobs = await get(`/apis/batch/v1/namespaces/${quiet}/jobs`);
    expect(jobs.items).toEqual([]);
  }, 30_000);
});
