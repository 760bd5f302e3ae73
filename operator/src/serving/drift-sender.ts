// Sends scored rows to the drift monitor beside the scorer without ever making scoring wait or fail:
// rows go into a bounded buffer that a timer ships in the background; when the buffer is full or the
// monitor does not answer, rows are dropped and counted, never retried at scoring's expense.
import { Agent, request } from 'node:http';
import type { EncodedRow } from '../features/transform.js';
import type { ScoringMetrics } from './metrics.js';

export interface DriftSenderOptions {
  /** The monitor's rows endpoint, e.g. http://127.0.0.1:9091/v1/rows. */
  url: string;
  metrics: ScoringMetrics;
  /** Rows held at most; more are dropped. */
  maxBufferedRows?: number;
  /** How often the buffer is shipped. */
  intervalMs?: number;
  timeoutMs?: number;
}

export class DriftSender {
  private rows: (number | string | null)[][] = [];
  private predictions: (number | string | null)[] = [];
  private inFlight = false;
  private readonly timer: NodeJS.Timeout;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly max: number;

  constructor(private readonly options: DriftSenderOptions) {
    this.max = options.maxBufferedRows ?? 20_000;
    this.timer = setInterval(() => void this.flush(), options.intervalMs ?? 250);
    this.timer.unref();
  }

  /** Never blocks, never throws: rows beyond the buffer are counted as dropped. */
  push(rows: EncodedRow[], predictions: (number | string)[]): void {
    const room = this.max - this.rows.length;
    const take = Math.min(room, rows.length);
    if (take < rows.length) this.options.metrics.driftDropped.inc({ reason: 'buffer_full' }, rows.length - take);
    for (let r = 0; r < take; r++) {
      // JSON has no NaN: a missing numeric value travels as null.
      this.rows.push(rows[r]!.map((v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
      const p = predictions[r]!;
      this.predictions.push(typeof p === 'number' && !Number.isFinite(p) ? null : p);
    }
  }

  /** Ships what is buffered; resolves when the monitor answered or the rows were given up. */
  async flush(): Promise<void> {
    if (this.inFlight || !this.rows.length) return;
    this.inFlight = true;
    const rows = this.rows;
    const predictions = this.predictions;
    this.rows = [];
    this.predictions = [];
    try {
      await this.post(JSON.stringify({ rows, predictions }));
      this.options.metrics.driftSent.inc(rows.length);
    } catch {
      this.options.metrics.driftDropped.inc({ reason: 'monitor_unreachable' }, rows.length);
    } finally {
      this.inFlight = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.agent.destroy();
  }

  private post(body: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request(this.options.url, { method: 'POST', agent: this.agent, timeout: this.options.timeoutMs ?? 2000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => ((res.statusCode ?? 500) < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }
}
