// `npm start`: Orchard on this machine, no cloud, no Docker, no internet.
//
// Today it brings up a real control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler), installs Orchard's CRDs and applies the examples in data/examples, so they can
// be inspected with kubectl. The operator that reconciles them is not part of it yet: the
// resources are validated and stored, and nothing trains or serves them.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kinds } from '../api/v1alpha1/index.js';
import { applyObjects, loadKubeConfig, requestJson, type KubeObject } from '../kube/client.js';
import { ControlPlane } from './control-plane.js';
import { installCrds, readManifests } from './manifests.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const exitWhenDone = process.argv.includes('--exit');
const started = Date.now();
const say = (line: string) => process.stdout.write(`[orchard ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);

say('starting the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)');
const cp = await ControlPlane.start({ scheduler: true, log: (l) => say(`  ${l}`) });
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
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

  for (const def of kinds) {
    const table = await requestJson(kc, 'GET', `/apis/orchard.dev/v1alpha1/namespaces/default/${def.plural}`, {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    });
    printTable(def.plural, table);
  }

  say('What runs today: the control plane, the CRDs and the examples, validated and stored.');
  say('Not yet: the operator, so no training, serving or scoring happens; statuses stay empty.');
  process.stdout.write(`
Look around (in another terminal):
  export KUBECONFIG=${cp.kubeconfig}
  kubectl get orchard -o wide
  kubectl explain trainingrun.spec.data.split
  kubectl describe registeredmodel salaries

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
