// The ScoringJob controller against a real API server and a real Job controller: the test plays
// the shards (publishing their summary.json where `orchard score` would) and the kubelet
// (PATCHing the shard Pods' status), and reads what the operator reports.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModelVersion } from '../../operator/src/api/v1alpha1/registered-model.js';
import { scoringJobSpec } from '../../operator/src/api/v1alpha1/scoring-job.js';
import { publishArtifacts } from '../../operator/src/artifacts/store.js';
import { mergeStats, metricsFromStats, regressionStats, type MetricStats } from '../../operator/src/batch/metrics.js';
import { parseCron } from '../../operator/src/controllers/scoring-job/cron.js';
import { buildScoringJob, scheduledJobName } from '../../operator/src/controllers/scoring-job/desired.js';
import { shardLocation } from '../../operator/src/controllers/scoring-job/summaries.js';
import type { TrainingDefaults } from '../../operator/src/controllers/training-run/desired.js';
import { metricTable } from '../../operator/src/controllers/training-run/status.js';
import { DriftCounter } from '../../operator/src/drift/counts.js';
import { numericProfile, referenceProfile } from '../../operator/src/features/profile.js';
import { requestJson } from '../../operator/src/kube/client.js';
import { startOperator, type RunningOperator } from '../../operator/src/operator.js';
import { silentLogger } from '../../operator/src/runtime/log.js';
import { OperatorMetrics } from '../../operator/src/runtime/metrics.js';
import { createNamespace, testKubeConfig } from '../support/cluster.js';
import { operatorKubeConfig } from '../support/operator-access.js';
import { eventually } from '../support/wait.js';

const kc = testKubeConfig();
const defaults: TrainingDefaults = { image: 'orchard:test', artifactRoot: 'gs://orchard-test/runs', backoffLimit: 1, serviceAccountName: 'default' };
const metrics = new OperatorMetrics();
const stop = new AbortController();
const output = pathToFileURL(mkdtempSync(join(tmpdir(), 'orchard-scores-'))).href;
const models = pathToFileURL(mkdtempSync(join(tmpdir(), 'orchard-models-'))).href;
/** The training reference of every version: a numeric and a categorical input, and the prediction. */
const reference = (() => {
  const inputs = [
    { name: 'years', type: 'Numeric' as const, feature: 'years' },
    { name: 'size', type: 'Categorical' as const, feature: 'size' },
  ];
  const rows = Array.from({ length: 2000 }, (_, i) => [i % 40, ['S', 'M', 'L'][i % 3]!]);
  return { ...referenceProfile(inputs, rows), prediction: numericProfile(rows.map((r) => 1000 * (r[0] as number))) };
})();
/** A shard's drift counts: rows like training's, or with years shifted far above it. */
function driftCounts(rows: number, shifted: boolean) {
  const counter = new DriftCounter(reference, ['years', 'size']);
  for (let i = 0; i < rows; i++) counter.add([(i % 40) + (shifted ? 60 : 0), ['S', 'M', 'L'][i % 3]!], 1000 * (i % 40));
  return counter.counts();
}
/** The operator's clock: real time unless a test sets it. */
let clock: Date | undefined;
let namespace: string;
let operator: RunningOperator;

const api = '/apis/orchard.dev/v1alpha1';
const get = (path: string) => requestJson(kc, 'GET', path);
const scoringJob = (name: string) => get(`${api}/namespaces/${namespace}/scoringjobs/${name}`);
const model = (name: string) => get(`${api}/namespaces/${namespace}/registeredmodels/${name}`);
const job = (name: string) => get(`/apis/batch/v1/namespaces/${namespace}/jobs/${name}`);
const succeeded = (obj: any) => obj.status?.conditions?.find((c: any) => c.type === 'Succeeded');
const scoringWrites = async () => (await metrics.apiWrites.get()).values.filter((v) => v.labels.controller === 'scoringjob').reduce((n, v) => n + v.value, 0);
const enqueue = (name: string) => operator.controllers[2]!.enqueue(`${namespace}/${name}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(name: string, what: string, test: (sj: any) => boolean) {
  return eventually(`${name}: ${what}`, async () => {
    const sj = await scoringJob(name);
    return test(sj) ? sj : undefined;
  });
}
const reason = (name: string, want: string) => until(name, `reason ${want}`, (sj) => succeeded(sj)?.reason === want);

function version(v: number): ModelVersion {
  return { version: v, trainingRun: `salaries-${v}`, createdTime: `2026-11-23T10:0${v}:00Z`, task: 'Regression', metrics: { RMSE: '50000' }, artifactUri: `${models}/salaries-${v}/` };
}

/** A registry entry with pinned aliases (Manual), so the test decides which version is champion. */
async function createModel(name: string, champion?: number) {
  await requestJson(kc, 'POST', `${api}/namespaces/${namespace}/registeredmodels`, {
    body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name }, spec: { task: 'Regression', serving: { mode: 'None' }, promotion: { policy: 'Manual', ...(champion ? { champion } : {}) } } },
  });
}

/** Appends versions to status as the TrainingRun controller does (optimistic concurrency). */
async function register(name: string, ...versions: ModelVersion[]) {
  await eventually('the versions to be registered', async () => {
    const m = await model(name);
    const status = { ...(m.status ?? {}), versions: [...(m.status?.versions ?? []), ...versions], latestVersion: versions.at(-1)!.version };
    return requestJson(kc, 'PUT', `${api}/namespaces/${namespace}/registeredmodels/${name}/status`, { body: { ...m, status } }).then(() => true, () => undefined);
  });
}

async function pinChampion(name: string, champion: number) {
  await requestJson(kc, 'PATCH', `${api}/namespaces/${namespace}/registeredmodels/${name}`, { contentType: 'application/merge-patch+json', body: { spec: { promotion: { champion } } } });
  await eventually(`champion ${champion}`, async () => ((await model(name)).status?.aliases?.champion === champion ? true : undefined));
}

async function createScoringJob(name: string, spec: Record<string, unknown>) {
  return requestJson(kc, 'POST', `${api}/namespaces/${namespace}/scoringjobs`, {
    body: {
      apiVersion: 'orchard.dev/v1alpha1',
      kind: 'ScoringJob',
      metadata: { name },
      spec: { modelRef: { name: 'salaries' }, input: { sources: [{ uri: 'file:///data/salaries-2024.csv' }] }, output: { uri: `${output}/${name}` }, ...spec },
    },
  });
}

/** The Job controller's shard Pods, by completion index (the newest Pod of each index). */
async function shardPods(jobName: string, count: number): Promise<Map<number, any>> {
  return eventually(`${count} shard Pods of ${jobName}`, async () => {
    const pods = await get(`/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`batch.kubernetes.io/job-name=${jobName}`)}`);
    const byIndex = new Map<number, any>();
    for (const p of pods.items) byIndex.set(Number(p.metadata.annotations['batch.kubernetes.io/job-completion-index']), p);
    return byIndex.size >= count ? byIndex : undefined;
  });
}

const container = (state: object) => ({ name: 'score', image: 'orchard:test', imageID: '', ready: false, restartCount: 0, state });
async function setPod(pod: any, phase: string, state: object) {
  await requestJson(kc, 'PATCH', `/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}/status`, {
    contentType: 'application/merge-patch+json',
    body: { status: { phase, containerStatuses: [container(state)] } },
  });
}
const running = (pod: any) => setPod(pod, 'Running', { running: { startedAt: '2026-11-23T10:00:00Z' } });

/** What a shard does when it finishes: publish its predictions and summary, exit 0. */
async function finishShard(j: any, pod: any, rows: number, seconds: number, stats?: MetricStats, drift?: object) {
  const index = Number(pod.metadata.annotations['batch.kubernetes.io/job-completion-index']);
  const shards = j.spec.completions;
  const location = shardLocation(j.metadata.annotations['orchard.dev/output-uri'], index, shards);
  const summary = { shard: index, shards, rows, rejected: 0, errors: [], seconds, outputUri: location, ...(stats ? { stats } : {}), ...(drift ? { drift } : {}) };
  await publishArtifacts(location, [
    { name: 'predictions.csv', bytes: Buffer.from('prediction\n1\n') },
    { name: 'summary.json', bytes: Buffer.from(JSON.stringify(summary)) },
  ]);
  await setPod(pod, 'Succeeded', { terminated: { exitCode: 0, reason: 'Completed', message: JSON.stringify(summary), startedAt: '2026-11-23T10:00:00Z', finishedAt: '2026-11-23T10:00:02Z' } });
}

beforeAll(async () => {
  for (const v of [1, 2]) await publishArtifacts(version(v).artifactUri, [{ name: 'reference-profile.json', bytes: Buffer.from(JSON.stringify(reference)) }]);
  namespace = await createNamespace(kc, 'scoringjob');
  operator = await startOperator({ kc: await operatorKubeConfig(), namespace, defaults, log: silentLogger, metrics, workers: 2, now: () => clock ?? new Date() }, stop.signal);
  await createModel('salaries', 2);
  await register('salaries', version(1), version(2));
  await eventually('champion 2', async () => ((await model('salaries')).status?.aliases?.champion === 2 ? true : undefined));
});

afterAll(async () => {
  stop.abort();
  await operator?.done;
});

describe('ScoringJob controller', () => {
  it('scores with the champion in an Indexed Job: Pending → Running with progress → Succeeded with rows, rows/s and merged metrics', async () => {
    const created = await createScoringJob('batch-1', { input: { sources: [{ uri: 'file:///data/salaries-2024.csv' }], labelColumn: 'salary_in_usd' }, shards: 3, parallelism: 3 });
    const j = await eventually('the Job', () => job('batch-1-score'));
    const want = buildScoringJob(
      { metadata: created.metadata, spec: scoringJobSpec.parse(created.spec) },
      { model: { version: 2, artifactUri: version(2).artifactUri, task: 'Regression' } },
      defaults,
    );
    expect(j.metadata.ownerReferences).toEqual(want.metadata.ownerReferences);
    expect(j.metadata.labels).toMatchObject(want.metadata.labels);
    expect(j.metadata.annotations).toMatchObject(want.metadata.annotations);
    expect(j.spec).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 3, backoffLimitPerIndex: 1, podFailurePolicy: want.spec.podFailurePolicy });
    expect(j.spec.template.spec.containers[0].env).toEqual(want.spec.template.spec.containers[0].env);

    const pending = await reason('batch-1', 'Pending');
    expect(pending.status).toMatchObject({ resolvedVersion: 2, modelVersion: 'salaries@2', jobName: 'batch-1-score', progress: '0/3', outputUri: `${output}/batch-1/` });
    expect(succeeded(pending).status).toBe('Unknown');

    const pods = await shardPods('batch-1-score', 3);
    for (const p of pods.values()) await running(p);
    await until('batch-1', 'running 3', (sj) => succeeded(sj)?.message === '0/3 shards done, 3 running');

    // Ground truth in every shard: the run reports the metrics of all rows together.
    const y = [100, 200, 300, 400, 500, 600];
    const p = [110, 190, 330, 380, 520, 640];
    const stats = [0, 1, 2].map((i) => regressionStats(y.slice(2 * i, 2 * i + 2), p.slice(2 * i, 2 * i + 2)));
    await finishShard(j, pods.get(0), 1000, 2, stats[0], driftCounts(1000, true));
    const partway = await until('batch-1', 'one shard done', (sj) => sj.status?.progress === '1/3');
    expect(partway.status).toMatchObject({ rowsScored: 1000, shards: { total: 3, succeeded: 1, failed: 0 } });
    expect(succeeded(partway)).toMatchObject({ reason: 'Running', message: '1/3 shards done, 2 running, 1000 rows scored so far' });

    // The champion moves mid-run: this run keeps the version it started with.
    await pinChampion('salaries', 1);
    enqueue('batch-1');
    await sleep(500);
    expect((await scoringJob('batch-1')).status).toMatchObject({ resolvedVersion: 2, modelVersion: 'salaries@2' });
    expect((await job('batch-1-score')).metadata.annotations['orchard.dev/model-version']).toBe('2');

    await finishShard(j, pods.get(1), 1000, 3, stats[1], driftCounts(1000, true));
    await finishShard(j, pods.get(2), 500, 1, stats[2], driftCounts(500, false));
    const done = await reason('batch-1', 'Succeeded');
    const jobDone = await job('batch-1-score');
    const wall = (Date.parse(jobDone.status.completionTime) - Date.parse(jobDone.status.startTime)) / 1000;
    expect(done.status).toMatchObject({
      resolvedVersion: 2,
      modelVersion: 'salaries@2',
      rowsScored: 2500,
      rowsPerSecond: Math.round(2500 / Math.max(wall, 3)),
      durationSeconds: Math.round(wall),
      shards: { total: 3, succeeded: 3, failed: 0 },
      progress: '3/3',
      metrics: metricTable(metricsFromStats('Regression', mergeStats(stats)!)),
      completionTime: jobDone.status.completionTime,
    });
    expect(done.status.metrics.MAE).toBe('21.6667'); // |errors| 10, 10, 30, 20, 20, 40 over the three shards
    // Batch drift from the merged counts of all shards: 2000 of 2500 rows have years beyond training's,
    // so 1 of 2 inputs drifted, which reaches the default drift share of 0.5.
    expect(done.status.drift).toEqual({
      drifted: 'True',
      driftedShare: '0.5',
      features: [
        { name: 'years', test: 'Wasserstein', score: expect.any(String), drifted: true },
        { name: 'size', test: 'JensenShannon', score: expect.any(String), drifted: false },
      ],
    });
    expect(Number(done.status.drift.features[0].score)).toBeGreaterThan(1);
    expect(Number(done.status.drift.features[1].score)).toBeLessThan(0.01);
    expect(succeeded(done)).toMatchObject({ status: 'True', message: expect.stringMatching(/^scored 2500 rows with salaries@2 in 3 shards \(\d+ rows\/s\); predictions under file:\/\//) });

    const events = await get(`/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent('involvedObject.name=batch-1')}`);
    expect(events.items.map((e: any) => e.reason)).toEqual(expect.arrayContaining(['Started', 'Succeeded']));

    // Idempotent: another pass over the same world writes nothing.
    await sleep(500);
    const before = await scoringWrites();
    enqueue('batch-1');
    await sleep(1000);
    expect(await scoringWrites()).toBe(before);
  }, 60_000);

  it('reports the failing shard and its one-line message; bad input fails the Job without retries', async () => {
    await createScoringJob('batch-bad', { shards: 2, parallelism: 2 });
    const j = await eventually('the Job', () => job('batch-bad-score'));
    const pods = await shardPods('batch-bad-score', 2);
    await setPod(pods.get(1), 'Failed', {
      terminated: { exitCode: 2, reason: 'Error', message: 'orchard score: column "work_year" (output.passthroughColumns or input.labelColumn) is not in salaries-2024.csv\n', startedAt: '2026-11-23T10:00:00Z', finishedAt: '2026-11-23T10:00:01Z' },
    });
    const failed = await reason('batch-bad', 'ShardsFailed');
    expect(succeeded(failed)).toMatchObject({ status: 'False', message: 'shard 1 failed: orchard score: column "work_year" (output.passthroughColumns or input.labelColumn) is not in salaries-2024.csv' });
    expect(failed.status.shards).toMatchObject({ total: 2, failed: 1 });
    expect(failed.status.completionTime).toBeDefined();
    const all = await get(`/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`batch.kubernetes.io/job-name=${j.metadata.name}`)}`);
    expect(all.items.filter((p: any) => p.metadata.annotations['batch.kubernetes.io/job-completion-index'] === '1')).toHaveLength(1); // FailJob: no retry
    const events = await eventually('the failure event', async () => {
      const list = await get(`/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent('involvedObject.name=batch-bad,reason=ShardsFailed')}`);
      return list.items.length ? list.items : undefined;
    });
    expect(events[0]).toMatchObject({ type: 'Warning' });
  }, 60_000);

  it('waits with ModelNotFound, then NoChampion, and starts by itself once the model has a champion', async () => {
    await createScoringJob('orphan', { modelRef: { name: 'later' } });
    const missing = await reason('orphan', 'ModelNotFound');
    expect(succeeded(missing).message).toMatch(/RegisteredModel "later" does not exist/);
    await createModel('later');
    expect(succeeded(await reason('orphan', 'NoChampion')).message).toMatch(/"later" has no champion yet/);
    await expect(job('orphan-score')).rejects.toMatchObject({ code: 404 });
    await register('later', version(1));
    await requestJson(kc, 'PATCH', `${api}/namespaces/${namespace}/registeredmodels/later`, { contentType: 'application/merge-patch+json', body: { spec: { promotion: { champion: 1 } } } });
    const started = await until('orphan', 'a resolved version', (sj) => sj.status?.resolvedVersion === 1);
    expect(started.status).toMatchObject({ modelVersion: 'later@1', jobName: 'orphan-score' });
    await job('orphan-score');
  }, 60_000);

  it('reports a schedule the API server accepts but that cannot run as InvalidSpec, once, without retrying', async () => {
    // Admission checks each cron field's range; only the calendar knows that February has no 30th.
    await createScoringJob('bad-cron', { schedule: '0 0 30 2 *' });
    const invalid = await reason('bad-cron', 'InvalidSpec');
    expect(succeeded(invalid)).toMatchObject({ status: 'False', message: 'spec.schedule: "0 0 30 2 *" never fires: no month in it has those days; fix the spec (nothing runs until then)' });
    const reconciles = async () => (await metrics.reconciles.get()).values.filter((v) => v.labels.controller === 'scoringjob' && v.labels.result !== 'success').reduce((n, v) => n + v.value, 0);
    // Earlier tests' runs may still be settling: start counting once their writes have stopped.
    const writes = await eventually('the other scoring jobs to settle', async () => {
      const before = await scoringWrites();
      await sleep(700);
      return (await scoringWrites()) === before ? before : undefined;
    });
    const failures = await reconciles();
    enqueue('bad-cron');
    await sleep(1000);
    expect(await scoringWrites()).toBe(writes);
    expect(await reconciles()).toBe(failures);
    const jobs = await get(`/apis/batch/v1/namespaces/${namespace}/jobs?labelSelector=${encodeURIComponent('orchard.dev/scoring-job=bad-cron')}`);
    expect(jobs.items).toEqual([]);
  }, 30_000);

  it('runs on schedule by the injected clock: one Job per schedule time, Forbid holds the next, each run resolves the champion afresh', async () => {
    const created = await createScoringJob('nightly', { schedule: '*/5 * * * *', concurrencyPolicy: 'Forbid' });
    const cron = parseCron('*/5 * * * *');
    const t1 = cron.next(new Date(created.metadata.creationTimestamp))!;
    const t2 = cron.next(t1)!;
    const sj = { metadata: created.metadata, spec: scoringJobSpec.parse(created.spec) };
    const first = scheduledJobName(sj, t1);
    const second = scheduledJobName(sj, t2);

    // Before the first schedule time nothing runs.
    clock = new Date(t1.getTime() - 30_000);
    enqueue('nightly');
    const scheduled = await reason('nightly', 'Scheduled');
    expect(succeeded(scheduled).message).toBe(`first run at ${t1.toISOString().replace('.000', '')} (schedule is in UTC)`);

    clock = new Date(t1.getTime() + 10_000);
    enqueue('nightly');
    const j1 = await eventually('the first run', () => job(first));
    expect(j1.metadata.annotations).toMatchObject({ 'orchard.dev/scheduled-time': t1.toISOString().replace('.000', ''), 'orchard.dev/model-version': '1' });
    const s1 = await until('nightly', 'the first run', (s) => s.status?.jobName === first);
    expect(s1.status).toMatchObject({ lastScheduleTime: t1.toISOString().replace('.000', ''), resolvedVersion: 1 });
    expect(s1.status.outputUri).toMatch(new RegExp(`^${output}/nightly/\\d{8}-\\d{4}/$`));

    // The next schedule time comes while the first run is still going: Forbid holds it back.
    await pinChampion('salaries', 2);
    clock = new Date(t2.getTime() + 10_000);
    enqueue('nightly');
    const held = await until('nightly', 'the next run held back', (s) => /waits for this one \(concurrencyPolicy Forbid\)/.test(succeeded(s)?.message ?? ''));
    expect(held.status.jobName).toBe(first);
    await expect(job(second)).rejects.toMatchObject({ code: 404 });

    // Once the first run finishes, the held run starts (late, once) with the champion of now.
    const [pod] = (await shardPods(first, 1)).values();
    await finishShard(j1, pod, 10, 1);
    const j2 = await eventually('the second run', () => job(second));
    expect(j2.metadata.annotations['orchard.dev/model-version']).toBe('2');
    const s2 = await until('nightly', 'the second run', (s) => s.status?.jobName === second);
    expect(s2.status).toMatchObject({ lastScheduleTime: t2.toISOString().replace('.000', ''), resolvedVersion: 2, modelVersion: 'salaries@2' });
    const runs = await get(`/apis/batch/v1/namespaces/${namespace}/jobs?labelSelector=${encodeURIComponent('orchard.dev/scoring-job=nightly')}`);
    expect(runs.items.map((r: any) => r.metadata.name).sort()).toEqual([first, second].sort());

    // Settled: another pass at the same instant writes nothing and starts nothing.
    await sleep(500);
    const before = await scoringWrites();
    enqueue('nightly');
    await sleep(1000);
    expect(await scoringWrites()).toBe(before);
    await requestJson(kc, 'DELETE', `${api}/namespaces/${namespace}/scoringjobs/nightly`);
    clock = undefined;
  }, 60_000);

  it('keeps the last three finished runs, and Replace stops the active run for the next', async () => {
    const runsOf = async (name: string) =>
      (await get(`/apis/batch/v1/namespaces/${namespace}/jobs?labelSelector=${encodeURIComponent(`orchard.dev/scoring-job=${name}`)}`)).items
        .filter((j: any) => !j.metadata.deletionTimestamp)
        .map((j: any) => j.metadata.name)
        .sort();
    const minutely = parseCron('* * * * *');
    const kept = await createScoringJob('minutely', { schedule: '* * * * *', concurrencyPolicy: 'Allow' });
    const replaced = await createScoringJob('replaced', { schedule: '* * * * *', concurrencyPolicy: 'Replace' });
    const start = minutely.next(new Date(Math.max(Date.parse(kept.metadata.creationTimestamp), Date.parse(replaced.metadata.creationTimestamp))))!;
    const names: string[] = [];
    const replacedNames: string[] = [];
    for (let i = 0; i < 5; i++) {
      const t = new Date(start.getTime() + i * 60_000);
      names.push(scheduledJobName({ metadata: kept.metadata, spec: scoringJobSpec.parse(kept.spec) }, t));
      replacedNames.push(scheduledJobName({ metadata: replaced.metadata, spec: scoringJobSpec.parse(replaced.spec) }, t));
      clock = new Date(t.getTime() + 5_000);
      enqueue('minutely');
      enqueue('replaced');
      const j = await eventually(`run ${i}`, () => job(names[i]!));
      const [pod] = (await shardPods(names[i]!, 1)).values();
      await finishShard(j, pod, 10, 1);
      await until('minutely', `run ${i} done`, (s) => s.status?.jobName === names[i] && succeeded(s)?.reason === 'Succeeded');
      await eventually(`replaced run ${i}`, () => job(replacedNames[i]!));
    }
    // The sixth pass deletes the oldest finished runs beyond three.
    enqueue('minutely');
    await eventually('old runs deleted', async () => ((await runsOf('minutely')).length === 3 ? true : undefined));
    expect(await runsOf('minutely')).toEqual(names.slice(2).sort());
    // Replace: each run deleted the one before it, which never finished.
    await eventually('replaced runs deleted', async () => ((await runsOf('replaced')).length === 1 ? true : undefined));
    expect(await runsOf('replaced')).toEqual([replacedNames[4]]);
    const events = await get(`/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent('involvedObject.name=replaced,reason=Replaced')}`);
    expect(events.items).toHaveLength(4);
    clock = undefined;
  }, 60_000);
});
