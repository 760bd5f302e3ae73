// The local node agent on its own control plane (kube-scheduler and kube-controller-manager, not
// the shared one: a Node there would get other files' Pods). Orchard's own Pods, built from the
// operator's golden files, run as local processes of the real runtime-image entrypoint: the
// training Job completes through the Job controller, a bad input fails it by its pod failure
// policy, the scoring Deployment serves on its Pod's address, anything else is refused by field,
// and a SIGKILLed agent leaves no process behind.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseAllDocuments } from 'yaml';
import { loadKubeConfig, requestJson, type KubeConfig } from '../../operator/src/kube/client.js';
import { ControlPlane } from '../../operator/src/local/control-plane.js';
import { leaseRenewer, startNodeAgent, type NodeAgent } from '../../operator/src/local/node-agent.js';
import { orchardRuntimeImage } from '../../operator/src/local/node/images.js';
import { runPipeline, type PipelineOptions } from '../../operator/src/training/pipeline.js';
import { createNamespace, repoRoot } from '../support/cluster.js';
import { eventually } from '../support/wait.js';

// Set to a range made local on this machine (`ip route add local 198.51.100.0/24 dev lo`) to see
// Pods listed in EndpointSlices; the default loopback addresses are refused there by the API server.
const POD_ADDRESSES = process.env.ORCHARD_TEST_POD_ADDRESSES;
const NODE = 'local-1';
const RUNTIME_IMAGE = 'ghcr.io/orchard/orchard:1.0.0';

let cp: ControlPlane;
let kc: KubeConfig;
let agent: NodeAgent;
let ns: string;
let stateDir: string;
let artifacts: string;

const golden = (path: string): any[] => parseAllDocuments(readFileSync(join(repoRoot, 'operator', 'src', 'controllers', path), 'utf8')).map((d) => d.toJS());
const get = (path: string) => requestJson(kc, 'GET', path);
const getOrUndefined = (path: string) => get(path).catch(() => undefined);
const condition = (obj: any, type: string) => obj?.status?.conditions?.find((c: any) => c.type === type);
const podsOf = async (selector: string): Promise<any[]> => (await get(`/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`)).items;
/** A bare Pod in the test's namespace. */
const createPod = (name: string, spec: Record<string, unknown>) => requestJson(kc, 'POST', `/api/v1/namespaces/${ns}/pods`, { body: { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec } });
/** The Pod once `ok` holds for it. */
const podWhen = (name: string, what: string, ok: (pod: any) => unknown, timeoutMs?: number) =>
  eventually(what, async () => {
    const p = await get(`/api/v1/namespaces/${ns}/pods/${name}`);
    return ok(p) ? p : undefined;
  }, timeoutMs);

/** The salaries example, small: 20 trees on three features, from the image's /opt/orchard/data. */
function trainingSpec(source: string) {
  return {
    modelRef: { name: 'salaries' },
    task: 'Regression',
    data: { source: { uri: source }, filters: [{ column: 'work_year', max: '2023' }], dedupe: 'ExactRows', split: { strategy: 'Random', validationFraction: '0.1', testFraction: '0.2', seed: 1 } },
    features: {
      target: { column: 'salary_in_usd', transform: 'Log' },
      columns: [
        { name: 'experience_level', type: 'Categorical' },
        { name: 'remote_ratio', type: 'Numeric' },
        { name: 'company_size', type: 'Categorical' },
      ],
    },
    catboost: { iterations: 20, depth: 4 },
    compute: { device: 'CPU' },
  };
}

/** The TrainingRun controller's golden Job, in this namespace, with a small spec and a local artifact location. */
function trainingJob(name: string, source: string, artifactUri: string) {
  const [job] = golden('training-run/testdata/job-cpu.yaml');
  job.metadata = { name, namespace: ns };
  for (const c of [...job.spec.template.spec.initContainers, ...job.spec.template.spec.containers]) {
    c.env.find((e: any) => e.name === 'ORCHARD_TRAINING_SPEC').value = JSON.stringify(trainingSpec(source));
    const to = c.args.indexOf('--to');
    if (to >= 0) c.args[to + 1] = artifactUri;
  }
  return job;
}

/**
 * The model the training Job published (its test runs first); trained here in-process when that
 * test was left out (`-t`), so the serving tests run on their own too.
 */
async function trainedModel(): Promise<string> {
  const uri = `file://${artifacts}/run-1/`;
  if (!existsSync(join(artifacts, 'run-1', 'reference-profile.json'))) {
    const spec = trainingSpec(`file://${repoRoot}/data/ai-jobs-salaries/salaries.csv`) as unknown as PipelineOptions['spec'];
    await runPipeline({ spec, workDir: join(artifacts, 'work'), artifactUri: uri, producerVersion: 'test' });
  }
  return uri;
}

async function jobCondition(name: string, type: string): Promise<any> {
  return eventually(`Job ${name} ${type}`, async () => {
    const job = await get(`/apis/batch/v1/namespaces/${ns}/jobs/${name}`);
    return condition(job, type)?.status === 'True' && job;
  }, 90_000, 250);
}

const timeOf = (t: string) => Date.parse(t);

/** Live processes whose process group is one of `groups` (a container's supervisor pid is its group); zombies waiting to be reaped do not count. */
function groupMembers(groups: number[]): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid pgrp …; comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (groups.includes(Number(pgrp)) && state !== 'Z' && state !== 'X') members.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return members;
}

/** Whether a socket listens on exactly ip:port (not 0.0.0.0), from /proc/net/tcp: addresses there are little-endian hex. */
function listeningOn(ip: string, port: number): boolean {
  const hex = ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0').toUpperCase()).reverse().join('');
  const local = `${hex}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').some((line) => line.trim().split(/\s+/)[1] === local && line.trim().split(/\s+/)[3] === '0A');
}

const pidOf = (status: any): number => Number(String(status.containerID).replace('orchard-local://', ''));

function httpJson(url: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(url, { method: payload ? 'POST' : 'GET', timeout: 5000, headers: payload ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

beforeAll(async () => {
  const started = Date.now();
  cp = await ControlPlane.start({ scheduler: true, nodes: [NODE, 'local-2'], timeoutMs: 60_000 });
  kc = loadKubeConfig(cp.kubeconfig);
  stateDir = await mkdtemp(join(tmpdir(), 'orchard-node-'));
  // A host directory Pods share, as they would share a bucket: publish writes here, the scorer reads.
  artifacts = await mkdtemp(join(tmpdir(), 'orchard-node-artifacts-'));
  // The agents run as kubelets do: with their node's identity, under the Node authorizer and NodeRestriction.
  agent = await startNodeAgent({
    kc: loadKubeConfig(cp.nodeKubeconfig(NODE)),
    nodeName: NODE,
    repoRoot,
    stateDir,
    sharedPaths: [repoRoot, artifacts],
    restartBackoff: { initialMs: 300, maxMs: 2000 },
    ...(POD_ADDRESSES ? { podAddresses: POD_ADDRESSES } : {}),
  });
  ns = await createNamespace(kc, 'agent');
  for (const name of ['orchard-trainer', 'orchard-scorer']) {
    await requestJson(kc, 'POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } } });
  }
  process.stdout.write(`node agent test: control plane and agent ready in ${Date.now() - started} ms\n`);
}, 90_000);

afterAll(async () => {
  await agent?.stop();
  await cp?.stop();
  await rm(stateDir, { recursive: true, force: true });
  await rm(artifacts, { recursive: true, force: true });
});

describe('the local node agent', () => {
  it('registers a Ready Node with a Lease heartbeat and room for Orchard Pods', async () => {
    const node = await get(`/api/v1/nodes/${NODE}`);
    expect(node.metadata.labels).toMatchObject({ 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': NODE });
    expect(condition(node, 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
    expect(node.status.allocatable).toMatchObject({ cpu: '32', memory: '128Gi', pods: '110' });
    const lease = await get(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE}`);
    expect(lease.spec).toMatchObject({ holderIdentity: NODE, leaseDurationSeconds: 40 });
  });

  it('acts with its node\'s identity: its own Node and Lease, not a Secret that no Pod of its node uses', async () => {
    const asNode = loadKubeConfig(cp.nodeKubeconfig(NODE));
    await requestJson(kc, 'POST', `/api/v1/namespaces/${ns}/secrets`, { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'not-for-nodes' }, stringData: { key: 'value' } } });
    await expect(requestJson(asNode, 'GET', `/api/v1/namespaces/${ns}/secrets/not-for-nodes`)).rejects.toMatchObject({ code: 403 });
    await expect(requestJson(asNode, 'GET', `/api/v1/namespaces/${ns}/secrets`)).rejects.toMatchObject({ code: 403 });
    expect((await requestJson(asNode, 'GET', `/api/v1/nodes/${NODE}`)).metadata.name).toBe(NODE);
  });

  it('renews a Lease across another writer\'s update and a deletion', async () => {
    const path = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/lease-test';
    // The Lease is owned by its Node, which must exist or the garbage collector removes the Lease
    // under the test: an unschedulable one, so no Pod lands there.
    const node = await requestJson(kc, 'POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'lease-test' }, spec: { unschedulable: true } } });
    const renew = leaseRenewer(kc, 'lease-test', node.metadata.uid);
    const at = (s: number) => new Date(Date.UTC(2026, 10, 23, 12, 0, s));
    const renewTime = async () => (await get(path)).spec.renewTime as string;
    await renew(at(0)); // created
    await renew(at(10));
    expect(await renewTime()).toBe('2026-11-23T12:00:10.000000Z');
    // Someone else wrote it meanwhile: the cached copy is stale (409), so it reads and updates.
    const lease = await get(path);
    await requestJson(kc, 'PUT', path, { body: { ...lease, metadata: { ...lease.metadata, labels: { touched: 'yes' } } } });
    await renew(at(20));
    expect(await get(path)).toMatchObject({ metadata: { labels: { touched: 'yes' } }, spec: { renewTime: '2026-11-23T12:00:20.000000Z', holderIdentity: 'lease-test' } });
    // Deleted: created again.
    await requestJson(kc, 'DELETE', path);
    await renew(at(30));
    expect(await renewTime()).toBe('2026-11-23T12:00:30.000000Z');
    await requestJson(kc, 'DELETE', '/api/v1/nodes/lease-test');
  });

  it('runs the training Job as the operator builds it: init containers in order, the run summary as termination message, the Job Complete', async () => {
    const started = Date.now();
    const artifactUri = `file://${artifacts}/run-1/`;
    await requestJson(kc, 'POST', `/apis/batch/v1/namespaces/${ns}/jobs`, { body: trainingJob('train-ok', 'file:///opt/orchard/data/ai-jobs-salaries/salaries.csv', artifactUri) });
    await jobCondition('train-ok', 'Complete');
    const [pod] = await podsOf('batch.kubernetes.io/job-name=train-ok');
    process.stdout.write(`node agent test: training Job complete in ${Date.now() - started} ms\n`);

    expect(pod.spec.nodeName).toBe(NODE);
    expect(pod.status.phase).toBe('Succeeded');
    expect(pod.status.hostIP).toBe('127.0.0.1');
    expect(pod.status.podIP).toMatch(POD_ADDRESSES ? /^\d+\.\d+\.\d+\.\d+$/ : /^127\.0\.0\.\d+$/);
    const init = pod.status.initContainerStatuses;
    expect(init.map((s: any) => [s.name, s.state.terminated?.exitCode, s.state.terminated?.reason, s.ready])).toEqual([
      ['prepare', 0, 'Completed', true],
      ['train', 0, 'Completed', true],
      ['export', 0, 'Completed', true],
    ]);
    // One after another: each starts once the one before it has finished.
    for (let i = 1; i < init.length; i++) expect(timeOf(init[i].state.terminated.startedAt)).toBeGreaterThanOrEqual(timeOf(init[i - 1].state.terminated.finishedAt));
    const publish = pod.status.containerStatuses[0];
    expect(publish.state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(timeOf(publish.state.terminated.startedAt)).toBeGreaterThanOrEqual(timeOf(init[2].state.terminated.finishedAt));
    // The CLI wrote its summary to ORCHARD_TERMINATION_MESSAGE_PATH=/dev/termination-log, mapped to the container's own file.
    const summary = JSON.parse(publish.state.terminated.message);
    expect(summary).toMatchObject({ artifactUri, trees: 20, rows: { train: expect.any(Number) } });
    expect(existsSync(join(artifacts, 'run-1', 'model.onnx'))).toBe(true);
    expect(condition(pod, 'Initialized')?.status).toBe('True');
    expect(condition(pod, 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
    // Logs stay where docs/local.md says, one file per container run.
    const podDir = agent.podDir(pod.metadata.uid)!;
    expect(await readFile(join(podDir, 'containers', 'prepare', '0.log'), 'utf8')).toMatch(/prepare finished/);

    // Status is written only when it changes: a finished Pod is left alone.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await get(`/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`)).metadata.resourceVersion).toBe(pod.metadata.resourceVersion);
  }, 120_000);

  it('fails the Pod with the exit code and message of a step that exits 2, and the Job by its pod failure policy', async () => {
    await requestJson(kc, 'POST', `/apis/batch/v1/namespaces/${ns}/jobs`, { body: trainingJob('train-bad', 'file:///opt/orchard/data/ai-jobs-salaries/missing.csv', `file://${artifacts}/run-2/`) });
    const job = await jobCondition('train-bad', 'Failed');
    expect(condition(job, 'Failed')).toMatchObject({ reason: 'PodFailurePolicy', message: expect.stringContaining('exit code 2') });
    const [pod] = await podsOf('batch.kubernetes.io/job-name=train-bad');
    expect(pod.status.phase).toBe('Failed');
    const [prepare, train, exported] = pod.status.initContainerStatuses;
    expect(prepare.state.terminated).toMatchObject({ exitCode: 2, reason: 'Error' });
    // No termination file: FallbackToLogsOnError gives the end of the log, the CLI's one line.
    expect(prepare.state.terminated.message).toMatch(/^orchard prepare: .*missing\.csv does not exist/);
    expect([train.state, exported.state]).toEqual([{ waiting: { reason: 'PodInitializing' } }, { waiting: { reason: 'PodInitializing' } }]);
    expect(condition(pod, 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized' });
  }, 60_000);

  it('serves the scoring Deployment on its Pod address: probes make it Ready, 127.0.0.1 reaches the drift sidecar, deletion ends its processes', async () => {
    const started = Date.now();
    const [deployment] = golden('registered-model/testdata/deployment.yaml');
    const [service] = golden('registered-model/testdata/service.yaml');
    for (const obj of [deployment, service]) {
      obj.metadata.namespace = ns;
      delete obj.metadata.ownerReferences;
    }
    const modelUri = await trainedModel();
    for (const c of deployment.spec.template.spec.containers) {
      for (const e of c.env) if (e.value.startsWith('{')) e.value = JSON.stringify({ ...JSON.parse(e.value), modelUri });
    }
    // The scorer drains 5 s after SIGTERM by default; the test need not wait that long.
    deployment.spec.template.spec.containers[0].env.push({ name: 'ORCHARD_DRAIN_DELAY_MS', value: '300' });
    await requestJson(kc, 'POST', `/apis/apps/v1/namespaces/${ns}/deployments`, { body: deployment });
    await requestJson(kc, 'POST', `/api/v1/namespaces/${ns}/services`, { body: service });

    const pod = await eventually('a Ready scoring Pod', async () => (await podsOf('app.kubernetes.io/component=scorer')).find((p) => condition(p, 'Ready')?.status === 'True'), 60_000, 250);
    process.stdout.write(`node agent test: scoring Pod Ready in ${Date.now() - started} ms\n`);
    expect(pod.status.containerStatuses.map((s: any) => [s.name, s.ready, s.started, Object.keys(s.state)[0]])).toEqual([
      ['scorer', true, true, 'running'],
      ['drift', true, true, 'running'],
    ]);
    expect(condition(pod, 'ContainersReady')).toMatchObject({ status: 'True', lastTransitionTime: expect.any(String) });

    const ip = pod.status.podIP;
    // ORCHARD_LISTEN_ADDRESS: both servers listen on the Pod's address, not on every address.
    expect([listeningOn(ip, 8080), listeningOn(ip, 9091)]).toEqual([true, true]);
    const answer = await httpJson(`http://${ip}:8080/v1/models/salaries:predict`, { instances: [{ experience_level: 'SE', remote_ratio: 0, company_size: 'M' }] });
    expect(answer).toMatchObject({ status: 200, json: { model_name: 'salaries', predictions: [expect.any(Number)] } });
    // The scorer sends drift counts to http://127.0.0.1:9092 (its spec), the monitor reads on 9091: the Pod's own address here.
    await eventually('the drift sidecar to count the scored row', async () => (await httpJson(`http://${ip}:9091/v1/drift`)).json.rows >= 1, 10_000);
    await expect(httpJson(`http://${ip}:9091/v1/drift`)).resolves.toMatchObject({ status: 200 });

    if (POD_ADDRESSES) {
      const slice = await eventually('the EndpointSlice to list the Pod', async () => {
        const slices = await get(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io/service-name=salaries-scorer`);
        return slices.items.find((s: any) => s.endpoints?.some((e: any) => e.addresses.includes(ip) && e.conditions.ready));
      });
      expect(slice.ports).toEqual([expect.objectContaining({ name: 'http', port: 8080 })]);
    } else {
      // Loopback addresses run fine, but the API server refuses them in EndpointSlices.
      const event = await eventually('the EndpointSlice controller to report the loopback address', async () => {
        const events = await get(`/api/v1/namespaces/${ns}/events?fieldSelector=involvedObject.name=salaries-scorer,reason=FailedToUpdateEndpointSlices`);
        return events.items[0];
      });
      expect(event.message).toContain(`"${ip}": may not be in the loopback range`);
    }

    const groups = pod.status.containerStatuses.map(pidOf);
    expect(groupMembers(groups).length).toBeGreaterThanOrEqual(2);
    await requestJson(kc, 'DELETE', `/apis/apps/v1/namespaces/${ns}/deployments/${deployment.metadata.name}?propagationPolicy=Foreground`);
    await eventually('the scoring Pod to be deleted', async () => !(await getOrUndefined(`/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`)), 30_000, 250);
    expect(groupMembers(groups)).toEqual([]);
  }, 90_000);

  it('fills configMap, secret and downwardAPI volumes, items and all', async () => {
    await requestJson(kc, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'files' }, data: { a: 'from a configmap' } } });
    await requestJson(kc, 'POST', `/api/v1/namespaces/${ns}/secrets`, { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'files' }, stringData: { b: 'from a secret' } } });
    await createPod('files', {
      restartPolicy: 'Never',
      volumes: [
        { name: 'cm', configMap: { name: 'files' } },
        { name: 'sec', secret: { secretName: 'files', items: [{ key: 'b', path: 'renamed' }] } },
        { name: 'info', downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
      ],
      containers: [
        {
          name: 'main',
          image: RUNTIME_IMAGE,
          // Paths travel in env values, which the agent maps to the volumes' directories; the log becomes the message.
          command: ['sh', '-c', 'cat "$A"; echo; cat "$B"; echo; cat "$C"; exit 1'],
          env: [{ name: 'A', value: '/cm/a' }, { name: 'B', value: '/sec/renamed' }, { name: 'C', value: '/info/name' }],
          terminationMessagePolicy: 'FallbackToLogsOnError',
          volumeMounts: [{ name: 'cm', mountPath: '/cm' }, { name: 'sec', mountPath: '/sec' }, { name: 'info', mountPath: '/info' }],
        },
      ],
    });
    const pod = await podWhen('files', 'the Pod to finish', (p) => p.status.phase === 'Failed');
    expect(pod.status.containerStatuses[0].state.terminated.message).toBe('from a configmap\nfrom a secret\nfiles');
  });

  it('refuses an image it does not map and a hostPath volume, naming the fields', async () => {
    await createPod('unsupported', {
      restartPolicy: 'Never',
      volumes: [{ name: 'host', hostPath: { path: '/etc' } }],
      containers: [{ name: 'main', image: 'busybox:1.36', command: ['true'], volumeMounts: [{ name: 'host', mountPath: '/host' }] }],
    });
    const pod = await podWhen('unsupported', 'the Pod to fail', (p) => p.status.phase === 'Failed');
    expect(pod.status.reason).toBe('UnsupportedPodSpec');
    expect(pod.status.message).toContain('spec.volumes[0].hostPath: hostPath volumes are not supported');
    expect(pod.status.message).toContain('spec.containers[0].image: "busybox:1.36" is not an image this node can run');
    expect(pod.status.containerStatuses[0].state.waiting).toEqual({ reason: 'UnsupportedPodSpec', message: expect.stringMatching(/^spec\.containers\[0\]\.image: /) });
  });

  it('restarts a failing container with back-off by restartPolicy OnFailure, counting restarts', async () => {
    await createPod('crashing', {
      restartPolicy: 'OnFailure',
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: 'orchard:local', command: ['sh', '-c', 'echo "failing in $PWD"; exit 3'], terminationMessagePolicy: 'FallbackToLogsOnError' }],
    });
    const pod = await podWhen('crashing', 'two restarts', (p) => p.status.containerStatuses?.[0]?.restartCount >= 2);
    const status = pod.status.containerStatuses[0];
    expect(status.lastState.terminated).toMatchObject({ exitCode: 3, reason: 'Error', message: `failing in ${repoRoot}\n` });
    expect(pod.status.phase).not.toBe('Failed');
    await requestJson(kc, 'DELETE', `/api/v1/namespaces/${ns}/pods/crashing`);
    await eventually('the crashing Pod to be deleted', async () => !(await getOrUndefined(`/api/v1/namespaces/${ns}/pods/crashing`)));
  });

  it('restarts a container whose liveness probe fails, and keeps it unready while its readiness probe fails', async () => {
    await createPod('unhealthy', {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image: RUNTIME_IMAGE,
          command: ['sh', '-c', 'sleep 300'],
          ports: [{ name: 'nothing', containerPort: 9999 }],
          readinessProbe: { tcpSocket: { port: 'nothing' }, periodSeconds: 1 },
          livenessProbe: { tcpSocket: { port: 9999 }, periodSeconds: 1, failureThreshold: 2 },
        },
      ],
    });
    const pod = await podWhen('unhealthy', 'a restart by the liveness probe', (p) => p.status.containerStatuses?.[0]?.restartCount >= 1, 20_000);
    // SIGTERM ended it: 128 + 15.
    expect(pod.status.containerStatuses[0].lastState.terminated).toMatchObject({ exitCode: 143, reason: 'Error' });
    expect(pod.status.containerStatuses[0].ready).toBe(false);
    expect(condition(pod, 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
    await requestJson(kc, 'DELETE', `/api/v1/namespaces/${ns}/pods/unhealthy`);
  });

  it('leaves no container process behind when the agent is SIGKILLed, and a new agent runs the Pod again', async () => {
    const second = await mkdtemp(join(tmpdir(), 'orchard-node-2-'));
    const startAgent = async (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'operator/src/local/node/cli.ts', '--kubeconfig', cp.nodeKubeconfig('local-2'), '--node-name', 'local-2', '--state-dir', second, '--pod-addresses', '127.0.1.0/24', '--shared-path', artifacts], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // Its log lines are kept for a failure message rather than printed into the test run.
      let log = '';
      child.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
      await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`the node agent exited with ${code}:\n${log}`)));
      });
      return child;
    };
    try {
      let child = await startAgent();
      const driftSpec = { model: 'salaries', version: 1, modelUri: await trainedModel(), port: 9091, windowRows: 100, windowSeconds: 60, minRows: 10, driftShare: '0.5' };
      await createPod('survivor', {
        nodeSelector: { 'kubernetes.io/hostname': 'local-2' },
        terminationGracePeriodSeconds: 1,
        containers: [
          { name: 'drift', image: RUNTIME_IMAGE, args: ['drift'], env: [{ name: 'ORCHARD_DRIFT_SPEC', value: JSON.stringify(driftSpec) }] },
          // A process tree: the shell and two children of its own.
          { name: 'tree', image: RUNTIME_IMAGE, command: ['sh', '-c', 'sleep 300 & sleep 301 & wait'] },
        ],
      });
      const running = await podWhen('survivor', 'both containers running', (p) => p.status.containerStatuses?.every((s: any) => s.state.running));
      const groups = running.status.containerStatuses.map(pidOf);
      // Supervisor, watchdog and the container's own processes.
      await eventually('the process tree', async () => groupMembers(groups).length >= 6, 5000);

      child.kill('SIGKILL');
      const killedAt = Date.now();
      await eventually('every container process to end', async () => groupMembers(groups).length === 0, 5000, 50);
      process.stdout.write(`node agent test: container processes gone ${Date.now() - killedAt} ms after SIGKILL of the agent\n`);

      child = await startAgent();
      const again = await podWhen('survivor', 'the Pod running again', (p) => p.status.containerStatuses.every((s: any) => s.state.running && s.restartCount === 1));
      expect(again.status.containerStatuses[1].lastState.terminated).toMatchObject({ exitCode: 137, reason: 'ContainerStatusUnknown' });
      expect(again.status.podIP).toBe(running.status.podIP);
      const regroups = again.status.containerStatuses.map(pidOf);

      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      expect(groupMembers(regroups)).toEqual([]);
    } finally {
      await requestJson(kc, 'DELETE', `/api/v1/namespaces/${ns}/pods/survivor`, { body: { gracePeriodSeconds: 0 } }).catch(() => undefined);
      await rm(second, { recursive: true, force: true });
    }
  }, 60_000);

  it('maps the runtime image as images/runtime/Dockerfile defines it', () => {
    const dockerfile = readFileSync(join(repoRoot, 'images', 'runtime', 'Dockerfile'), 'utf8');
    const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const image = orchardRuntimeImage(repoRoot);
    const env = Object.fromEntries([...final.matchAll(/^\s*(?:ENV\s+)?([A-Z_]+)=(\S+?)\s*\\?$/gm)].map((m) => [m[1], m[2]]));
    expect(env).toEqual(image.env);
    expect(final).toContain(`WORKDIR ${image.workingDir}`);
    expect(final).toContain(`ENTRYPOINT ${JSON.stringify(image.entrypoint)}`);
    expect(final).toContain('COPY data /opt/orchard/data');
    const wrapper = readFileSync(join(repoRoot, 'images', 'runtime', 'orchard'), 'utf8');
    expect(wrapper).toContain(`exec node ${image.executables['/usr/local/bin/orchard']!.slice(1).join(' ')} "$@"`);
  });
});

