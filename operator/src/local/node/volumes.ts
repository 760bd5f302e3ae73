// A Pod's volumes as directories under its own directory: emptyDir empty, configMap and secret
// with their keys as files, downwardAPI with the Pod's fields, and the projected service-account
// volume the API server adds to every Pod (a token from the TokenRequest API, the cluster CA, the
// namespace). Files are written once, when the Pod starts: later changes to a ConfigMap or Secret,
// and token expiry, are not followed.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { getIfExists, requestJson, type k8s, type KubeConfig } from '../../kube/client.js';
import { fieldValue, type Pod, type Volume } from './pod-spec.js';

/** A volume that cannot be set up yet (a missing ConfigMap): the kubelet retries, and so does the agent. */
export class MountError extends Error {}

type KeyToPath = { key: string; path: string; mode?: number };
type Data = Record<string, Buffer>;

export async function setUpVolumes(kc: KubeConfig, pod: Pod, volumesDir: string, ips: { podIP: string; hostIP: string }): Promise<Map<string, string>> {
  const dirs = new Map<string, string>();
  for (const volume of pod.spec.volumes ?? []) {
    const dir = join(volumesDir, volume.name);
    mkdirSync(dir, { recursive: true });
    try {
      await fill(kc, pod, volume, dir, ips);
    } catch (err) {
      const message = err instanceof MountError ? err.message : `${(err as Error).message}`;
      throw new MountError(`MountVolume.SetUp failed for volume "${volume.name}" : ${message}`, { cause: err });
    }
    dirs.set(volume.name, dir);
  }
  return dirs;
}

async function fill(kc: KubeConfig, pod: Pod, volume: Volume, dir: string, ips: { podIP: string; hostIP: string }): Promise<void> {
  if (volume.emptyDir) return;
  const sources = projection(volume);
  // admitPod refuses every other type before anything is set up.
  if (!sources) throw new Error(`volume type ${Object.keys(volume).filter((k) => k !== 'name').join(', ')} is not supported`);
  const ns = pod.metadata.namespace;
  const mode = (volume.projected ?? volume.configMap ?? volume.secret ?? volume.downwardAPI)?.defaultMode ?? 0o644;
  for (const source of sources) {
    if (source.serviceAccountToken) {
      const token = await requestToken(kc, pod, source.serviceAccountToken.audience, source.serviceAccountToken.expirationSeconds);
      writeFile(dir, source.serviceAccountToken.path, Buffer.from(token), mode);
    } else if (source.configMap) {
      const data = await objectData(kc, ns, 'configmap', source.configMap.name!, source.configMap.optional ?? false);
      writeKeys(dir, data, source.configMap.items, mode, `configmap ${ns}/${source.configMap.name}`, source.configMap.optional);
    } else if (source.secret) {
      const data = await objectData(kc, ns, 'secret', source.secret.name!, source.secret.optional ?? false);
      writeKeys(dir, data, source.secret.items, mode, `secret ${ns}/${source.secret.name}`, source.secret.optional);
    } else if (source.downwardAPI) {
      for (const item of source.downwardAPI.items ?? []) writeFile(dir, item.path, Buffer.from(fieldValue(pod, item.fieldRef!.fieldPath, ips)), item.mode ?? mode);
    }
  }
}

/** A volume's files as projection sources: a configMap, secret or downwardAPI volume is a projection of one. */
function projection(volume: Volume): k8s.V1VolumeProjection[] | undefined {
  if (volume.projected) return volume.projected.sources ?? [];
  if (volume.configMap) return [{ configMap: volume.configMap }];
  if (volume.secret) return [{ secret: { name: volume.secret.secretName!, ...(volume.secret.items ? { items: volume.secret.items } : {}), ...(volume.secret.optional !== undefined ? { optional: volume.secret.optional } : {}) } }];
  if (volume.downwardAPI) return [{ downwardAPI: volume.downwardAPI }];
  return undefined;
}

/** A ConfigMap's or Secret's files; an optional one that does not exist gives none. */
async function objectData(kc: KubeConfig, ns: string, kind: 'configmap' | 'secret', name: string, optional: boolean): Promise<Data | undefined> {
  const obj = await getIfExists(kc, `/api/v1/namespaces/${ns}/${kind}s/${encodeURIComponent(name)}`);
  if (!obj) {
    if (optional) return undefined;
    throw new MountError(`${kind} "${name}" not found`);
  }
  if (kind === 'secret') return secretBytes(obj);
  const data: Data = {};
  for (const [k, v] of Object.entries<string>(obj.data ?? {})) data[k] = Buffer.from(v);
  for (const [k, v] of Object.entries<string>(obj.binaryData ?? {})) data[k] = Buffer.from(v, 'base64');
  return data;
}

/** A Secret's values, decoded. */
export function secretBytes(secret: { data?: Record<string, string> }): Data {
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

/** A token bound to the Pod, as the kubelet asks for one: it stops working when the Pod is deleted. */
async function requestToken(kc: KubeConfig, pod: Pod, audience: string | undefined, expirationSeconds: number | undefined): Promise<string> {
  const sa = pod.spec.serviceAccountName || 'default';
  const answer = await requestJson(kc, 'POST', `/api/v1/namespaces/${pod.metadata.namespace}/serviceaccounts/${encodeURIComponent(sa)}/token`, {
    body: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        ...(audience ? { audiences: [audience] } : {}),
        expirationSeconds: expirationSeconds ?? 3607,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
      },
    },
  });
  return answer.status.token;
}

function writeKeys(dir: string, data: Data | undefined, items: KeyToPath[] | undefined, mode: number, what: string, optional = false): void {
  if (!data) return;
  if (!items?.length) {
    for (const [key, bytes] of Object.entries(data)) writeFile(dir, key, bytes, mode);
    return;
  }
  for (const item of items) {
    const bytes = data[item.key];
    if (bytes === undefined) {
      if (optional) continue;
      throw new MountError(`configured key ${item.key} not found in ${what}`);
    }
    writeFile(dir, item.path, bytes, item.mode ?? mode);
  }
}

function writeFile(dir: string, path: string, bytes: Buffer, mode: number): void {
  const file = normalize(join(dir, path));
  if (!file.startsWith(`${dir}/`)) throw new MountError(`path ${path} leaves the volume`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, bytes);
  chmodSync(file, mode);
}
