// Children the API server refused for good (see isPermanentRejection). A refused body is not sent
// again: every pass would get the same answer, and passes come with every status write and every
// event of a related object. A changed spec, or a change of the child's other inputs (a new
// champion, the next scheduled run), changes the body, and that body is tried once.
import { createHash } from 'node:crypto';
import { apiErrorMessage } from '../kube/client.js';
import { apiAnswerOf, isPermanentRejection } from './errors.js';
import type { OperatorMetrics } from './metrics.js';

/** What a condition says about a refused child. */
export interface ChildRejection {
  /** E.g. `Job team-a/salaries-1-train`. */
  child: string;
  /** The API server's message, trimmed. */
  message: string;
}

/** Longer API messages list every field; the first ones say enough and a condition stays readable. */
const MAX_MESSAGE = 1024;

const digest = (body: unknown) => createHash('sha256').update(JSON.stringify(body)).digest('hex');

export class ChildRejections {
  /** parent key → slot (one per child a parent has at a time, e.g. `deployments`) → the refused body's digest and the answer. */
  private readonly byParent = new Map<string, Map<string, { digest: string; rejection: ChildRejection }>>();

  constructor(
    private readonly controller: string,
    private readonly metrics?: OperatorMetrics,
  ) {}

  /**
   * Sends `body` through `write` unless the same body was refused before. A permanent refusal is
   * remembered and returned; any other error throws, so the pass is retried with backoff.
   */
  async attempt<T>(parent: string, slot: string, child: string, body: unknown, write: () => Promise<T>): Promise<{ done: T } | { rejected: ChildRejection }> {
    const sum = digest(body);
    const known = this.byParent.get(parent)?.get(slot);
    if (known?.digest === sum) return { rejected: known.rejection };
    try {
      const done = await write();
      this.forget(parent, slot);
      return { done };
    } catch (err) {
      if (!isPermanentRejection(err)) throw err;
      const message = apiErrorMessage(apiAnswerOf(err));
      const rejection = { child, message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message };
      let children = this.byParent.get(parent);
      if (!children) this.byParent.set(parent, (children = new Map()));
      children.set(slot, { digest: sum, rejection });
      this.metrics?.childRejections.inc({ controller: this.controller, kind: child.split(' ')[0]! });
      return { rejected: rejection };
    }
  }

  /** Forgets one slot's refusal, or all of a parent's (it is gone). */
  forget(parent: string, slot?: string): void {
    if (slot === undefined) {
      this.byParent.delete(parent);
      return;
    }
    const children = this.byParent.get(parent);
    children?.delete(slot);
    if (children?.size === 0) this.byParent.delete(parent);
  }

  /** Parents with a remembered refusal (bounded by the objects that have one). */
  size(): number {
    return this.byParent.size;
  }
}
