// The operator as a process: probes and metrics over HTTP, leader election between two replicas,
// graceful shutdown on SIGTERM, and a SIGKILL mid-flight that loses and duplicates nothing.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { requestJson } from '../../operator/src/kube/client.js';
import { createNamespace, repoRoot, testKubeConfig } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { operatorKubeConfigFile } from '../support/operator-access.js';
import { eventually, freePort } from '../support/wait.js';

const kc = testKubeConfig();
let namespace: string;
/** The operator's kubeconfig: a token of the chart's ServiceAccount, bound by its ClusterRole and its leader-election Role in `namespace`. */
let operatorKubeconfig: string;
const children: ChildProcess[] = [];

interface Replica {
  child: ChildProcess;
  port: number;
  logs: string[];
  exited: Promise<number | null>;
}

/** Up to this many ports per replica: the operator logs the port it was given, not the one it bound, so it cannot listen on port 0. */
const portAttempts = 5;

async function startReplica(identity: string): Promise<Replica> {
  for (let attempt = 1; ; attempt++) {
    // Another worker can take the port between freePort() closing it and the operator binding it: then try another.
    const replica = spawnReplica(identity, await freePort());
    const outcome = await Promise.race([replica.listening.then(() => 'listening' as const), replica.exited.then(() => 'exited' as const)]);
    if (outcome === 'listening') return replica;
    const taken = replica.logs.some((l) => l.includes('EADDRINUSE'));
    if (!taken || attempt === portAttempts) throw new Error(`${identity} exited before listening on port ${replica.port} (attempt ${attempt}):\n${replica.logs.join('\n')}`);
  }
}

function spawnReplica(identity: string, port: number): Replica & { listening: Promise<void> } {
  // node --import tsx: one process, so SIGKILL kills the operator itself (the tsx CLI would leave its child running).
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'operator', 'src', 'main.ts')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      KUBECONFIG: operatorKubeconfig,
      ORCHARD_NAMESPACE: namespace,
      ORCHARD_LEASE_NAMESPACE: namespace,
      ORCHARD_IMAGE: 'orchard:test',
      ORCHARD_ARTIFACT_ROOT: 'gs://orchard-test/runs',
      ORCHARD_HTTP_PORT: String(port),
      POD_NAME: identity,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  const logs: string[] = [];
  let pending = '';
  let heard = () => {};
  // 'listening' is logged once the server holds the port, so probes after it reach this replica and no other.
  const listening = new Promise<void>((resolve) => (heard = resolve));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    const lines = (pending + d).split('\n');
    pending = lines.pop()!;
    for (const line of lines.filter(Boolean)) {
      logs.push(line);
      if (line.includes('"msg":"listening"')) heard();
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, port, logs, exited, listening };
}

const http = async (r: Replica, path: string) => {
  const res = await fetch(`http://127.0.0.1:${r.port}${path}`);
  return { status: res.status, text: await res.text() };
};
const lease = () => requestJson(kc, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/orchard-operator`);

beforeAll(async () => {
  namespace = await createNamespace(kc, 'operator');
  operatorKubeconfig = await operatorKubeConfigFile({ mode: 'Cluster', leaseNamespace: namespace });
  await requestJson(kc, 'POST', `/apis/orchard.dev/v1alpha1/namespaces/${namespace}/registeredmodels`, {
    body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name: 'salaries' }, spec: { serving: { mode: 'None' } } },
  });
});

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

describe('the operator process', () => {
  it('leads, serves probes and metrics, hands over on SIGTERM, and survives SIGKILL without duplicates', async () => {
    const a = await startReplica('replica-a');
    await eventually('replica-a to lead and be ready', async () => (await http(a, '/readyz')).status === 200 && (await lease()).spec.holderIdentity === 'replica-a');
    expect((await http(a, '/healthz')).status).toBe(200);
    const b = await startReplica('replica-b');
    await eventually('replica-b to answer', async () => (await http(b, '/healthz')).status === 200);
    expect(JSON.parse((await http(b, '/readyz')).text).reason).toMatch(/standby/);

    const spec = exampleTrainingRun('salaries.yaml');
    await requestJson(kc, 'POST', `/apis/orchard.dev/v1alpha1/namespaces/${namespace}/trainingruns`, {
      body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name: 'r1' }, spec },
    });
    await eventually('the Job', () => requestJson(kc, 'GET', `/apis/batch/v1/namespaces/${namespace}/jobs/r1-train`));
    // The Job can appear before the pass that created it has finished and been counted.
    const metrics = await eventually('a counted trainingrun pass', async () => {
      const text = (await http(a, '/metrics')).text;
      return /^orchard_reconcile_total\{controller="trainingrun",result="success"\} [1-9]/m.test(text) ? text : undefined;
    });
    expect(metrics).toMatch(/^orchard_leader 1$/m);
    expect(a.logs.some((l) => JSON.parse(l).msg === 'caches synced')).toBe(true);

    // SIGTERM: A releases the lease and exits cleanly; B takes over at once.
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    await eventually('replica-b to lead', async () => (await lease()).spec.holderIdentity === 'replica-b', 10_000);
    await eventually('replica-b ready', async () => (await http(b, '/readyz')).status === 200);

    // SIGKILL mid-flight: B dies without releasing; C takes over after the lease expires and carries on.
    await requestJson(kc, 'POST', `/apis/orchard.dev/v1alpha1/namespaces/${namespace}/trainingruns`, {
      body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name: 'r2' }, spec },
    });
    await eventually('the second Job', () => requestJson(kc, 'GET', `/apis/batch/v1/namespaces/${namespace}/jobs/r2-train`));
    b.child.kill('SIGKILL');
    const c = await startReplica('replica-c');
    await eventually('replica-c to lead', async () => (await lease()).spec.holderIdentity === 'replica-c', 40_000);
    await requestJson(kc, 'POST', `/apis/orchard.dev/v1alpha1/namespaces/${namespace}/trainingruns`, {
      body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name: 'r3' }, spec },
    });
    await eventually('the third Job', () => requestJson(kc, 'GET', `/apis/batch/v1/namespaces/${namespace}/jobs/r3-train`));
    const jobs = await requestJson(kc, 'GET', `/apis/batch/v1/namespaces/${namespace}/jobs`);
    expect(jobs.items.map((j: any) => j.metadata.name).sort()).toEqual(['r1-train', 'r2-train', 'r3-train']);
    c.child.kill('SIGTERM');
    expect(await c.exited).toBe(0);
  }, 120_000);
});
