// Micro-batching: onnxruntime-node's run() occupies the event loop for the whole run, and costs
// about as much for one row as for dozens. Requests that arrive while a run is busy (or within the
// same turn of the event loop) are coalesced into the next run, so throughput grows with load
// while a lone request waits for nothing.
import type { ModelOutputs } from '../export/onnx-runner.js';
import type { EncodedRow } from '../features/transform.js';

interface Pending {
  rows: EncodedRow[];
  resolve: (out: ModelOutputs) => void;
  reject: (err: unknown) => void;
}

export class MicroBatcher {
  private queue: Pending[] = [];
  private scheduled = false;
  private running = false;
  /** Rows per run, for the batch-size histogram. */
  onRun?: (rows: number) => void;

  constructor(
    private readonly run: (rows: EncodedRow[]) => Promise<ModelOutputs>,
    private readonly maxRows: number,
  ) {}

  submit(rows: EncodedRow[]): Promise<ModelOutputs> {
    return new Promise((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    // After this turn's I/O callbacks: every request parsed in this turn joins the batch.
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    if (!this.queue.length) return;
    this.running = true;
    const batch: Pending[] = [];
    let rows = 0;
    while (this.queue.length && (batch.length === 0 || rows + this.queue[0]!.rows.length <= this.maxRows)) {
      const next = this.queue.shift()!;
      batch.push(next);
      rows += next.rows.length;
    }
    try {
      const all = batch.length === 1 ? batch[0]!.rows : batch.flatMap((p) => p.rows);
      const out = await this.run(all);
      this.onRun?.(all.length);
      let offset = 0;
      for (const p of batch) {
        p.resolve(slice(out, offset, p.rows.length));
        offset += p.rows.length;
      }
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.running = false;
      if (this.queue.length) this.schedule();
    }
  }
}

/** Rows [offset, offset + n) of a run's outputs, as views. */
export function slice(out: ModelOutputs, offset: number, n: number): ModelOutputs {
  const d = out.dimension;
  const part: ModelOutputs = { raw: out.raw.subarray(offset * d, (offset + n) * d), dimension: d };
  if (out.prediction) part.prediction = out.prediction.subarray(offset, offset + n);
  if (out.probabilities) {
    const k = out.probabilities.length / (out.raw.length / d);
    part.probabilities = out.probabilities.subarray(offset * k, (offset + n) * k);
  }
  return part;
}
