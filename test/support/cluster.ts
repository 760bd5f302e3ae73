// Access to the test control plane from integration tests.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { applyObjects, k8s, loadKubeConfig, requestJson, waitForCrds, type KubeObject } from '../../operator/src/kube/client.js';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function readYamlDocuments(file: string): KubeObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as KubeObject | null)
    .filter((d): d is KubeObject => d !== null);
}

/** Applies crds/*.yaml (the generated files, as a user would) and waits until they are served. */
export async function installCrds(kubeconfig: string): Promise<void> {
  const kc = loadKubeConfig(kubeconfig);
  const dir = join(repoRoot, 'crds');
  const crds = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => readYamlDocuments(join(dir, f)));
  await applyObjects(kc, crds);
  await waitForCrds(kc, crds.map((c) => c.metadata!.name!));
}

export function testKubeConfig(): k8s.KubeConfig {
  const path = process.env.KUBECONFIG;
  if (!path) throw new Error('KUBECONFIG is unset: integration tests need the control plane of test/global-setup.ts');
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
