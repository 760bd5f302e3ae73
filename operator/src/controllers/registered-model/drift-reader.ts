// Reads the drift monitors of a model's scoring Pods and judges their windows together: the counts
// of every ready Pod serving the version are merged, so the verdict covers all the traffic.
import type { ModelVersion } from '../../api/v1alpha1/registered-model.js';
import { driftLayout, mergeCounts, parseLayoutCounts } from '../../drift/counts.js';
import { evaluateDrift } from '../../drift/evaluate.js';
import type { ProfileCache } from '../../drift/profiles.js';
import { driftStatusOf } from '../../drift/status.js';
import type { Informer } from '../../kube/informer.js';
import { rfc3339 } from '../../runtime/conditions.js';
import type { Logger } from '../../runtime/log.js';
import { LABELS } from '../training-run/desired.js';
import type { DriftStatus } from './drift.js';
import { DRIFT_PORT, VERSION_ANNOTATION, type RegisteredModelObject } from './serving.js';

export interface DriftReaderOptions {
  pods: Informer;
  profiles: ProfileCache;
  now: () => Date;
  log: Logger;
  timeoutMs?: number;
  /** Where a Pod's drift monitor answers: its IP and the monitor's port unless set. */
  urlFor?: (pod: any) => string | undefined;
}

export type DriftReader = (model: RegisteredModelObject, served: ModelVersion) => Promise<DriftStatus | undefined>;

const isReady = (pod: any) => (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');

export function httpDriftReader(o: DriftReaderOptions): DriftReader {
  const urlFor = o.urlFor ?? ((pod: any) => (pod.status?.podIP ? `http://${pod.status.podIP}:${DRIFT_PORT}` : undefined));
  const timeoutMs = o.timeoutMs ?? 2000;

  /** A Pod's window counts as it sent them: read within a bound, checked against the profile later. */
  const ask = async (pod: any, version: number): Promise<unknown> => {
    const base = urlFor(pod);
    if (!base) return undefined;
    try {
      const res = await fetch(`${base}/v1/drift`, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = JSON.parse(await readCapped(res, MAX_SUMMARY_BYTES)) as { version?: unknown; counts?: unknown } | null;
      // A Pod that restarted onto another version mid-rollout says so: its counts are not comparable.
      if (body?.version !== version) return undefined;
      return body.counts;
    } catch (err) {
      o.log.info('drift monitor did not answer', { pod: pod.metadata.name, namespace: pod.metadata.namespace, err });
      return undefined;
    }
  };

  return async (model, served) => {
    const { namespace, name } = model.metadata;
    const pods = o.pods
      .list(namespace)
      .filter((p) => p.metadata?.labels?.[LABELS.model] === name && p.metadata?.labels?.[LABELS.component] === 'scorer' && !p.metadata.deletionTimestamp)
      .filter((p) => isReady(p) && p.metadata?.annotations?.[VERSION_ANNOTATION] === String(served.version));
    const raw = await Promise.all(pods.map(async (p) => [p, await ask(p, served.version)] as const));
    if (!raw.some(([, c]) => c !== undefined)) return undefined;
    const profile = await o.profiles.get(served.artifactUri);
    const layout = driftLayout(profile);
    // Counts that do not fit the version's profile exactly are left out, never merged or judged.
    const answers = raw.flatMap(([pod, c]) => {
      if (c === undefined) return [];
      try {
        return [parseLayoutCounts(c, layout, `${pod.metadata.name} drift counts`)];
      } catch (err) {
        o.log.info('drift monitor answered counts that do not fit the profile', { pod: pod.metadata.name, namespace, err });
        return [];
      }
    });
    if (!answers.length) return undefined;
    const checkedTime = rfc3339(o.now());
    const counts = mergeCounts(answers);
    const { drift } = model.spec;
    if (counts.rows < drift.minRows) return { checkedTime, windowRows: counts.rows, drifted: 'Unknown' };
    return { checkedTime, windowRows: counts.rows, ...driftStatusOf(evaluateDrift(profile, counts, { driftShare: Number(drift.driftShare) })) };
  };
}

/** What one monitor's summary may take: its counts and verdict are a few kilobytes per input. */
const MAX_SUMMARY_BYTES = 4 << 20;

/** The body as text, refused once it passes maxBytes: a monitor is not trusted to bound its answer. */
async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > maxBytes) throw new Error(`answer of ${declared} bytes, more than ${maxBytes}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new Error(`answer larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
