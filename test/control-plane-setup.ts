// Starts one real control plane for the whole test run and installs the generated CRDs.
// Tests find it through KUBECONFIG; `npm run test:unit` skips it (ORCHARD_TEST_CONTROL_PLANE=off).
import { ControlPlane } from '../operator/src/local/control-plane.js';
import { installCrds } from './support/cluster.js';

export async function setup(): Promise<void> {
  if (process.env.ORCHARD_TEST_CONTROL_PLANE === 'off') return;
  const started = Date.now();
  const cp = await ControlPlane.start({ timeoutMs: 60_000 });
  (globalThis as { orchardControlPlane?: ControlPlane }).orchardControlPlane = cp;
  process.env.KUBECONFIG = cp.kubeconfig;
  process.env.ORCHARD_TEST_CONTROL_PLANE_DIR = cp.dir;
  await installCrds(cp.kubeconfig);
  process.stdout.write(`\ncontrol plane ready in ${Date.now() - started} ms (kube-apiserver ${cp.server})\n`);
}

export async function teardown(): Promise<void> {
  await (globalThis as { orchardControlPlane?: ControlPlane }).orchardControlPlane?.stop();
}
