// Access to the test control plane from integration tests.
import { dirname, join } from 'node:path';
import { installCrds as installGeneratedCrds } from '../../operator/src/local/manifests.js';
import { k8s, loadKubeConfig, requestJson } from '../../operator/src/kube/client.js';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Applies crds/*.yaml (the generated files, as a user would) and waits until they are served. */
export async function installCrds(kubeconfig: string): Promise<void> {
  await installGeneratedCrds(loadKubeConfig(kubeconfig), join(repoRoot, 'crds'));
}

export function testKubeConfig(): k8s.KubeConfig {
  const path = process.env.KUBECONFIG;
  if (!path) throw new Error('KUBECONFIG is unset: integration tests need the control plane that test/control-plane-setup.ts starts (run them through jest)');
  return loadKubeConfig(path);
}

/** A fresh namespace per test file, so files can run in parallel against one API server. */
export async function createNamespace(kc: k8s.KubeConfig, prefix: string): Promise<string> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const ns = await core.createNamespace({ body: { metadata: { generateName: `${prefix}-` } } });
  return ns.metadata!.name!;
}


/** A GET with another representation, e.g. the Table kubectl prints. */
export function getAs(kc: k8s.KubeConfig, path: string, accept: string): Promise<any> {
  return requestJson(kc, 'GET', path, { accept });
}
