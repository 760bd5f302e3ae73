// core/v1 Events, so `kubectl describe` tells what the operator did and why.
import { k8s, requestJson } from '../kube/client.js';
import { rfc3339 } from './conditions.js';
import type { Logger } from './log.js';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; uid: string };
}

export type EventRecorder = (target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string) => Promise<void>;

/**
 * Events are best effort, as client-go's recorder makes them: one the API server refuses (an
 * admission policy, a quota on Events, an outage) is logged and dropped, never a failed pass.
 */
export function apiEventRecorder(kc: k8s.KubeConfig, component: string, log: Logger, now: () => Date = () => new Date()): EventRecorder {
  return async (target, type, reason, message) => {
    const time = rfc3339(now());
    const { namespace, name, uid } = target.metadata;
    await requestJson(kc, 'POST', `/api/v1/namespaces/${namespace}/events`, {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${name}.`, namespace },
        involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name, namespace, uid },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component },
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
      },
    }).catch((err: unknown) => log.error('recording an Event failed; dropped', { namespace, name, kind: target.kind, reason, err }));
  };
}
