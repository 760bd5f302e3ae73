// Access to the test control plane from integration tests.
import { dirname, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { installCrds as installGeneratedCrds } from '../../operator/src/local/manifests.js';
import { loadKubeConfig, requestJson, type k8s } from '../../operator/src/kube/client.js';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Applies crds/*.yaml (the generated files, as a user would) and waits until they are served. */
export async function installCrds(kubeconfig: string): Promise<void> {
  await installGeneratedCrds(loadKubeConfig(kubeconfig), join(repoRoot, 'crds'));
}

/** client-node's own KubeConfig, so tests can also use its generated clients and edit the config. */
export function testKubeConfig(): KubeConfig {
  const path = process.env.KUBECONFIG;
  if (!path) throw new Error('KUBECONFIG is unset: integration tests need the control plane that test/control-plane-setup.ts starts (run them through jest)');
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** A fresh namespace per test file, so files can run in parallel against one API server. */
export async function createNamespace(kc: k8s.KubeConfig, prefix: string): Promise<string> {
  const ns = await requestJson(kc, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { generateName: `${prefix}-` } } });
  return ns.metadata.name;
}


/** A GET with another representation, e.g. the Table kubectl prints. */
export function getAs(kc: k8s.KubeConfig, path: string, accept: string): Promise<any> {
  return requestJson(kc, 'GET', path, { accept });
}
