// The operator runs with exactly the RBAC the chart renders: it is given a token of the chart's
// ServiceAccount, bound by the chart's roles, and drives each kind to its children with no 403;
// verbs it does not use are refused. Every operator suite runs under the Cluster-mode RBAC
// (test/support/operator-access.ts); this file adds the Namespaces mode, a log watched for any
// refusal, and the refusals themselves.
import { afterAll, describe, expect, it } from '@jest/globals';
import { scoringJobSpec } from '../../operator/src/api/v1alpha1/scoring-job.js';
import { parseCron } from '../../operator/src/controllers/scoring-job/cron.js';
import { scheduledJobName } from '../../operator/src/controllers/scoring-job/desired.js';
import { requestJson, statusCode } from '../../operator/src/kube/client.js';
import { startOperator, type RunningOperator } from '../../operator/src/operator.js';
import { LeaderElector } from '../../operator/src/runtime/leader-election.js';
import type { Fields, Logger } from '../../operator/src/runtime/log.js';
import { createNamespace, testKubeConfig } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { operatorAccess } from '../support/operator-access.js';
import { eventually } from '../support/wait.js';

const admin = testKubeConfig();
const api = '/apis/orchard.dev/v1alpha1';
const cleanup: string[] = [];

afterAll(async () => {
  for (const path of cleanup.reverse()) await requestJson(admin, 'DELETE', path).catch(() => undefined);
});

/** The HTTP status codes along an error's cause chain (reconcilers wrap API errors once). */
function codesOf(err: unknown): number[] {
  const codes: number[] = [];
  for (let e = err; e; e = (e as Error).cause) {
    const code = statusCode(e);
    if (code !== undefined) codes.push(code);
  }
  return codes;
}

/** A logger that keeps every line, with the status codes of its error, so the test can look for refusals. */
function recordingLogger(lines: Fields[], base: Fields = {}): Logger {
  const emit = (level: string) => (msg: string, fields?: Fields) => {
    const err = fields?.err;
    lines.push({ level, msg, ...base, ...fields, ...(err instanceof Error ? { err: err.message, codes: codesOf(err) } : {}) });
  };
  return { info: emit('info'), error: emit('error'), debug: () => {}, with: (fields) => recordingLogger(lines, { ...base, ...fields }) };
}

const refusal = (line: Fields) => (line.codes as number[] | undefined)?.some((c) => c === 401 || c === 403) || /\b403\b|forbidden/i.test(String(line.err ?? ''));

describe.each(['Cluster', 'Namespaces'] as const)("the operator with the chart's %s RBAC", (mode) => {
  it('trains, serves and scores with no refusal, and is refused what it does not use', async () => {
    const release = await createNamespace(admin, `rbac-${mode.toLowerCase()}`);
    const namespace = await createNamespace(admin, 'rbac-workload');
    cleanup.push(`/api/v1/namespaces/${release}`, `/api/v1/namespaces/${namespace}`);
    // Cluster mode shares the ClusterRole every other suite's operator runs with; the Lease is in this test's namespace.
    const { kc, objects } = await operatorAccess(mode === 'Cluster' ? { mode, leaseNamespace: release } : { mode, namespaces: [namespace], release });
    expect(objects.map((o) => o.kind)).toContain(mode === 'Cluster' ? 'ClusterRole' : 'Role');

    const lines: Fields[] = [];
    const log = recordingLogger(lines);
    const stop = new AbortController();
    let running: RunningOperator | undefined;
    /** The operator's clock: real time until the scheduled ScoringJob below moves it. */
    let clock: Date | undefined;
    const elector = new LeaderElector({
      kc,
      namespace: release,
      name: 'orchard-operator',
      identity: `rbac-test-${mode}`,
      log,
      onStartedLeading: async (signal) => {
        running = await startOperator(
          {
            kc,
            namespace,
            defaults: { image: 'orchard-runtime:test', artifactRoot: 'gs://orchard-test/runs', serviceAccountName: 'orchard-trainer', backoffLimit: 1 },
            serving: { image: 'orchard-runtime:test', serviceAccountName: 'orchard-scorer' },
            drift: { pollSeconds: 3600 },
            log,
            workers: 2,
            now: () => clock ?? new Date(),
          },
          signal,
        );
        await running.done;
      },
    });
    const elected = elector.run(stop.signal);
    try {
      await eventually('the operator to lead and sync', async () => running?.synced(), 20_000);

      const post = (plural: string, body: object) => requestJson(admin, 'POST', `${api}/namespaces/${namespace}/${plural}`, { body: { apiVersion: 'orchard.dev/v1alpha1', ...body } });
      await post('registeredmodels', {
        kind: 'RegisteredModel',
        metadata: { name: 'salaries' },
        spec: { task: 'Regression', serving: { autoscaling: { minReplicas: 1, maxReplicas: 3 } } },
      });
      await post('trainingruns', { kind: 'TrainingRun', metadata: { name: 'salaries-1' }, spec: { ...exampleTrainingRun('salaries.yaml'), modelRef: { name: 'salaries' } } });
      // A version registered the way the TrainingRun controller does it.
      await eventually('a version to be registered', async () => {
        const m = await requestJson(admin, 'GET', `${api}/namespaces/${namespace}/registeredmodels/salaries`);
        const version = { version: 1, trainingRun: 'salaries-0', createdTime: '2026-11-23T10:00:00Z', task: 'Regression', metrics: { RMSE: '1' }, artifactUri: 'gs://orchard-test/runs/salaries-0/' };
        const status = { ...(m.status ?? {}), versions: [version], latestVersion: 1 };
        return requestJson(admin, 'PUT', `${api}/namespaces/${namespace}/registeredmodels/salaries/status`, { body: { ...m, status } }).then(() => true, () => undefined);
      });
      await post('scoringjobs', {
        kind: 'ScoringJob',
        metadata: { name: 'batch' },
        spec: { modelRef: { name: 'salaries' }, input: { sources: [{ uri: 'gs://orchard-test/in.csv' }] }, output: { uri: 'gs://orchard-test/out' } },
      });

      const get = (path: string) => requestJson(admin, 'GET', path).catch(() => undefined);
      await eventually('the training Job', () => get(`/apis/batch/v1/namespaces/${namespace}/jobs/salaries-1-train`));
      await eventually('the scoring Deployment', () => get(`/apis/apps/v1/namespaces/${namespace}/deployments/salaries-scorer`));
      await eventually('the scoring Service', () => get(`/api/v1/namespaces/${namespace}/services/salaries-scorer`));
      await eventually('the autoscaler', () => get(`/apis/autoscaling/v2/namespaces/${namespace}/horizontalpodautoscalers/salaries-scorer`));
      await eventually('the batch scoring Job', () => get(`/apis/batch/v1/namespaces/${namespace}/jobs/batch-score`));
      await eventually('status written on all three kinds', async () => {
        const [run, model, sj] = await Promise.all(['trainingruns/salaries-1', 'registeredmodels/salaries', 'scoringjobs/batch'].map((p) => get(`${api}/namespaces/${namespace}/${p}`)));
        return run?.status?.conditions?.length && model?.status?.aliases?.champion === 1 && sj?.status?.conditions?.length;
      });
      // Updates and deletions of the serving children: autoscaling off (the Deployment takes over
      // replicas, the autoscaler goes), then serving off (Deployment and Service go).
      const patchModel = (spec: object) =>
        requestJson(admin, 'PATCH', `${api}/namespaces/${namespace}/registeredmodels/salaries`, { contentType: 'application/merge-patch+json', body: { spec } });
      await patchModel({ serving: { autoscaling: null, replicas: 2 } });
      await eventually('the Deployment updated to 2 replicas', async () => (await get(`/apis/apps/v1/namespaces/${namespace}/deployments/salaries-scorer`))?.spec.replicas === 2);
      await eventually('the autoscaler deleted', async () => (await get(`/apis/autoscaling/v2/namespaces/${namespace}/horizontalpodautoscalers/salaries-scorer`)) === undefined);
      await patchModel({ serving: { mode: 'None' } });
      await eventually('the Deployment and Service deleted', async () => {
        const [d, s] = await Promise.all([get(`/apis/apps/v1/namespaces/${namespace}/deployments/salaries-scorer`), get(`/api/v1/namespaces/${namespace}/services/salaries-scorer`)]);
        return (d === undefined || d.metadata.deletionTimestamp) && s === undefined;
      });
      const reasons = async () => new Set((await requestJson(admin, 'GET', `/api/v1/namespaces/${namespace}/events`)).items.map((e: any) => e.reason));
      await eventually('events from each controller', async () => {
        const seen = await reasons();
        return seen.has('JobCreated') && seen.has('Started') ? seen : undefined;
      });

      // concurrencyPolicy Replace: the next schedule time deletes the run still active.
      const scheduled = await post('scoringjobs', {
        kind: 'ScoringJob',
        metadata: { name: 'replaced' },
        spec: { modelRef: { name: 'salaries' }, input: { sources: [{ uri: 'gs://orchard-test/in.csv' }] }, output: { uri: 'gs://orchard-test/out' }, schedule: '* * * * *', concurrencyPolicy: 'Replace' },
      });
      const start = parseCron('* * * * *').next(new Date(scheduled.metadata.creationTimestamp))!;
      const runs = [0, 1].map((i) => new Date(start.getTime() + i * 60_000));
      const names = runs.map((t) => scheduledJobName({ metadata: scheduled.metadata, spec: scoringJobSpec.parse(scheduled.spec) }, t));
      for (const [i, t] of runs.entries()) {
        clock = new Date(t.getTime() + 5_000);
        running!.controllers[2]!.enqueue(`${namespace}/replaced`);
        await eventually(`scheduled run ${i}`, () => get(`/apis/batch/v1/namespaces/${namespace}/jobs/${names[i]}`));
      }
      await eventually('the replaced run deleted', async () => {
        const old = await get(`/apis/batch/v1/namespaces/${namespace}/jobs/${names[0]}`);
        return old === undefined || Boolean(old.metadata.deletionTimestamp);
      });
      await eventually('the Replaced event', async () => (await reasons()).has('Replaced'));

      // Other errors may happen on a busy API server (a watch answered 429 is retried); refusals may not.
      expect(lines.filter(refusal)).toEqual([]);

      const refused = async (method: 'GET' | 'DELETE', path: string) => statusCode(await requestJson(kc, method, path).then(() => undefined, (err) => err));
      expect(await refused('GET', `/api/v1/namespaces/${namespace}/secrets`)).toBe(403);
      expect(await refused('GET', `/api/v1/namespaces/${namespace}/configmaps`)).toBe(403);
      expect(await refused('DELETE', `${api}/namespaces/${namespace}/trainingruns/salaries-1`)).toBe(403);
      expect(await refused('DELETE', `/apis/apps/v1/namespaces/${namespace}/replicasets`)).toBe(403);
      expect(await refused('GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`)).toBe(403);
      const clusterWide = await requestJson(kc, 'GET', '/apis/batch/v1/jobs?limit=1').then(() => 200, (err) => statusCode(err));
      expect(clusterWide).toBe(mode === 'Cluster' ? 200 : 403);
    } catch (err) {
      // A missing verb shows up as a wait that times out: name the refusals the operator logged.
      const refusals = lines.filter(refusal);
      throw new Error(`${(err as Error).message}\noperator errors: ${JSON.stringify(refusals.length ? refusals : lines.filter((l) => l.level === 'error')).slice(0, 2000)}`, { cause: err });
    } finally {
      stop.abort();
      await elected;
    }
  });
});
