// `npm start`: Orchard on this machine, no cloud, no Docker, no internet.
//
// It brings up a real control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler), installs Orchard's CRDs, applies the examples in data/examples and runs the
// operator against them, so they can be inspected with kubectl. This machine has no node: the
// operator creates the Jobs and Deployments and reports where each resource stands, and their
// Pods wait to be scheduled.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kinds } from '../api/v1alpha1/index.js';
import { applyObjects, loadKubeConfig, requestJson, type KubeObject } from '../kube/client.js';
import { startOperator } from '../operator.js';
import { silentLogger } from '../runtime/log.js';
import { ControlPlane } from './control-plane.js';
import { installCrds, readManifests } from './manifests.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const exitWhenDone = process.argv.includes('--exit');
const started = Date.now();
const say = (line: string) => process.stdout.write(`[orchard ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);

say('starting the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)');
const cp = await ControlPlane.start({ scheduler: true, log: (l) => say(`  ${l}`) });
let stopping = false;
const operatorStop = new AbortController();
let operatorDone: Promise<void> | undefined;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  operatorStop.abort();
  await operatorDone;
  say('stopping the control plane');
  await cp.stop();
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  const kc = loadKubeConfig(cp.kubeconfig);
  const crdNames = await installCrds(kc, join(root, 'crds'));
  say(`installed CRDs: ${crdNames.join(', ')}`);

  const exampleDir = join(root, 'data', 'examples');
  for (const file of readdirSync(exampleDir).filter((f) => f.endsWith('.yaml')).sort()) {
    const objects = readManifests<KubeObject>(join(exampleDir, file));
    await applyObjects(kc, objects);
    say(`applied data/examples/${file}: ${objects.map((o) => `${o.kind}/${o.metadata!.name}`).join(', ')}`);
  }

  say('starting the operator (in this process; its logs are left out here)');
  const operator = await startOperator(
    { kc, namespace: 'default', defaults: { image: 'orchard:local', artifactRoot: `file://${join(root, '.orchard', 'artifacts')}`, backoffLimit: 1 }, log: silentLogger, workers: 4 },
    operatorStop.signal,
  );
  operatorDone = operator.done;
  // A few passes: every resource gets its children and a status.
  await new Promise((r) => setTimeout(r, 3000));

  for (const def of kinds) {
    const table = await requestJson(kc, 'GET', `/apis/orchard.dev/v1alpha1/namespaces/default/${def.plural}`, {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    });
    printTable(def.plural, table);
  }

  say('What runs: the control plane, the CRDs, the examples and the operator, which created the training Jobs.');
  say('This machine has no node, so those Pods wait to be scheduled; the statuses above say so.');
  process.stdout.write(`
Look around (in another terminal):
  export KUBECONFIG=${cp.kubeconfig}
  kubectl get orchard -o wide
  kubectl explain trainingrun.spec.data.split
  kubectl describe registeredmodel salaries
  kubectl get jobs,deployments,pods

`);
  if (exitWhenDone) await stop(0);
  else say('the cluster keeps running; Ctrl-C stops it and removes everything');
} catch (err) {
  process.stderr.write(`orchard: ${err instanceof Error ? err.message : String(err)}\n`);
  await stop(1);
}

function printTable(title: string, table: { columnDefinitions: { name: string; priority?: number }[]; rows: { cells: unknown[] }[] }): void {
  const shown = table.columnDefinitions.map((c, i) => ({ ...c, i })).filter((c) => !c.priority);
  const rows = table.rows.map((r) => shown.map((c) => String(r.cells[c.i] ?? '')));
  const header = shown.map((c) => c.name.toUpperCase());
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('   ').trimEnd();
  process.stdout.write(`\n${title}\n${line(header)}\n${rows.map(line).join('\n')}\n`);
}
