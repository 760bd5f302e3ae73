import { describe, expect, it } from '@jest/globals';
import { Histogram, Registry } from 'prom-client';
import { BatchHistogram } from './metrics.js';

describe('BatchHistogram', () => {
  it('exposes what prom-client exposes for the same observations', async () => {
    // Not -1 as a bound: prom-client files values above the last bound under a bound of -1.
    const bounds = [-2, 0, 0.5, 10, 1e6];
    const values = [-5, -2, -1.999, 0, 0, 0.25, 0.5, 0.5000001, 9.99, 10, 11, 1e6, 2e6, 3];
    const theirs = new Registry();
    const reference = new Histogram({ name: 'h', help: 'help text', labelNames: ['version'], buckets: bounds, registers: [theirs] });
    const ours = new Registry();
    const batch = new BatchHistogram('h', 'help text', bounds, ours);
    for (const [version, part] of [['1', values], ['2', values.slice(3, 9)]] as const) {
      for (const v of part) reference.observe({ version }, v);
      const record = batch.recorder({ version });
      // Two batches into one series: counts accumulate.
      record(Float64Array.from(part.slice(0, 4)));
      record(part.slice(4));
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('skips values prom-client would refuse, and resets', async () => {
    const registry = new Registry();
    const h = new BatchHistogram('h', 'help', [1], registry);
    h.recorder({ version: '1' })([Number.NaN, Number.POSITIVE_INFINITY, 0.5]);
    expect(await registry.metrics()).toContain('h_count{version="1"} 1\n');
    h.reset();
    expect(await registry.metrics()).not.toContain('h_count');
  });
});
