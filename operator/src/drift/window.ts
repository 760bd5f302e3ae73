// A sliding window of served rows, by row count and by age, kept as a ring of count blocks: memory
// is bounded by the block count whatever the traffic, and the window moves a block at a time.
import type { ReferenceProfile } from '../features/profile.js';
import type { EncodedRow } from '../features/transform.js';
import { DriftCounter, emptyCounts, mergeCounts, type DriftCounts, type DriftLayout } from './counts.js';

/** Blocks per window: the window is exact to within 1/BLOCKS of its size. */
export const WINDOW_BLOCKS = 20;
/** The most blocks a window keeps, whatever sizes and times its blocks arrive with. */
export const MAX_BLOCKS = 4 * WINDOW_BLOCKS;

interface Block {
  counts: DriftCounts;
  /** When its first and last rows arrived (ms). */
  first: number;
  last: number;
}

export interface WindowOptions {
  windowRows: number;
  windowSeconds: number;
}

export class DriftWindow {
  private readonly counter: DriftCounter;
  private readonly blocks: Block[] = [];
  private openFirst = 0;
  private openLast = 0;
  private readonly blockRows: number;
  private readonly blockMs: number;

  constructor(
    profile: ReferenceProfile,
    inputNames: string[],
    private readonly options: WindowOptions,
  ) {
    this.counter = new DriftCounter(profile, inputNames);
    this.blockRows = Math.max(1, Math.ceil(options.windowRows / WINDOW_BLOCKS));
    this.blockMs = Math.max(1, (options.windowSeconds * 1000) / WINDOW_BLOCKS);
  }

  add(row: EncodedRow, prediction: number | string | undefined, now: number): void {
    const open = this.openRows();
    if (open === 0) this.openFirst = now;
    else if (open >= this.blockRows || now - this.openFirst >= this.blockMs) this.seal(now);
    this.counter.add(row, prediction);
    this.openLast = now;
  }

  /** A block counted elsewhere (the scorer counts its rows itself); it must share this window's layout. */
  addBlock(counts: DriftCounts, first: number, last: number, now: number): void {
    if (counts.layout !== this.counter.layout.fingerprint) {
      throw new Error(`drift counts of layout ${counts.layout} were binned against another reference profile than this window's (${this.counter.layout.fingerprint})`);
    }
    if (this.openRows()) this.seal(now);
    if (!counts.rows) return this.evict(now);
    // A quiet scorer sends a block every flush however few its rows: small blocks join the newest
    // one while both fit in one block's rows and time, so the block count (and memory) stays bounded.
    const newest = this.blocks.at(-1);
    const span = newest ? Math.max(newest.last, last) - Math.min(newest.first, first) : Infinity;
    if (newest && newest.counts.rows + counts.rows <= this.blockRows && span <= this.blockMs) {
      this.blocks[this.blocks.length - 1] = { counts: mergeCounts([newest.counts, counts]), first: Math.min(newest.first, first), last: Math.max(newest.last, last) };
    } else {
      this.blocks.push({ counts, first, last });
    }
    this.evict(now);
    // Blocks whose times keep them apart (clock jumps, blocks that span long) still must not grow the
    // ring: past MAX_BLOCKS the two neighbours with the fewest rows become one.
    while (this.blocks.length > MAX_BLOCKS) this.joinSmallestPair();
  }

  private joinSmallestPair(): void {
    let at = 0;
    for (let i = 1; i + 1 < this.blocks.length; i++) {
      if (this.blocks[i]!.counts.rows + this.blocks[i + 1]!.counts.rows < this.blocks[at]!.counts.rows + this.blocks[at + 1]!.counts.rows) at = i;
    }
    const [a, b] = [this.blocks[at]!, this.blocks[at + 1]!];
    this.blocks.splice(at, 2, { counts: mergeCounts([a.counts, b.counts]), first: Math.min(a.first, b.first), last: Math.max(a.last, b.last) });
  }

  /** The layout blocks must be binned with. */
  get layout(): DriftLayout {
    return this.counter.layout;
  }

  /** The rows of the last windowRows and windowSeconds, merged. */
  counts(now: number): DriftCounts {
    this.evict(now);
    const open = this.openFresh(now) ? [this.counter.counts()] : [];
    const parts = [...this.blocks.map((b) => b.counts), ...open];
    return parts.length ? mergeCounts(parts) : emptyCounts(this.counter.layout);
  }

  /** When the oldest row in the window arrived, if any. */
  oldest(now: number): number | undefined {
    this.evict(now);
    return this.blocks[0]?.first ?? (this.openFresh(now) ? this.openFirst : undefined);
  }

  /** The open block has rows, and its newest is still inside the time window. */
  private openFresh(now: number): boolean {
    return this.openRows() > 0 && now - this.openLast <= this.options.windowSeconds * 1000;
  }

  private openRows(): number {
    return this.counter.rows;
  }

  private seal(now: number): void {
    const counts = this.counter.take();
    if (counts.rows) this.blocks.push({ counts, first: this.openFirst, last: this.openLast });
    this.openFirst = now;
    this.evict(now);
  }

  private evict(now: number): void {
    const oldestAllowed = now - this.options.windowSeconds * 1000;
    while (this.blocks.length && this.blocks[0]!.last < oldestAllowed) this.blocks.shift();
    // Drop whole blocks while the rest (with the open block) still fills the row window.
    let rows = this.openRows() + this.blocks.reduce((n, b) => n + b.counts.rows, 0);
    while (this.blocks.length && rows - this.blocks[0]!.counts.rows >= this.options.windowRows) {
      rows -= this.blocks[0]!.counts.rows;
      this.blocks.shift();
    }
  }
}
