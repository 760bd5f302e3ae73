// Reads the drift monitors of a model's scoring Pods and judges their windows together: the counts
// of every ready Pod serving the version are merged, so the verdict covers all the traffic.
import type { ModelVersion } from '../../api/v1alpha1/registered-model.js';
import { mergeCounts, parseDriftCounts, type DriftCounts } from '../../drift/counts.js';
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

  const ask = async (pod: any, version: number): Promise<DriftCounts | undefined> => {
    const base = urlFor(pod);
    if (!base) return undefined;
    try {
      const res = await fetch(`${base}/v1/drift`, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as { version?: unknown; counts?: unknown };
      // A Pod that restarted onto another version mid-rollout says so: its counts are not comparable.
      if (body.version !== version) return undefined;
      return parseDriftCounts(body.counts, `${pod.metadata.name} drift counts`);
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
    const answers = (await Promise.all(pods.map((p) => ask(p, served.version)))).filter((c): c is DriftCounts => c !== undefined);
    if (!answers.length) return undefined;
    const checkedTime = rfc3339(o.now());
    let counts: DriftCounts;
    try {
      counts = mergeCounts(answers);
    } catch (err) {
      o.log.error('drift counts of the scoring Pods do not merge', { namespace, name, err });
      return undefined;
    }
    const { drift } = model.spec;
    if (counts.rows < drift.minRows) return { checkedTime, windowRows: counts.rows, drifted: 'Unknown' };
    const profile = await o.profiles.get(served.artifactUri);
    return { checkedTime, windowRows: counts.rows, ...driftStatusOf(evaluateDrift(profile, counts, { driftShare: Number(drift.driftShare) })) };
  };
}
