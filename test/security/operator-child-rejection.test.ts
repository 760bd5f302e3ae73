// A spec the CRD accepts but whose child the API server refuses (here: an admission policy of the
// namespace, "at most 2 CPUs per container") gets a condition with the API server's words and
// Stalled, and is not sent again: no retry storm against the API server. Fixing the spec creates
// the child. For each kind: TrainingRun → Job, ScoringJob → Job, RegisteredModel → Deployment.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ModelVersion } from '../../operator/src/api/v1alpha1/registered-model.js';
import type { TrainingDefaults } from '../../operator/src/controllers/training-run/desired.js';
import { requestJson, statusCode } from '../../operator/src/kube/client.js';
import { startOperator, type RunningOperator } from '../../operator/src/operator.js';
import { silentLogger } from '../../operator/src/runtime/log.js';
import { OperatorMetrics } from '../../operator/src/runtime/metrics.js';
import { createNamespace, testKubeConfig } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { operatorKubeConfig } from '../support/operator-access.js';
import { eventually } from '../support/wait.js';

const kc = testKubeConfig();
const defaults: TrainingDefaults = { image: 'orchard:test', artifactRoot: 'gs://orchard-test/runs', backoffLimit: 1, serviceAccountName: 'default' };
const metrics = new OperatorMetrics();
const stop = new AbortController();
const api = '/apis/orchard.dev/v1alpha1';
const admission = '/apis/admissionregistration.k8s.io/v1';
let namespace: string;
let operator: RunningOperator;
const policies: string[] = [];

const get = (path: string) => requestJson(kc, 'GET', path);
const object = (plural: string, name: string) => get(`${api}/namespaces/${namespace}/${plural}/${name}`);
const condition = (obj: any, type: string) => obj.status?.conditions?.find((c: any) => c.type === type);
const rejections = async (controller: string) => (await metrics.childRejections.get()).values.filter((v) => v.labels.controller === controller).reduce((n, v) => n + v.value, 0);
const allPasses = async (controller: string) => (await metrics.reconciles.get()).values.filter((v) => v.labels.controller === controller).reduce((n, v) => n + v.value, 0);
const passes = async (controller: string, result: string) => (await metrics.reconciles.get()).values.find((v) => v.labels.controller === controller && v.labels.result === result)?.value ?? 0;
const CPU_CAP = 'this namespace allows at most 2 CPUs per container: lower resources.requests.cpu';

/**
 * A ValidatingAdmissionPolicy bound to the test namespace only, as a cluster admin would install
 * one: `reason` Invalid answers 422, Forbidden 403.
 */
async function capCpu(resource: { group: string; plural: string }, reason: 'Invalid' | 'Forbidden') {
  const containers = 'object.spec.template.spec.containers + (has(object.spec.template.spec.initContainers) ? object.spec.template.spec.initContainers : [])';
  const expression = `(${containers}).all(c, !has(c.resources) || !has(c.resources.requests) || !('cpu' in c.resources.requests) || quantity(c.resources.requests['cpu']).compareTo(quantity('2')) <= 0)`;
  await denyIn({ ...resource, version: 'v1' }, expression, CPU_CAP, reason);
}

async function denyIn(resource: { group: string; version: string; plural: string }, expression: string, message: string, reason: 'Invalid' | 'Forbidden') {
  const name = `deny-${resource.plural}-${namespace}`;
  await requestJson(kc, 'POST', `${admission}/validatingadmissionpolicies`, {
    body: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: [resource.group], apiVersions: [resource.version], operations: ['CREATE', 'UPDATE'], resources: [resource.plural] }] },
        validations: [{ expression, message, reason }],
      },
    },
  });
  policies.push(name);
  await requestJson(kc, 'POST', `${admission}/validatingadmissionpolicybindings`, {
    body: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name },
      spec: { policyName: name, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } } },
    },
  });
}

/** Waits until the API server enforces the policies (it learns of them through a watch). */
async function enforced(path: string, body: object, code: number) {
  await eventually(`the policy to refuse ${path}`, () =>
    requestJson(kc, 'POST', `${path}?dryRun=All`, { body }).then(
      () => undefined,
      (err) => statusCode(err) === code,
    ),
  );
}

const cpuHungry = (name: string) => ({ name, image: 'orchard:test', resources: { requests: { cpu: '4' } } });

function version(v: number): ModelVersion {
  return { version: v, trainingRun: `salaries-${v}`, createdTime: '2026-11-23T10:00:00Z', task: 'Regression', metrics: { RMSE: '50000' }, artifactUri: `file:///models/salaries-${v}/` };
}

async function createModel(name: string, spec: object) {
  await requestJson(kc, 'POST', `${api}/namespaces/${namespace}/registeredmodels`, { body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name }, spec: { task: 'Regression', ...spec } } });
}

async function registerVersion1(name: string) {
  await eventually(`version 1 of ${name}`, async () => {
    const m = await object('registeredmodels', name);
    const status = { ...(m.status ?? {}), versions: [version(1)], latestVersion: 1 };
    return requestJson(kc, 'PUT', `${api}/namespaces/${namespace}/registeredmodels/${name}/status`, { body: { ...m, status } }).then(() => true, () => undefined);
  });
}

async function create(plural: string, kind: string, name: string, spec: object) {
  return requestJson(kc, 'POST', `${api}/namespaces/${namespace}/${plural}`, { body: { apiVersion: 'orchard.dev/v1alpha1', kind, metadata: { name }, spec } });
}

async function patchSpec(plural: string, name: string, spec: object) {
  await requestJson(kc, 'PATCH', `${api}/namespaces/${namespace}/${plural}/${name}`, { contentType: 'application/merge-patch+json', body: { spec } });
}

/**
 * The object's condition of `type` turns ChildRejected with the API server's message, Stalled
 * says the same, one create was sent, and passes after it (a status event, requeues) send none
 * and write nothing.
 */
async function expectStalledOnce(plural: string, name: string, type: string, controller: string, child: string) {
  const stalled = await eventually(`${name}: ChildRejected`, async () => {
    const obj = await object(plural, name);
    return condition(obj, type)?.reason === 'ChildRejected' ? obj : undefined;
  });
  expect(condition(stalled, type)).toMatchObject({ status: 'False', message: expect.stringContaining(`the API server rejected ${child}: `) });
  expect(condition(stalled, type).message).toContain(CPU_CAP);
  expect(condition(stalled, type).message).toMatch(/fix the spec/);
  expect(condition(stalled, 'Stalled')).toMatchObject({ status: 'True', reason: 'ChildRejected', observedGeneration: stalled.metadata.generation });

  // Five passes, each seen to finish (not slept through: on a busy machine none might have run yet).
  const ctl = operator.controllers.find((c) => c.name === controller)!;
  for (let i = 0; i < 5; i++) {
    const before = await allPasses(controller);
    ctl.enqueue(`${namespace}/${name}`);
    await eventually(`pass ${i + 1} of ${name} after ChildRejected`, async () => (await allPasses(controller)) > before && ctl.queue.len() === 0, 30_000, 20);
  }
  expect(await rejections(controller)).toBe(1);
  expect(await passes(controller, 'error')).toBe(0);
  // Nothing new to say: the passes wrote no status.
  expect((await object(plural, name)).metadata.resourceVersion).toBe(stalled.metadata.resourceVersion);
}

beforeAll(async () => {
  namespace = await createNamespace(kc, 'rejection');
  await capCpu({ group: 'batch', plural: 'jobs' }, 'Invalid');
  await capCpu({ group: 'apps', plural: 'deployments' }, 'Forbidden');
  const probe = { metadata: { name: 'probe' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { restartPolicy: 'Never', containers: [cpuHungry('c')] } } } };
  await enforced(`/apis/batch/v1/namespaces/${namespace}/jobs`, { apiVersion: 'batch/v1', kind: 'Job', ...probe }, 422);
  await enforced(`/apis/apps/v1/namespaces/${namespace}/deployments`, { apiVersion: 'apps/v1', kind: 'Deployment', ...probe, spec: { ...probe.spec, template: { ...probe.spec.template, spec: { containers: [cpuHungry('c')] } } } }, 403);
  operator = await startOperator(
    { kc: await operatorKubeConfig(), namespace, defaults, serving: { image: 'orchard-serve:test', serviceAccountName: 'default' }, drift: { urlFor: () => undefined }, log: silentLogger, metrics, workers: 2 },
    stop.signal,
  );
});

afterAll(async () => {
  stop.abort();
  await operator?.done;
  for (const name of policies) {
    await requestJson(kc, 'DELETE', `${admission}/validatingadmissionpolicybindings/${name}`).catch(() => undefined);
    await requestJson(kc, 'DELETE', `${admission}/validatingadmissionpolicies/${name}`).catch(() => undefined);
  }
});

describe('a child the API server refuses', () => {
  it('TrainingRun: the refused Job is reported once, and created once the spec is fixed', async () => {
    await createModel('salaries', { serving: { mode: 'None' } });
    await create('trainingruns', 'TrainingRun', 'salaries-1', { ...exampleTrainingRun('salaries.yaml'), modelRef: { name: 'salaries' }, resources: { requests: { cpu: '4' } } });
    await expectStalledOnce('trainingruns', 'salaries-1', 'Succeeded', 'trainingrun', `Job ${namespace}/salaries-1-train`);

    await patchSpec('trainingruns', 'salaries-1', { resources: { requests: { cpu: '1' } } });
    await eventually('the Job', () => get(`/apis/batch/v1/namespaces/${namespace}/jobs/salaries-1-train`), 10_000);
    const fixed = await eventually('Stalled to go', async () => {
      const r = await object('trainingruns', 'salaries-1');
      return r.status?.observedGeneration === 2 && !condition(r, 'Stalled') ? r : undefined;
    });
    expect(condition(fixed, 'Succeeded').reason).not.toBe('ChildRejected');
  });

  it('ScoringJob: the refused Job is reported once, and created once the spec is fixed', async () => {
    await createModel('scorer', { serving: { mode: 'None' }, promotion: { policy: 'Manual', champion: 1 } });
    await registerVersion1('scorer');
    await eventually('champion 1', async () => ((await object('registeredmodels', 'scorer')).status?.aliases?.champion === 1 ? true : undefined));
    await create('scoringjobs', 'ScoringJob', 'nightly', {
      modelRef: { name: 'scorer' },
      input: { sources: [{ uri: 'file:///data/salaries-2024.csv' }] },
      output: { uri: 'file:///scores/nightly' },
      resources: { requests: { cpu: '4' } },
    });
    await expectStalledOnce('scoringjobs', 'nightly', 'Succeeded', 'scoringjob', `Job ${namespace}/nightly-score`);

    await patchSpec('scoringjobs', 'nightly', { resources: { requests: { cpu: '1' } } });
    await eventually('the Job', () => get(`/apis/batch/v1/namespaces/${namespace}/jobs/nightly-score`), 10_000);
    await eventually('Stalled to go', async () => (condition(await object('scoringjobs', 'nightly'), 'Stalled') ? undefined : true));
  });

  it('RegisteredModel: the Deployment an admission policy forbids (403) is reported once, and created once the spec is fixed', async () => {
    await createModel('online', { serving: { replicas: 1, resources: { requests: { cpu: '4' } } }, promotion: { policy: 'Manual', champion: 1 } });
    await registerVersion1('online');
    await expectStalledOnce('registeredmodels', 'online', 'Ready', 'registeredmodel', `Deployment ${namespace}/online-scorer`);
    // The other children do not wait on the refused one.
    await eventually('the Service', () => get(`/api/v1/namespaces/${namespace}/services/online-scorer`), 10_000);

    await patchSpec('registeredmodels', 'online', { serving: { resources: { requests: { cpu: '1' } } } });
    await eventually('the Deployment', () => get(`/apis/apps/v1/namespaces/${namespace}/deployments/online-scorer`), 10_000);
    const fixed = await eventually('Stalled to go', async () => {
      const m = await object('registeredmodels', 'online');
      return condition(m, 'Stalled') ? undefined : m;
    });
    expect(condition(fixed, 'Ready').reason).not.toBe('ChildRejected');
  });

  it('an Event the API server refuses is dropped: it is no verdict on the Job and fails no pass', async () => {
    await denyIn({ group: '', version: 'v1', plural: 'events' }, 'false', 'no Events in this namespace', 'Invalid');
    const event = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'probe' }, involvedObject: { kind: 'Pod', name: 'p', namespace }, reason: 'Probe', message: 'probe' };
    await enforced(`/api/v1/namespaces/${namespace}/events`, event, 422);
    const before = { rejections: await rejections('trainingrun'), terminal: await passes('trainingrun', 'terminal'), errors: await passes('trainingrun', 'error') };
    await create('trainingruns', 'TrainingRun', 'salaries-2', { ...exampleTrainingRun('salaries.yaml'), modelRef: { name: 'salaries' } });
    await eventually('the Job', () => get(`/apis/batch/v1/namespaces/${namespace}/jobs/salaries-2-train`), 10_000);
    await eventually('a status', async () => condition(await object('trainingruns', 'salaries-2'), 'Succeeded'));
    expect(condition(await object('trainingruns', 'salaries-2'), 'Succeeded').reason).not.toBe('ChildRejected');
    expect({ rejections: await rejections('trainingrun'), terminal: await passes('trainingrun', 'terminal'), errors: await passes('trainingrun', 'error') }).toEqual(before);
  });
});
