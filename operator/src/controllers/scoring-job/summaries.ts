// The finished shards' summary.json files, read once each and kept per ScoringJob for its latest
// run's Job. A failed read is kept too and tried again only after a pause, so a missing or
// unreadable summary costs one read a minute, not one per pass.
import { z } from 'zod';
import type { MetricStats } from '../../batch/metrics.js';

/** What the operator uses of a shard's summary.json; other fields (drift) are kept as written. */
const shardReport = z.looseObject({
  rows: z.number().int().min(0),
  rejected: z.number().int().min(0).default(0),
  errors: z.array(z.string()).default([]),
  seconds: z.number().min(0),
  stats: z.looseObject({ n: z.number() }).optional(),
});
export interface ShardReport {
  rows: number;
  rejected: number;
  errors: string[];
  seconds: number;
  stats?: MetricStats;
  /** The shard's drift counts, passed through as written. */
  drift?: unknown;
}

export type ShardRead = { summary: ShardReport } | { error: string };

/** Where shard `shard` of `shards` publishes, the layout `orchard score` writes. */
export function shardLocation(outputUri: string, shard: number, shards: number): string {
  const base = outputUri.endsWith('/') ? outputUri : `${outputUri}/`;
  const pad = (n: number) => String(n).padStart(5, '0');
  return `${base}shard-${pad(shard)}-of-${pad(shards)}/`;
}

/** A Job's completedIndexes / failedIndexes ("0-2,5") as a sorted list. */
export function parseIndexes(text: string | undefined): number[] {
  const out = new Set<number>();
  for (const part of (text ?? '').split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) continue;
    const [low, high] = [Number(m[1]), Number(m[2] ?? m[1])];
    for (let i = low; i <= high; i++) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}

export function parseShardReport(bytes: Buffer): ShardReport {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error('summary.json is not JSON');
  }
  const parsed = shardReport.safeParse(json);
  if (!parsed.success) throw new Error(`summary.json is not a shard summary: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
  return parsed.data as unknown as ShardReport;
}

export interface RunShards {
  jobUid: string;
  outputUri: string;
  shards: number;
  /** The finished shards whose summaries to read. */
  indexes: number[];
}

type Entry = { summary: ShardReport } | { error: string; at: number };

export class ShardSummaryCache {
  /** ScoringJob key → the Job whose summaries are kept, and its entries by shard index. */
  private readonly byOwner = new Map<string, { jobUid: string; entries: Map<number, Entry> }>();

  constructor(
    /** Reads summary.json under a shard's location (the only I/O, injected). */
    private readonly read: (shardUri: string) => Promise<Buffer>,
    private readonly retryAfterMs = 60_000,
    private readonly concurrency = 16,
  ) {}

  /** The summaries of `run.indexes`; `retryAfterMs` is set while some could not be read. */
  async summaries(owner: string, run: RunShards, now: number): Promise<{ reads: Map<number, ShardRead>; retryAfterMs?: number }> {
    let held = this.byOwner.get(owner);
    if (!held || held.jobUid !== run.jobUid) {
      held = { jobUid: run.jobUid, entries: new Map() };
      this.byOwner.set(owner, held);
    }
    const { entries } = held;
    const due = run.indexes.filter((i) => {
      const e = entries.get(i);
      return !e || ('error' in e && now - e.at >= this.retryAfterMs);
    });
    for (let start = 0; start < due.length; start += this.concurrency) {
      await Promise.all(
        due.slice(start, start + this.concurrency).map(async (i) => {
          const uri = shardLocation(run.outputUri, i, run.shards);
          try {
            entries.set(i, { summary: parseShardReport(await this.read(uri)) });
          } catch (err) {
            entries.set(i, { error: `${uri}summary.json: ${err instanceof Error ? err.message : String(err)}`, at: now });
          }
        }),
      );
    }
    const reads = new Map<number, ShardRead>();
    let retryAt: number | undefined;
    for (const i of run.indexes) {
      const e = entries.get(i)!;
      if ('summary' in e) reads.set(i, { summary: e.summary });
      else {
        reads.set(i, { error: e.error });
        retryAt = Math.min(retryAt ?? Infinity, e.at + this.retryAfterMs);
      }
    }
    return retryAt === undefined ? { reads } : { reads, retryAfterMs: Math.max(0, retryAt - now) };
  }

  forget(owner: string): void {
    this.byOwner.delete(owner);
  }
}
