import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { referenceProfile } from '../features/profile.js';
import { DriftWindow } from '../drift/window.js';
import { DriftSender, type DriftBlock } from './drift-sender.js';
import { ScoringMetrics } from './metrics.js';

const inputs = [{ name: 'x', type: 'Numeric' as const, feature: 'x' }];
const profile = referenceProfile(inputs, Array.from({ length: 1000 }, (_, i) => [i % 100]));
let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** A monitor on loopback that keeps what it is sent, answering `status`. */
async function monitor(status = 204): Promise<{ url: string; posts: DriftBlock[][] }> {
  const posts: DriftBlock[][] = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      posts.push((JSON.parse(body) as { blocks: DriftBlock[] }).blocks);
      if (status === 204) res.writeHead(204).end();
      else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'blocks[0].counts.layout: another reference profile' }));
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}/v1/blocks`, posts };
}

const total = async (counter: { get(): Promise<{ values: { value: number }[] }> }) => (await counter.get()).values.reduce((n, v) => n + v.value, 0);

describe('DriftSender', () => {
  it("sends only the newest window's worth of blocks when traffic outruns the sends", async () => {
    const { url, posts } = await monitor();
    const metrics = new ScoringMetrics();
    const sender = new DriftSender({ url, profile, inputNames: ['x'], metrics, blockRows: 10, windowBlocks: 3, intervalMs: 60_000 });
    const rows = Array.from({ length: 95 }, (_, i) => [i]);
    sender.push(rows, new Float64Array(95));
    await sender.flush();
    sender.close();

    const sent = posts.flat();
    expect(sent.map((b) => b.counts.rows)).toEqual([10, 10, 5]); // the newest: rows 70–94
    expect(await total(metrics.driftSent)).toBe(25);
    expect(await total(metrics.driftSuperseded)).toBe(70);
    expect(await total(metrics.driftDropped)).toBe(0);

    // What arrived is exactly the newest rows' counts.
    const expected = new DriftWindow(profile, ['x'], { windowRows: 1000, windowSeconds: 3600 });
    for (const row of rows.slice(70)) expected.add(row, 0, 1_000);
    const got = new DriftWindow(profile, ['x'], { windowRows: 1000, windowSeconds: 3600 });
    for (const b of sent) got.addBlock(b.counts, b.first, b.last, 1_000);
    expect(got.counts(1_000)).toEqual(expected.counts(1_000));
  });

  it('counts rows as dropped when the monitor is down, and never throws', async () => {
    const metrics = new ScoringMetrics();
    const sender = new DriftSender({ url: 'http://127.0.0.1:1/v1/blocks', profile, inputNames: ['x'], metrics, blockRows: 10, intervalMs: 60_000, timeoutMs: 500 });
    sender.push([[1], [2], [3]], [0, 0, 0]);
    await sender.flush();
    sender.close();
    expect(await total(metrics.driftDropped)).toBe(3);
  });

  it('counts rows the monitor refused apart from rows it never got', async () => {
    const { url, posts } = await monitor(400);
    const metrics = new ScoringMetrics();
    const sender = new DriftSender({ url, profile, inputNames: ['x'], metrics, blockRows: 10, intervalMs: 60_000 });
    sender.push([[1], [2], [3]], [0, 0, 0]);
    await sender.flush();
    sender.close();
    expect(posts).toHaveLength(1);
    expect((await metrics.driftDropped.get()).values).toEqual([expect.objectContaining({ labels: { reason: 'rejected' }, value: 3 })]);
  });
});
