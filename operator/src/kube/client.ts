// The only module that imports @kubernetes/client-node: configuration, applying manifests and
// reading API errors. Everything else speaks in plain objects.
import * as k8s from '@kubernetes/client-node';

export type KubeObject = k8s.KubernetesObject & { [key: string]: unknown };
export { k8s };

export function loadKubeConfig(path?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

export const FIELD_MANAGER = 'orchard';

/** Server-side apply of each object, in order. `dryRun` asks the server to validate without storing. */
export async function applyObjects(kc: k8s.KubeConfig, objects: KubeObject[], options: { dryRun?: boolean } = {}): Promise<KubeObject[]> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const applied: KubeObject[] = [];
  for (const obj of objects) {
    try {
      applied.push(
        (await api.patch(obj, undefined, options.dryRun ? 'All' : undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply)) as KubeObject,
      );
    } catch (err) {
      throw new Error(`apply ${describe(obj)}: ${apiErrorMessage(err)}`, { cause: err });
    }
  }
  return applied;
}

/** Creates one object (fails if it exists). */
export async function createObject<T extends KubeObject>(kc: k8s.KubeConfig, obj: T, options: { dryRun?: boolean } = {}): Promise<T> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  return (await api.create(obj, undefined, options.dryRun ? 'All' : undefined, FIELD_MANAGER)) as T;
}

/** Waits until every named CRD reports Established, i.e. its kinds can be used. */
export async function waitForCrds(kc: k8s.KubeConfig, names: string[], timeoutMs = 30_000): Promise<void> {
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export function statusCode(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? err.code : undefined;
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;

/** The API server's own message (a metav1.Status) when there is one. */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body: unknown = typeof err.body === 'string' ? safeJson(err.body) : err.body;
    if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string') return body.message;
    return `HTTP ${err.code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function describe(obj: k8s.KubernetesObject): string {
  const ns = obj.metadata?.namespace ? `${obj.metadata.namespace}/` : '';
  return `${obj.kind ?? 'object'} ${ns}${obj.metadata?.name ?? '?'}`;
}
