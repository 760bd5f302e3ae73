// Reports scored rows to the drift monitor without ever making scoring wait or fail. Each row is
// counted in the scorer on the training reference's bins (a few array increments), and the
// counts travel to the monitor as small blocks in the background: shipping the rows themselves
// would cost the scoring core more than scoring them. Blocks that cannot be held or delivered
// are dropped and counted, never retried at scoring's expense.
import { Agent, request } from 'node:http';
import { DriftCounter, type DriftCounts } from '../drift/counts.js';
import { WINDOW_BLOCKS } from '../drift/window.js';
import type { ReferenceProfile } from '../features/profile.js';
import type { EncodedRow } from '../features/transform.js';
import type { ScoringMetrics } from './metrics.js';

export interface DriftBlock {
  counts: DriftCounts;
  /** When the block's first and last rows were scored (ms since the epoch). */
  first: number;
  last: number;
}

export interface DriftSenderOptions {
  /** The monitor's blocks endpoint, e.g. http://127.0.0.1:9092/v1/blocks. */
  url: string;
  profile: ReferenceProfile;
  /** The model's input names, in EncodedRow order. */
  inputNames: string[];
  metrics: ScoringMetrics;
  /** Rows per block: the window's granularity. */
  blockRows?: number;
  /**
   * Blocks in the monitor's window (its rows ÷ blockRows). More than that waiting to be sent would
   * be evicted by the monitor on arrival, so only the newest this many are sent.
   */
  windowBlocks?: number;
  intervalMs?: number;
  timeoutMs?: number;
  now?: () => number;
}

export class DriftSender {
  private readonly counter: DriftCounter;
  private first = 0;
  private last = 0;
  private pending: DriftBlock[] = [];
  private inFlight = false;
  private readonly timer: NodeJS.Timeout;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly blockRows: number;
  private readonly windowBlocks: number;
  private readonly now: () => number;

  constructor(private readonly options: DriftSenderOptions) {
    this.counter = new DriftCounter(options.profile, options.inputNames);
    this.blockRows = options.blockRows ?? 256;
    this.windowBlocks = options.windowBlocks ?? WINDOW_BLOCKS;
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => void this.flush(), options.intervalMs ?? 250);
    this.timer.unref();
  }

  /** Never blocks, never throws. */
  push(rows: EncodedRow[], predictions: ArrayLike<number | string>): void {
    const t = this.now();
    // Block by block: the rows that fit in the open block, then seal it when full.
    for (let r = 0; r < rows.length; ) {
      if (this.counter.rows === 0) this.first = t;
      const to = Math.min(rows.length, r + this.blockRows - this.counter.rows);
      this.counter.addRange(rows, predictions, r, to);
      r = to;
      if (this.counter.rows >= this.blockRows) this.seal(t);
    }
    this.last = t;
  }

  /** Ships the blocks so far; resolves when the monitor answered or the blocks were given up. */
  async flush(): Promise<void> {
    if (this.counter.rows) this.seal(this.last);
    if (this.inFlight || !this.pending.length) return;
    this.inFlight = true;
    const blocks = this.pending;
    this.pending = [];
    const rows = blocks.reduce((n, b) => n + b.counts.rows, 0);
    try {
      await this.post(JSON.stringify({ blocks }));
      this.options.metrics.driftSent.inc(rows);
    } catch (err) {
      // A monitor that answers 4xx refused the blocks themselves (another profile, a bug): resending cannot help, and it says so apart.
      const reason = err instanceof Rejected ? 'rejected' : 'monitor_unreachable';
      this.options.metrics.driftDropped.inc({ reason }, rows);
    } finally {
      this.inFlight = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.agent.destroy();
  }

  private seal(t: number): void {
    this.pending.push({ counts: this.counter.take(), first: this.first, last: t });
    // Under heavy traffic many blocks fill between two sends; the monitor keeps only a window's worth.
    if (this.pending.length > this.windowBlocks) {
      const old = this.pending.shift()!;
      this.options.metrics.driftSuperseded.inc(old.counts.rows);
    }
  }

  private post(body: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request(this.options.url, { method: 'POST', agent: this.agent, timeout: this.options.timeoutMs ?? 2000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        const status = res.statusCode ?? 500;
        res.on('end', () => (status < 300 ? resolve() : reject(status < 500 ? new Rejected(`HTTP ${status}`) : new Error(`HTTP ${status}`))));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }
}

class Rejected extends Error {}
