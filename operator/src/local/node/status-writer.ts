// Writing a Pod's status back as the kubelet's status manager does: only when it differs from what
// the API server has, coalescing the changes of one moment into one write, and on a conflict
// reading the Pod again and recomputing.
import { apiErrorMessage, getIfExists, requestJson, type KubeConfig } from '../../kube/client.js';
import { isConflict, isNotFound } from '../../runtime/errors.js';
import { jsonEqual } from '../../runtime/equal.js';
import type { Logger } from '../../runtime/log.js';
import type { Pod } from './pod-spec.js';
import type { PodStatus } from './status.js';

/** Who the API server records as writing (the kubelet's writes say `kubelet`). */
export const FIELD_MANAGER = 'orchard-node-agent';

const COALESCE_MS = 20;
const RETRY_MS = 1000;

export class PodStatusWriter {
  private pod: Pod;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private again = false;
  private closed = false;
  /** The last status written and what the API server answered: not written again while both still hold. */
  private lastWrite: { sent: PodStatus; got: unknown } | undefined;

  constructor(
    private readonly kc: KubeConfig,
    pod: Pod,
    /** The status the Pod should have now. */
    private readonly compute: (pod: Pod) => PodStatus,
    private readonly log: Logger,
  ) {
    this.pod = pod;
  }

  /** The newest Pod seen, from the watch or from our own writes. */
  get latest(): Pod {
    return this.pod;
  }

  observe(pod: Pod): void {
    // resourceVersions are etcd revisions here; comparing them keeps a late watch event from undoing a write already seen.
    const seen = Number(this.pod.metadata.resourceVersion);
    const next = Number(pod.metadata.resourceVersion);
    if (Number.isFinite(seen) && Number.isFinite(next) && next < seen) return;
    this.pod = pod;
  }

  /** A write soon, if the status changed. */
  request(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, COALESCE_MS);
  }

  /** Writes now if the status changed; resolves once written. */
  flush(): Promise<void> {
    if (this.writing) {
      this.again = true;
      return this.writing;
    }
    this.writing = this.write().finally(() => {
      this.writing = undefined;
      if (this.again) {
        this.again = false;
        void this.flush();
      }
    });
    return this.writing;
  }

  /** No more writes: the Pod is gone, or the agent stops. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async write(): Promise<void> {
    const { name, namespace } = this.pod.metadata;
    const path = `/api/v1/namespaces/${namespace}/pods/${encodeURIComponent(name)}`;
    for (let attempt = 0; attempt < 5 && !this.closed; attempt++) {
      const status = this.compute(this.pod);
      if (jsonEqual(status, this.pod.status)) return;
      if (this.lastWrite && jsonEqual(status, this.lastWrite.sent) && jsonEqual(this.pod.status, this.lastWrite.got)) return;
      try {
        const written: Pod = await requestJson(this.kc, 'PUT', `${path}/status?fieldManager=${FIELD_MANAGER}`, { body: { ...this.pod, status } });
        this.lastWrite = { sent: structuredClone(status), got: written.status };
        this.observe(written);
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err)) {
          this.log.error('writing pod status failed', { pod: `${namespace}/${name}`, err: apiErrorMessage(err) });
          setTimeout(() => this.request(), RETRY_MS).unref();
          return;
        }
        const current = await getIfExists(this.kc, path);
        if (!current) return;
        this.observe(current);
      }
    }
  }
}
