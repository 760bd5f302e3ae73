// What the local node agent accepts of a Pod, and the process each container becomes. Pure: the
// worker fetches what env references and volumes need and passes it in.
//
// The agent implements what Orchard's Pods use; everything else is refused up front with the field
// and the reason, so a Pod fails at once instead of running half-supported.
import type { k8s } from '../../kube/client.js';
import { findImage, resolveExecutable, type LocalImage } from './images.js';
import { expandReferences, mapPath, rewriteValue } from './rewrite.js';
import type { PodStatus } from './status.js';

export type Container = k8s.V1Container;
export type Volume = k8s.V1Volume;

/** A Pod as the API server sends it: metadata times are strings here, not client-node's Dates. */
export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    [key: string]: unknown;
  };
  spec: k8s.V1PodSpec;
  status?: PodStatus;
}

/** A reason the Pod cannot run here: the field, and why, in the kubelet's words where it has them. */
export interface Refusal {
  field: string;
  message: string;
  /** The kubelet's admission reason for the Pod (OutOfnvidia.com/gpu, NodeAffinity); UnsupportedPodSpec otherwise. */
  reason: string;
}

export const UNSUPPORTED = 'UnsupportedPodSpec';
const WHY = 'the local node agent runs Pods as local processes';

const SUPPORTED_VOLUMES = ['emptyDir', 'configMap', 'secret', 'projected', 'downwardAPI'];
const SUPPORTED_PROJECTIONS = ['serviceAccountToken', 'configMap', 'secret', 'downwardAPI'];
export const FIELD_PATHS = ['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName', 'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs'];

export interface NodeFacts {
  labels: Record<string, string>;
  allocatable: Record<string, string>;
}

/** Everything about the Pod this node cannot run; empty when it can. */
export function admitPod(pod: Pod, node: NodeFacts, images: LocalImage[]): Refusal[] {
  const spec = pod.spec;
  const refusals: Refusal[] = [];
  const unsupported = (field: string, message: string) => refusals.push({ field, message, reason: UNSUPPORTED });

  for (const [key, value] of Object.entries(spec.nodeSelector ?? {})) {
    if (node.labels[key] !== value) refusals.push({ field: `spec.nodeSelector`, message: `Predicate NodeAffinity failed: the node has no label ${key}=${value}`, reason: 'NodeAffinity' });
  }
  for (const host of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (spec[host]) unsupported(`spec.${host}`, `${host} is not supported: ${WHY}, each Pod on its own loopback address`);
  }
  if (spec.os?.name && spec.os.name !== 'linux') unsupported('spec.os.name', `${spec.os.name} Pods cannot run on this Linux node`);
  if (spec.ephemeralContainers?.length) unsupported('spec.ephemeralContainers', 'ephemeral containers are not supported');
  if (spec.resourceClaims?.length) unsupported('spec.resourceClaims', 'dynamic resource claims are not supported');

  (spec.volumes ?? []).forEach((volume, i) => {
    const type = Object.keys(volume).find((k) => k !== 'name') ?? '(none)';
    const field = `spec.volumes[${i}].${type}`;
    if (!SUPPORTED_VOLUMES.includes(type)) {
      unsupported(field, `${type} volumes are not supported: ${WHY}; it provides ${SUPPORTED_VOLUMES.join(', ')} volumes as directories`);
    } else if (type === 'projected') {
      (volume.projected?.sources ?? []).forEach((source, j) => {
        const kind = Object.keys(source)[0] ?? '(none)';
        if (!SUPPORTED_PROJECTIONS.includes(kind)) unsupported(`${field}.sources[${j}].${kind}`, `${kind} projections are not supported; it projects ${SUPPORTED_PROJECTIONS.join(', ')}`);
      });
    }
    for (const item of [...(volume.downwardAPI?.items ?? []), ...(volume.projected?.sources ?? []).flatMap((s) => s.downwardAPI?.items ?? [])]) {
      if (item.resourceFieldRef) unsupported(field, `downwardAPI resourceFieldRef (${item.path}) is not supported`);
      else if (item.fieldRef && !downwardFieldSupported(item.fieldRef.fieldPath)) unsupported(field, `downwardAPI fieldRef ${item.fieldRef.fieldPath} is not supported`);
    }
  });

  const requested = new Map<string, string>();
  const lists = [
    ['initContainers', spec.initContainers ?? []],
    ['containers', spec.containers ?? []],
  ] as const;
  for (const [list, containers] of lists) {
    containers.forEach((c, i) => {
      const at = `spec.${list}[${i}]`;
      const image = c.image ? findImage(images, c.image) : undefined;
      if (!image) {
        const known = images.map((e) => e.description).join('; ');
        unsupported(`${at}.image`, `"${c.image ?? ''}" is not an image this node can run: it maps ${known || 'no images'} to local processes`);
      } else {
        const argv0 = c.command?.[0] ?? image.entrypoint[0] ?? c.args?.[0] ?? image.cmd[0];
        const field = c.command?.length ? `${at}.command[0]` : `${at}.image`;
        if (argv0 === undefined) unsupported(field, `the image has no entrypoint and the container no command`);
        else if (!resolveExecutable(image, argv0)) {
          unsupported(field, `"${argv0}" is not an executable of ${image.description} here (it runs ${Object.keys(image.executables).join(', ')})`);
        }
      }
      if (list === 'initContainers' && c.restartPolicy) unsupported(`${at}.restartPolicy`, 'sidecar init containers (restartPolicy on an init container) are not supported');
      if (c.lifecycle) unsupported(`${at}.lifecycle`, 'lifecycle hooks are not supported');
      if (c.volumeDevices?.length) unsupported(`${at}.volumeDevices`, 'block devices are not supported');
      (c.ports ?? []).forEach((p, j) => {
        if (p.hostPort) unsupported(`${at}.ports[${j}].hostPort`, `hostPort is not supported: ${WHY}; use the Pod's address (status.podIP)`);
      });
      (c.volumeMounts ?? []).forEach((m, j) => {
        if (m.subPathExpr) unsupported(`${at}.volumeMounts[${j}].subPathExpr`, 'subPathExpr is not supported; subPath is');
      });
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
        const p = c[probe];
        if (!p) continue;
        if (p.exec) unsupported(`${at}.${probe}.exec`, `exec probes are not supported: use httpGet or tcpSocket`);
        if (p.grpc) unsupported(`${at}.${probe}.grpc`, `gRPC probes are not supported: use httpGet or tcpSocket`);
      }
      (c.env ?? []).forEach((e, j) => {
        const from = e.valueFrom;
        if (!from) return;
        if (from.resourceFieldRef) unsupported(`${at}.env[${j}].valueFrom.resourceFieldRef`, 'resourceFieldRef is not supported');
        if (from.fieldRef && !envFieldSupported(from.fieldRef.fieldPath)) unsupported(`${at}.env[${j}].valueFrom.fieldRef`, `fieldPath ${from.fieldRef.fieldPath} is not supported`);
        if ((from as { fileKeyRef?: unknown }).fileKeyRef) unsupported(`${at}.env[${j}].valueFrom.fileKeyRef`, 'fileKeyRef is not supported');
      });
      for (const [name, quantity] of Object.entries({ ...(c.resources?.requests ?? {}), ...(c.resources?.limits ?? {}) })) {
        if (!(name in node.allocatable) && !name.startsWith('hugepages-')) requested.set(name, String(quantity));
      }
    });
  }
  // The kubelet's own admission words for a resource it does not have.
  for (const [name, quantity] of requested) {
    refusals.push({ field: 'spec.containers[*].resources', reason: `OutOf${name}`, message: `Node didn't have enough resource: ${name}, requested: ${quantity}, used: 0, capacity: 0` });
  }
  return refusals;
}

function envFieldSupported(path: string): boolean {
  return FIELD_PATHS.includes(path) || /^metadata\.(labels|annotations)\['[^']+'\]$/.test(path);
}

function downwardFieldSupported(path: string): boolean {
  return ['metadata.name', 'metadata.namespace', 'metadata.uid', 'metadata.labels', 'metadata.annotations'].includes(path) || envFieldSupported(path);
}

/** One line for the Pod's status message: every refusal, field first. */
export function refusalMessage(refusals: Refusal[]): string {
  return refusals.map((r) => `${r.field}: ${r.message}`).join('; ');
}

/** A fieldRef's value, as the downward API gives it. */
export function fieldValue(pod: Pod, path: string, ips: { podIP: string; hostIP: string }): string {
  const meta = pod.metadata;
  const keyed = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path);
  if (keyed) return (keyed[1] === 'labels' ? meta.labels : meta.annotations)?.[keyed[2]!] ?? '';
  const map = (m: Record<string, string> | undefined) =>
    Object.entries(m ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join('\n');
  switch (path) {
    case 'metadata.name':
      return meta.name;
    case 'metadata.namespace':
      return meta.namespace;
    case 'metadata.uid':
      return meta.uid;
    case 'metadata.labels':
      return map(meta.labels);
    case 'metadata.annotations':
      return map(meta.annotations);
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return ips.hostIP;
    case 'status.podIP':
    case 'status.podIPs':
      return ips.podIP;
    default:
      throw new Error(`fieldPath ${path} is not supported`);
  }
}

/** ConfigMaps and Secrets by name (undefined: not found), with Secret data already decoded. */
export interface Lookups {
  configMaps: Map<string, Record<string, string> | undefined>;
  secrets: Map<string, Record<string, string> | undefined>;
}

/** The ConfigMaps and Secrets a container's env refers to. */
export function envReferences(c: Container): { configMaps: string[]; secrets: string[] } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const e of c.env ?? []) {
    if (e.valueFrom?.configMapKeyRef?.name) configMaps.add(e.valueFrom.configMapKeyRef.name);
    if (e.valueFrom?.secretKeyRef?.name) secrets.add(e.valueFrom.secretKeyRef.name);
  }
  for (const e of c.envFrom ?? []) {
    if (e.configMapRef?.name) configMaps.add(e.configMapRef.name);
    if (e.secretRef?.name) secrets.add(e.secretRef.name);
  }
  return { configMaps: [...configMaps], secrets: [...secrets] };
}

/** Thrown when a container cannot be created yet: the kubelet's CreateContainerConfigError. */
export class ConfigError extends Error {}

/**
 * The container's environment as the image would see it (image paths, not yet rewritten): image
 * ENV, then envFrom, then env in order, each value able to refer to earlier ones with $(VAR).
 */
export function containerEnv(pod: Pod, c: Container, image: LocalImage, lookups: Lookups, ips: { podIP: string; hostIP: string }): Record<string, string> {
  const env: Record<string, string> = { ...image.env };
  const ns = pod.metadata.namespace;
  for (const from of c.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const kind = from.configMapRef ? 'configmap' : 'secret';
    const data = from.configMapRef ? lookups.configMaps.get(ref!.name!) : lookups.secrets.get(ref!.name!);
    if (!data) {
      if (ref?.optional) continue;
      throw new ConfigError(`${kind} "${ref?.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of c.env ?? []) {
    const from = e.valueFrom;
    if (!from) {
      env[e.name] = expandReferences(e.value ?? '', env);
    } else if (from.fieldRef) {
      env[e.name] = fieldValue(pod, from.fieldRef.fieldPath, ips);
    } else if (from.configMapKeyRef || from.secretKeyRef) {
      const ref = (from.configMapKeyRef ?? from.secretKeyRef)!;
      const [kind, data] = from.configMapKeyRef ? ['ConfigMap', lookups.configMaps.get(ref.name!)] : ['Secret', lookups.secrets.get(ref.name!)];
      const value = data?.[ref.key];
      if (value !== undefined) env[e.name] = value;
      else if (!ref.optional) throw new ConfigError(data ? `couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name}` : `${kind.toLowerCase()} "${ref.name}" not found`);
    }
  }
  return env;
}

export interface ProcessPlan {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
}

/**
 * The local process for a container: the command line by Kubernetes' rules (command replaces the
 * ENTRYPOINT and drops CMD; args alone replace CMD), its first word resolved in the image, and
 * every path and loopback URL rewritten (./rewrite.ts).
 */
export function planProcess(input: {
  container: Container;
  image: LocalImage;
  /** containerEnv's result. */
  env: Record<string, string>;
  /** Image and mount paths → local directories for this container. */
  paths: Record<string, string>;
  podIP: string;
  podName: string;
  /** The agent's PATH: the executables are this machine's. */
  hostPath: string;
}): ProcessPlan {
  const { container: c, image, env } = input;
  const words = c.command?.length ? [...c.command, ...(c.args ?? [])] : [...image.entrypoint, ...(c.args ?? image.cmd)];
  const expanded = words.map((w) => expandReferences(w, env));
  const executable = resolveExecutable(image, expanded[0]!);
  if (!executable) throw new Error(`"${expanded[0]}" is not an executable of ${image.description}`);
  const ctx = { paths: input.paths, podIP: input.podIP };
  const argv = [...executable, ...expanded.slice(1)].map((w) => rewriteValue(w, ctx));
  const localEnv: Record<string, string> = {
    PATH: input.hostPath,
    HOSTNAME: input.podName,
    ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, rewriteValue(v, ctx)])),
  };
  // Node, Python and most tools put temporary files under TMPDIR, else /tmp: the Pod's /tmp here.
  const tmp = mapPath('/tmp', input.paths);
  if (tmp && localEnv.TMPDIR === undefined) localEnv.TMPDIR = tmp;
  if (image.listenAddressEnv && localEnv[image.listenAddressEnv] === undefined) localEnv[image.listenAddressEnv] = input.podIP;
  const cwd = mapPath(c.workingDir ?? image.workingDir, input.paths) ?? c.workingDir ?? image.workingDir;
  return { argv, env: localEnv, cwd };
}
