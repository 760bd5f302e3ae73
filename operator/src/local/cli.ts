// `npm start`: Orchard's whole loop on this machine, no cloud, no Docker, no internet.
//
// A real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), a node
// agent that runs the Pods as local processes, the operator, and the salaries story: train, serve,
// drift, retrain, promote, roll out, batch-score (see story.ts). The cluster keeps running for
// kubectl until Ctrl-C; `--exit` stops it when the story is told.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSummary, runStory, type StoryResult } from './story.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const exitWhenDone = process.argv.includes('--exit');
const small = process.argv.includes('--small');
const stateDir = process.env.ORCHARD_LOCAL_DIR ?? join(root, '.orchard', 'local');
const started = Date.now();
const say = (line: string) => process.stdout.write(`[orchard ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);

// A new story each time: the last run's cluster state and artifacts go.
rmSync(stateDir, { recursive: true, force: true });

let story: StoryResult | undefined;
let stopStory: (() => Promise<void>) | undefined;
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  say('stopping the operator, the node agent and its Pods, and the control plane');
  await stopStory?.();
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

say('set-up done (the [setup] lines above; a cold one on a fresh 2-core machine builds the control plane, helm and fake-gcs-server from Go modules and took 10 min 42 s, a warm one is instant)');

try {
  story = await runStory({ root, stateDir, small, say, onStoppable: (s) => (stopStory = s) });
  process.stdout.write(`${formatSummary(story.summary)}\n`);
  process.stdout.write(`
Look around (in another terminal):
  export KUBECONFIG=${story.cp.kubeconfig}
  kubectl get trainingruns,registeredmodels,scoringjobs -o wide
  kubectl describe registeredmodel salaries
  kubectl get events --sort-by=.lastTimestamp
  kubectl get jobs,deployments,pods,endpointslices -o wide
Pod logs: ${join(stateDir, 'node', 'pods')}/<namespace>_<pod>_<uid>/containers/<container>/<restart>.log (no kubelet, so no kubectl logs)

`);
  if (exitWhenDone) await stop(0);
  else say('the cluster keeps running; Ctrl-C stops it and removes everything');
} catch (err) {
  process.stderr.write(`orchard: ${err instanceof Error ? err.message : String(err)}\n`);
  await stop(1);
}
