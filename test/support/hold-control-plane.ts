// Starts a control plane, reports it on stdout as one JSON line, then waits to be killed.
// test/integration/control-plane.test.ts runs this in a child process and SIGKILLs it.
import { ControlPlane } from '../../operator/src/local/control-plane.js';

const started = Date.now();
const cp = await ControlPlane.start({ scheduler: process.argv.includes('--scheduler') });
process.stdout.write(JSON.stringify({ startMs: Date.now() - started, pids: cp.pids(), dir: cp.dir, kubeconfig: cp.kubeconfig }) + '\n');
setInterval(() => {}, 1 << 30);
