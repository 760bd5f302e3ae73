import { describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { publishArtifacts, readArtifact } from '../../artifacts/store.js';
import { shardPrefix } from '../../batch/score.js';
import { parseIndexes, parseShardReport, shardLocation, ShardSummaryCache } from './summaries.js';

const summary = (rows: number) => Buffer.from(JSON.stringify({ shard: 0, shards: 2, rows, rejected: 0, errors: [], seconds: 1.5, outputUri: 'x', drift: { counts: [1, 2] } }));

describe('shard summaries', () => {
  it('are read where `orchard score` publishes them', () => {
    for (const [uri, i, n] of [['gs://b/scores/s1', 0, 1], ['file:///tmp/s/', 12, 1000]] as const) expect(shardLocation(uri, i, n)).toBe(shardPrefix(uri, i, n));
  });

  it('parses index lists as the Job controller writes them', () => {
    expect(parseIndexes('0-2,5,7-8')).toEqual([0, 1, 2, 5, 7, 8]);
    expect(parseIndexes('')).toEqual([]);
    expect(parseIndexes(undefined)).toEqual([]);
  });

  it('keeps fields it does not know, such as drift, and rejects what is not a summary', () => {
    expect(parseShardReport(summary(7))).toMatchObject({ rows: 7, seconds: 1.5, drift: { counts: [1, 2] } });
    expect(() => parseShardReport(Buffer.from('{"rows": -1, "seconds": 1}'))).toThrow(/not a shard summary: rows/);
    expect(() => parseShardReport(Buffer.from('oops'))).toThrow(/not JSON/);
  });

  it('reads each summary once per Job, and a failed one again only after the pause', async () => {
    const read: string[] = [];
    let broken = true;
    const cache = new ShardSummaryCache(async (uri) => {
      read.push(uri);
      if (uri.includes('shard-00001') && broken) throw new Error('not published yet');
      return summary(10);
    }, 60_000);
    const run = { jobUid: 'u1', outputUri: 'gs://b/s1/', shards: 2, indexes: [0, 1] };
    const first = await cache.summaries('ns/s1', run, 0);
    expect(first.reads.get(0)).toMatchObject({ summary: { rows: 10 } });
    expect(first.reads.get(1)).toEqual({ error: 'gs://b/s1/shard-00001-of-00002/summary.json: not published yet' });
    expect(first.retryAfterMs).toBe(60_000);
    broken = false;
    const second = await cache.summaries('ns/s1', run, 30_000);
    expect(second.retryAfterMs).toBe(30_000);
    expect(read).toHaveLength(2);
    const third = await cache.summaries('ns/s1', run, 60_000);
    expect(third.retryAfterMs).toBeUndefined();
    expect(third.reads.get(1)).toMatchObject({ summary: { rows: 10 } });
    expect(read).toHaveLength(3);
    await cache.summaries('ns/s1', run, 120_000);
    expect(read).toHaveLength(3);
    // A new run (Job) of the same ScoringJob reads its own shards.
    await cache.summaries('ns/s1', { ...run, jobUid: 'u2' }, 120_000);
    expect(read).toHaveLength(5);
  });

  it('reads published file:// summaries, checked against their manifest', async () => {
    const out = pathToFileURL(mkdtempSync(join(tmpdir(), 'orchard-summaries-'))).href + '/';
    await publishArtifacts(shardLocation(out, 0, 1), [{ name: 'summary.json', bytes: summary(42) }]);
    const cache = new ShardSummaryCache((uri) => readArtifact(uri, 'summary.json'));
    const { reads } = await cache.summaries('ns/s', { jobUid: 'u', outputUri: out, shards: 1, indexes: [0] }, 0);
    expect(reads.get(0)).toMatchObject({ summary: { rows: 42 } });
  });
});
