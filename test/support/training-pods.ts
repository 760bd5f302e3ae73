// Playing the kubelet for training Pods: what it would report as the steps run.
import type { k8s } from '../../operator/src/kube/client.js';
import { requestJson } from '../../operator/src/kube/client.js';
import { eventually } from './wait.js';

export async function podOf(kc: k8s.KubeConfig, namespace: string, jobName: string, exclude: string[] = []): Promise<any> {
  return eventually(`a Pod for ${jobName}`, async () => {
    const pods = await requestJson(kc, 'GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`batch.kubernetes.io/job-name=${jobName}`)}`);
    return pods.items.find((p: any) => !exclude.includes(p.metadata.name));
  });
}

/** Step containers before `current` done, `current` in `state`, later ones waiting. */
export async function setPodStatus(kc: k8s.KubeConfig, pod: any, current: string, state: object, phase = 'Pending', publishMessage?: string): Promise<void> {
  const steps = ['prepare', 'train', 'export'];
  const idx = steps.indexOf(current);
  const base = (name: string) => ({ name, image: 'orchard:test', imageID: '', ready: false, restartCount: 0 });
  const done = (name: string) => ({ ...base(name), state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: '2026-11-23T10:00:00Z', finishedAt: '2026-11-23T10:00:01Z' } } });
  const waiting = (name: string) => ({ ...base(name), state: { waiting: { reason: 'PodInitializing' } } });
  const init = steps.map((s, i) => (current === 'publish' || i < idx ? done(s) : i === idx ? { ...base(s), state } : waiting(s)));
  const publish =
    current === 'publish'
      ? { ...base('publish'), state: { terminated: { exitCode: 0, reason: 'Completed', message: publishMessage ?? '', startedAt: '2026-11-23T10:00:00Z', finishedAt: '2026-11-23T10:00:02Z' } } }
      : waiting('publish');
  await requestJson(kc, 'PATCH', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, {
    contentType: 'application/merge-patch+json',
    body: { status: { phase, initContainerStatuses: init, containerStatuses: [publish] } },
  });
}

/** A publish step's run summary for a salaries-like regression. */
export function runSummary(rmse: number, artifactUri = 'gs://orchard-test/runs/x/') {
  return {
    artifactUri,
    metrics: { RMSE: rmse, MAE: rmse * 0.7, R2: 0.28 },
    baseline: { RMSE: 66876.2 },
    topFeatures: [{ name: 'experience_level', importance: 0.1335 }],
    rows: { train: 4156, validation: 521, test: 1261 },
    trees: 322,
    testDataFingerprint: 'a1b2c3d4e5f60718',
  };
}
