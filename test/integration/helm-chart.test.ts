// The Helm chart: it lints and renders for the value combinations we support, the API server
// accepts everything it renders, and Pod Security "restricted" admits the operator's Pod and every
// Pod the operator's builders produce.
import { afterAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, scorerAutoscalingDefault } from '../../operator/src/config.js';
import { buildScoringAutoscaler, buildScoringDeployment, type RegisteredModelObject } from '../../operator/src/controllers/registered-model/serving.js';
import { buildScoringJob } from '../../operator/src/controllers/scoring-job/desired.js';
import { buildTrainingJob } from '../../operator/src/controllers/training-run/desired.js';
import { registeredModelSpec } from '../../operator/src/api/v1alpha1/registered-model.js';
import { scoringJobSpec } from '../../operator/src/api/v1alpha1/scoring-job.js';
import { apiErrorMessage, applyObjects, createObject, requestJson, statusCode } from '../../operator/src/kube/client.js';
import { createNamespace, repoRoot, testKubeConfig } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { chartDir, helm, helmLint, helmTemplate } from '../support/helm.js';
import { eventually } from '../support/wait.js';

const kc = testKubeConfig();
/** Kinds whose CRDs (Prometheus Operator) the test API server does not have. */
const MONITORING = 'monitoring.coreos.com/v1';
const COMBINATIONS: Record<string, Record<string, string | number | boolean>> = {
  defaults: {},
  'namespaced, two replicas': { 'watch.mode': 'Namespaces', replicaCount: 2, 'leaderElection.enabled': false },
  'GPU image and Workload Identity': {
    'gpuTrainerImage.enabled': true,
    'serviceAccount.gcpServiceAccount': 'orchard-operator@proj.iam.gserviceaccount.com',
    'trainer.serviceAccount.gcpServiceAccount': 'orchard-trainer@proj.iam.gserviceaccount.com',
    'scorer.serviceAccount.gcpServiceAccount': 'orchard-scorer@proj.iam.gserviceaccount.com',
    artifactRoot: 'gs://my-bucket/orchard',
  },
  'monitoring on': {
    'monitoring.serviceMonitor.enabled': true,
    'monitoring.podMonitor.enabled': true,
    'monitoring.prometheusRule.enabled': true,
    'monitoring.dashboard.enabled': true,
  },
  'HPA on': {
    'scorer.autoscaling.enabled': true,
    'scorer.autoscaling.minReplicas': 2,
    'scorer.autoscaling.maxReplicas': 8,
    'scorer.autoscaling.targetCPUUtilizationPercentage': 60,
  },
  'admission policy and source limits': {
    'admissionPolicy.serviceAccountNames': '{team-a-trainer}',
    'trainer.fileRoots': '{/mnt/datasets}',
    'trainer.sourceHosts': '{data.example.com,*.storage.example.com}',
  },
  'Prometheus may read the drift monitors': { 'networkPolicy.driftReaders[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name': 'monitoring', 'monitoring.podMonitor.enabled': true },
  'no NetworkPolicy': { 'networkPolicy.enabled': false },
};
const namespaces: string[] = [];
const ns = async (prefix: string) => {
  const name = await createNamespace(kc, prefix);
  namespaces.push(name);
  return name;
};

/** The operator container's environment in rendered objects (values only, not fieldRefs). */
function envOf(objects: any[]): Record<string, string> {
  const deployment = objects.find((o) => o.kind === 'Deployment');
  return Object.fromEntries(deployment.spec.template.spec.containers[0].env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
}

/** The operator container's environment as the chart renders it with `values`. */
async function operatorEnv(values: Record<string, string | number | boolean>): Promise<Record<string, string>> {
  return envOf(await helmTemplate('orchard', 'orchard-system', values));
}

afterAll(async () => {
  await Promise.all(namespaces.map((n) => requestJson(kc, 'DELETE', `/api/v1/namespaces/${n}`).catch(() => undefined)));
});

describe('helm lint and helm template', () => {
  it.each(Object.entries(COMBINATIONS))('pass with %s', async (_, values) => {
    const extra: Record<string, string> = values['watch.mode'] === 'Namespaces' ? { 'watch.namespaces': '{team-a,team-b}' } : {};
    await helmLint({ ...values, ...extra });
    const objects = await helmTemplate('orchard', 'orchard-system', { ...values, ...extra });
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['ServiceAccount', 'Deployment', 'Service']));
    for (const o of objects) expect(o.metadata.labels['app.kubernetes.io/part-of']).toBe('orchard');
  });

  it('renders leader election whenever there is more than one replica', async () => {
    expect((await operatorEnv({ replicaCount: 2, 'leaderElection.enabled': false })).ORCHARD_LEADER_ELECTION).toBe('true');
    expect((await operatorEnv({ replicaCount: 1, 'leaderElection.enabled': false })).ORCHARD_LEADER_ELECTION).toBe('false');
    const gpu = await operatorEnv({ 'gpuTrainerImage.enabled': true, 'gpuTrainerImage.tag': '1.2.3', 'runtimeImage.tag': '1.2.3', artifactRoot: 'gs://bkt/p' });
    expect(gpu).toMatchObject({ ORCHARD_IMAGE: 'ghcr.io/orchard-ml/orchard-runtime:1.2.3', ORCHARD_GPU_IMAGE: 'ghcr.io/orchard-ml/orchard-runtime-gpu:1.2.3', ORCHARD_ARTIFACT_ROOT: 'gs://bkt/p' });
  });

  it('passes the default autoscaling of scoring Deployments to the operator only when it is on', async () => {
    const on = await operatorEnv(COMBINATIONS['HPA on']!);
    expect(on).toMatchObject({ ORCHARD_SCORER_AUTOSCALING: 'true', ORCHARD_SCORER_MIN_REPLICAS: '2', ORCHARD_SCORER_MAX_REPLICAS: '8', ORCHARD_SCORER_TARGET_CPU_UTILIZATION_PERCENTAGE: '60' });
    // What the operator reads from that environment.
    expect(scorerAutoscalingDefault(loadConfig([], on))).toEqual({ minReplicas: 2, maxReplicas: 8, targetCPUUtilizationPercentage: 60 });
    expect(scorerAutoscalingDefault(loadConfig([], await operatorEnv({ 'scorer.autoscaling.enabled': true })))).toEqual({ minReplicas: 1, maxReplicas: 5, targetCPUUtilizationPercentage: 70 });
    const off = await operatorEnv({});
    expect(Object.keys(off).filter((k) => k.startsWith('ORCHARD_SCORER_') && k !== 'ORCHARD_SCORER_SERVICE_ACCOUNT')).toEqual([]);
    expect(scorerAutoscalingDefault(loadConfig([], off))).toBeUndefined();
  });

  it('refuses values the operator would reject', async () => {
    await expect(helmTemplate('orchard', 'orchard-system', { artifactRoot: 's3://bucket' })).rejects.toThrow(/artifactRoot/);
    await expect(helmTemplate('orchard', 'orchard-system', { 'watch.mode': 'Namespaces' })).rejects.toThrow(/watch.namespaces/);
    await expect(helmTemplate('orchard', 'orchard-system', { driftPollSeconds: 1 })).rejects.toThrow(/driftPollSeconds/);
    const hpa = (values: Record<string, number>) => helmTemplate('orchard', 'orchard-system', { 'scorer.autoscaling.enabled': true, ...values });
    await expect(hpa({ 'scorer.autoscaling.minReplicas': 6 })).rejects.toThrow(/minReplicas must not exceed maxReplicas/);
    await expect(hpa({ 'scorer.autoscaling.minReplicas': 0 })).rejects.toThrow(/minReplicas/);
    await expect(hpa({ 'scorer.autoscaling.targetCPUUtilizationPercentage': 101 })).rejects.toThrow(/targetCPUUtilizationPercentage/);
  });
});

describe('the NetworkPolicy of scoring Pods', () => {
  it('is on by default in every namespace with scoring Pods: the scorer open to all, the drift monitor to the operator alone', async () => {
    const objects = await helmTemplate('orchard', 'orchard-system', { 'watch.namespaces': '{team-a,team-b}' });
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
    expect(policies.map((p) => p.metadata.namespace)).toEqual(['orchard-system', 'team-a', 'team-b']);
    const operatorPod = objects.find((o) => o.kind === 'Deployment').spec.template;
    const model: RegisteredModelObject = { metadata: { name: 'salaries', namespace: 'team-a', uid: '00000000-0000-4000-8000-000000000001' }, spec: registeredModelSpec.parse({ task: 'Regression' }) };
    const scoringPod = buildScoringDeployment(model, { version: 1, trainingRun: 'r1', createdTime: '2026-11-23T10:00:00Z', task: 'Regression', metrics: {}, artifactUri: 'gs://b/r1/' } as any, undefined, { image: 'orchard-runtime:test' }).spec.template;
    const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    const portNames = scoringPod.spec.containers.flatMap((c: any) => c.ports.map((p: any) => p.name));
    expect(portNames).toEqual(['http', 'drift']);
    for (const policy of policies) {
      // It selects the Pods the operator builds, by the port names the builder gives them.
      expect(matches(policy.spec.podSelector.matchLabels, scoringPod.metadata.labels)).toBe(true);
      expect(matches(policy.spec.podSelector.matchLabels, operatorPod.metadata.labels)).toBe(false);
      expect(policy.spec.policyTypes).toEqual(['Ingress']);
      const [scorer, drift] = policy.spec.ingress;
      expect(scorer).toEqual({ ports: [{ port: 'http', protocol: 'TCP' }] });
      expect(drift.ports).toEqual([{ port: 'drift', protocol: 'TCP' }]);
      expect(drift.from).toHaveLength(1);
      expect(drift.from[0].namespaceSelector.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'orchard-system' });
      expect(matches(drift.from[0].podSelector.matchLabels, operatorPod.metadata.labels)).toBe(true);
    }
    const readers = await helmTemplate('orchard', 'orchard-system', COMBINATIONS['Prometheus may read the drift monitors']!);
    expect(readers.find((o) => o.kind === 'NetworkPolicy').spec.ingress[1].from[1]).toEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } });
    expect((await helmTemplate('orchard', 'orchard-system', COMBINATIONS['no NetworkPolicy']!)).filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
    await expect(helmTemplate('orchard', 'orchard-system', { 'networkPolicy.driftReaders[0].pods': 'x' })).rejects.toThrow(/driftReaders/);

    // The API server accepts them as rendered, the drift readers' peers included.
    const release = await ns('chart-netpol');
    const rendered = await helmTemplate('orchard', release, COMBINATIONS['Prometheus may read the drift monitors']!);
    await applyObjects(kc, rendered.filter((o) => o.kind === 'NetworkPolicy'), { dryRun: true });
  });
});

describe('the monitoring objects', () => {
  it('alert on and chart only metrics the operator, the scorer and the drift monitor export', async () => {
    const objects = await helmTemplate('orchard', 'orchard-system', COMBINATIONS['monitoring on']!);
    const sources = ['runtime/metrics.ts', 'serving/metrics.ts', 'serving/drift-sidecar.ts'].map((f) => readFileSync(join(repoRoot, 'operator', 'src', f), 'utf8')).join('\n');
    const exported = new Set([...sources.matchAll(/name: '(orchard_\w+)'/g)].map((m) => m[1]));
    const dashboard = JSON.parse(objects.find((o) => o.kind === 'ConfigMap' && o.metadata.labels.grafana_dashboard === '1').data['orchard.json']);
    const rules = objects.find((o) => o.kind === 'PrometheusRule').spec.groups.flatMap((g: any) => g.rules);
    const exprs = [...dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr)), ...rules.map((r: any) => r.expr)];
    expect(exprs.length).toBeGreaterThan(10);
    const used = new Set(exprs.flatMap((e: string) => [...e.matchAll(/\b(orchard_\w+?)(?:_bucket|_sum|_count)?\b/g)].map((m) => m[1])));
    expect([...used].filter((m) => !exported.has(m))).toEqual([]);
    for (const metric of ['orchard_scoring_requests_total', 'orchard_scoring_request_duration_seconds', 'orchard_scoring_batch_rows', 'orchard_drift_score', 'orchard_drift_detected', 'orchard_reconcile_total']) {
      expect(used).toContain(metric);
    }
    // The PodMonitor scrapes both containers of every scoring Pod, by the port names the builder gives them.
    const podMonitor = objects.find((o) => o.kind === 'PodMonitor');
    expect(podMonitor.spec.podMetricsEndpoints.map((e: any) => e.port)).toEqual(['http', 'drift']);
  });
});

describe('what the chart renders', () => {
  it.each(Object.entries(COMBINATIONS))('is accepted by the API server (server-side dry run) with %s', async (_, values) => {
    const release = await ns('chart-release');
    const watched = values['watch.mode'] === 'Namespaces' ? [await ns('chart-watch'), await ns('chart-watch')] : [];
    const objects = await helmTemplate(`r${release.slice(-5)}`, release, { ...values, ...(watched.length ? { 'watch.namespaces': `{${watched.join(',')}}` } : {}) }, { includeCrds: true });
    const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds).toHaveLength(3);
    const rest = objects.filter((o) => o.kind !== 'CustomResourceDefinition' && o.apiVersion !== MONITORING);
    if (values['monitoring.prometheusRule.enabled']) expect(objects.filter((o) => o.apiVersion === MONITORING).map((o) => o.kind).sort()).toEqual(['PodMonitor', 'PrometheusRule', 'ServiceMonitor']);
    expect(rest.filter((o) => o.kind === 'NetworkPolicy').map((o) => o.metadata.namespace)).toEqual(values['networkPolicy.enabled'] === false ? [] : [release, ...watched]);
    await applyObjects(kc, [...crds, ...rest], { dryRun: true });
    // With HPA on, the autoscaler the operator then builds for a model that sets none is accepted too.
    if (values['scorer.autoscaling.enabled']) {
      const autoscaling = scorerAutoscalingDefault(loadConfig([], envOf(objects)));
      const model: RegisteredModelObject = { metadata: { name: 'salaries', namespace: release, uid: '00000000-0000-4000-8000-000000000001' }, spec: registeredModelSpec.parse({ task: 'Regression' }) };
      const hpa = buildScoringAutoscaler(model, { autoscaling: autoscaling! })!;
      expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 8 });
      await applyObjects(kc, [hpa], { dryRun: true });
    }
  });

  it('installs with helm (server dry run) and its notes tell how to upgrade the CRDs', async () => {
    const release = await ns('chart-install');
    const { stdout } = await helm(['install', 'orchard', chartDir, '--namespace', release, '--dry-run=server', '--set', `watch.namespaces={${release}}`]);
    expect(stdout).toMatch(/STATUS: pending-install/);
    expect(stdout).toContain('kubectl apply --server-side -f charts/orchard/crds/');
    expect(stdout).toContain(`Training Pods run as ServiceAccount orchard-trainer and scoring Pods as orchard-scorer\nin ${release};`);
    expect(stdout).toContain('scoringjobs -w\n\nHelm never upgrades CRDs.');
    const hpa = await helm(['install', 'orchard', chartDir, '--namespace', release, '--dry-run=server', '--set', `watch.namespaces={${release}}`, '--set', 'scorer.autoscaling.enabled=true']);
    expect(hpa.stdout).toContain('scoringjobs -w\n\nServed models that set no spec.serving.autoscaling get a HorizontalPodAutoscaler: 1 to 5 scoring Pods\nat 70% CPU.');
    expect(hpa.stdout).toContain('minReplicas = maxReplicas.\n\nHelm never upgrades CRDs.');
  });

  it('installs into a namespace that enforces Pod Security restricted, and so do the Pods the operator creates', async () => {
    const namespace = await ns('chart-restricted');
    await requestJson(kc, 'PATCH', `/api/v1/namespaces/${namespace}`, {
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } } },
    });
    const objects = await helmTemplate('orchard', namespace, { 'gpuTrainerImage.enabled': true });
    // The ServiceAccounts the Pods name must exist for admission.
    for (const sa of objects.filter((o) => o.kind === 'ServiceAccount')) await createObject(kc, sa);
    const operatorPod = objects.find((o) => o.kind === 'Deployment').spec.template;

    const uid = '00000000-0000-4000-8000-000000000001';
    const trainingDefaults = { image: 'orchard-runtime:test', gpuImage: 'orchard-runtime-gpu:test', artifactRoot: 'gs://bucket/runs', serviceAccountName: 'orchard-trainer', backoffLimit: 1 };
    const run = (device: 'CPU' | 'GPU') => {
      const spec = exampleTrainingRun('salaries.yaml');
      return { metadata: { name: `run-${device.toLowerCase()}`, namespace, uid }, spec: { ...spec, compute: { ...spec.compute, device, ...(device === 'GPU' ? { gpus: 1 } : {}) } } };
    };
    const model: RegisteredModelObject = {
      metadata: { name: 'salaries', namespace, uid },
      spec: registeredModelSpec.parse({ task: 'Regression', serving: { canary: { challengerPercent: 10 } } }),
    };
    const version = (v: number) => ({ version: v, trainingRun: `r${v}`, createdTime: '2026-11-23T10:00:00Z', task: 'Regression' as const, metrics: {}, artifactUri: `gs://bucket/runs/r${v}/` });
    const sj = {
      metadata: { name: 'nightly', namespace, uid },
      spec: scoringJobSpec.parse({ modelRef: { name: 'salaries' }, input: { sources: [{ uri: 'gs://bucket/in.csv' }] }, output: { uri: 'gs://bucket/out' }, shards: 2 }),
    };
    const templates: Record<string, any> = {
      operator: operatorPod,
      'training (CPU)': buildTrainingJob(run('CPU') as any, trainingDefaults).spec.template,
      'training (GPU)': buildTrainingJob(run('GPU') as any, trainingDefaults).spec.template,
      'online scoring': buildScoringDeployment(model, version(2) as any, version(3) as any, { image: 'orchard-runtime:test', serviceAccountName: 'orchard-scorer' }).spec.template,
      'batch scoring': buildScoringJob(sj as any, { model: { version: 2, artifactUri: 'gs://bucket/runs/r2/', task: 'Regression' } }, { image: 'orchard-runtime:test', serviceAccountName: 'orchard-scorer', backoffLimit: 1 }).spec.template,
    };
    for (const [what, template] of Object.entries(templates)) {
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'admission-', namespace, labels: template.metadata?.labels ?? {} }, spec: template.spec };
      await createObject(kc, pod, { dryRun: true }).catch((err) => {
        throw new Error(`${what} Pod rejected: ${apiErrorMessage(err)}`, { cause: err });
      });
    }
    // The namespace does enforce: a Pod without the restricted settings is refused.
    const plain = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'plain-', namespace }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    const refused = await createObject(kc, plain, { dryRun: true }).then(() => undefined, (err) => err);
    expect(statusCode(refused)).toBe(403);
    expect(String(refused.message)).toMatch(/restricted/);
  });
});

describe('what training Pods may read and run as', () => {
  it('passes the file roots and source hosts from the values to every training Job', async () => {
    const values = COMBINATIONS['admission policy and source limits']!;
    const env = await operatorEnv(values);
    expect(env).toMatchObject({ ORCHARD_TRAINER_FILE_ROOTS: '/mnt/datasets', ORCHARD_TRAINER_SOURCE_HOSTS: 'data.example.com,*.storage.example.com' });
    const config = loadConfig([], env);
    const run = { metadata: { name: 'r1', namespace: 'ml', uid: '00000000-0000-4000-8000-000000000001' }, spec: exampleTrainingRun('salaries.yaml') };
    const job = buildTrainingJob(run, { image: config.image, artifactRoot: config.artifactRoot, backoffLimit: 1, fileRoots: config.trainerFileRoots, sourceHosts: config.trainerSourceHosts });
    const jobEnv = Object.fromEntries(job.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(JSON.parse(jobEnv.ORCHARD_FILE_ROOTS)).toEqual(['/opt/orchard/data', '/mnt/datasets']);
    expect(JSON.parse(jobEnv.ORCHARD_SOURCE_HOSTS)).toEqual(['data.example.com', '*.storage.example.com']);
    const none = await operatorEnv({});
    expect(Object.keys(none).filter((k) => k === 'ORCHARD_TRAINER_FILE_ROOTS' || k === 'ORCHARD_TRAINER_SOURCE_HOSTS')).toEqual([]);
    expect((await helmTemplate('orchard', 'orchard-system', {})).filter((o) => o.kind.startsWith('ValidatingAdmissionPolicy'))).toEqual([]);
    await expect(helmTemplate('orchard', 'orchard-system', { 'trainer.sourceHosts': '{https://data.example.com/}' })).rejects.toThrow(/sourceHosts/);
    await expect(helmTemplate('orchard', 'orchard-system', { 'trainer.fileRoots': '{data}' })).rejects.toThrow(/fileRoots/);
  });

  it("lets TrainingRuns, ScoringJobs and RegisteredModels name only the allowed ServiceAccounts when the chart's policy is installed", async () => {
    const namespace = await ns('chart-accounts');
    const objects = await helmTemplate('orchard', namespace, { 'watch.mode': 'Namespaces', 'watch.namespaces': `{${namespace}}`, 'admissionPolicy.serviceAccountNames': '{team-a-trainer}' });
    const policy = objects.filter((o) => o.kind === 'ValidatingAdmissionPolicy' || o.kind === 'ValidatingAdmissionPolicyBinding');
    expect(policy.map((o) => o.kind)).toEqual(['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
    const remove = () => Promise.all(policy.map((o) => requestJson(kc, 'DELETE', `/apis/admissionregistration.k8s.io/v1/${o.kind === 'ValidatingAdmissionPolicy' ? 'validatingadmissionpolicies' : 'validatingadmissionpolicybindings'}/${o.metadata.name}`).catch(() => undefined)));
    const spec = exampleTrainingRun('salaries.yaml');
    const trainingRun = (name: string, serviceAccountName?: string) => ({
      apiVersion: 'orchard.dev/v1alpha1',
      kind: 'TrainingRun',
      metadata: { name, namespace },
      spec: { ...spec, ...(serviceAccountName ? { serviceAccountName } : {}) },
    });
    // A run from before the policy: it must stay updatable (labels, finalizers) so it can be deleted.
    await createObject(kc, trainingRun('before', 'cluster-reader'));
    await createObject(kc, { apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name: 'before', namespace }, spec: { serving: { serviceAccountName: 'cluster-reader' } } });
    try {
      await applyObjects(kc, policy);
      const refusal = (obj: any) => createObject(kc, obj, { dryRun: true }).then(() => undefined, (err) => err);
      // The API server compiles a new policy in the background: wait until it refuses.
      const refused = await eventually('the policy to refuse a TrainingRun', () => refusal(trainingRun('stolen', 'cluster-reader')));
      expect(statusCode(refused)).toBe(422);
      expect(apiErrorMessage(refused)).toMatch(
        /spec\.serviceAccountName: cluster-reader is not a ServiceAccount Orchard Pods may run as here \(allowed: team-a-trainer, orchard-trainer, orchard-scorer\): leave it unset for the default, or ask the cluster admin to add it to the chart value admissionPolicy\.serviceAccountNames/,
      );
      for (const allowed of [undefined, 'team-a-trainer', 'orchard-trainer']) expect(await refusal(trainingRun(`ok-${allowed ?? 'default'}`, allowed))).toBeUndefined();

      const scoringJob = { apiVersion: 'orchard.dev/v1alpha1', kind: 'ScoringJob', metadata: { name: 'nightly', namespace }, spec: { modelRef: { name: 'salaries' }, input: { sources: [{ uri: 'gs://bucket/in.csv' }] }, output: { uri: 'gs://bucket/out' }, serviceAccountName: 'default' } };
      expect(apiErrorMessage(await refusal(scoringJob))).toMatch(/^.*spec\.serviceAccountName: default is not a ServiceAccount Orchard Pods may run as here/);
      const model = (retrain: object) => ({ apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name: 'salaries', namespace }, spec: { task: 'Regression', drift: { onDrift: 'Retrain' }, retrain } });
      const { modelRef: _ref, ...template } = spec;
      expect(apiErrorMessage(await refusal(model({ template: { ...template, serviceAccountName: 'default' } })))).toMatch(/spec\.retrain\.template\.serviceAccountName: default is not a ServiceAccount Orchard Pods may run as here/);
      expect(await refusal(model({ template: { ...template, serviceAccountName: 'team-a-trainer' } }))).toBeUndefined();
      // Scoring Pods run as spec.serving.serviceAccountName: the same list applies there.
      const served = (serviceAccountName: string) => ({ apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name: 'served', namespace }, spec: { serving: { serviceAccountName } } });
      expect(apiErrorMessage(await refusal(served('default')))).toMatch(
        /spec\.serving\.serviceAccountName: default is not a ServiceAccount Orchard Pods may run as here \(allowed: team-a-trainer, orchard-trainer, orchard-scorer\)/,
      );
      expect(await refusal(served('orchard-scorer'))).toBeUndefined();
      const modelPath = `/apis/orchard.dev/v1alpha1/namespaces/${namespace}/registeredmodels/before`;
      const patchModel = (body: object) => requestJson(kc, 'PATCH', modelPath, { contentType: 'application/merge-patch+json', body }).then(() => undefined, (err) => err);
      expect(await patchModel({ metadata: { labels: { team: 'a' } } })).toBeUndefined();
      expect(apiErrorMessage(await patchModel({ spec: { serving: { serviceAccountName: 'default' } } }))).toMatch(/spec\.serving\.serviceAccountName: default is not a ServiceAccount/);

      const runPath = `/apis/orchard.dev/v1alpha1/namespaces/${namespace}/trainingruns/before`;
      const patch = (body: object) => requestJson(kc, 'PATCH', runPath, { contentType: 'application/merge-patch+json', body }).then(() => undefined, (err) => err);
      expect(await patch({ metadata: { labels: { team: 'a' } } })).toBeUndefined();
      expect(apiErrorMessage(await patch({ spec: { serviceAccountName: 'default' } }))).toMatch(/spec\.serviceAccountName: default is not a ServiceAccount/);

      // Only the namespaces this release serves: elsewhere the policy does not apply.
      const other = await ns('chart-accounts-other');
      expect(await refusal({ ...trainingRun('elsewhere', 'cluster-reader'), metadata: { name: 'elsewhere', namespace: other } })).toBeUndefined();
    } finally {
      await remove();
    }
  });
});
