// Reading multi-document YAML manifests (crds/, data/examples/) as plain objects.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { applyObjects, waitForCrds, type k8s, type KubeObject } from '../kube/client.js';

export function readManifests<T = Record<string, unknown>>(file: string): T[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return d.toJS() as T | null;
    })
    .filter((d): d is T => d !== null);
}

/** Applies every CRD in a folder (the generated crds/) and waits until the API server serves them. */
export async function installCrds(kc: k8s.KubeConfig, crdsDir: string): Promise<string[]> {
  const crds = readdirSync(crdsDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => readManifests<KubeObject>(join(crdsDir, f)));
  await applyObjects(kc, crds);
  const names = crds.map((c) => c.metadata!.name!);
  await waitForCrds(kc, names);
  return names;
}
