import { describe, expect, it } from '@jest/globals';
import type { ModelOutputs } from '../export/onnx-runner.js';
import type { EncodedRow } from '../features/transform.js';
import { MicroBatcher } from './batcher.js';

/** A model whose outputs identify each row: raw = first value, probabilities [1 − p, p] with p = value / 100. */
function fakeRun(calls: number[]) {
  return async (rows: EncodedRow[]): Promise<ModelOutputs> => {
    calls.push(rows.length);
    const raw = Float64Array.from(rows, (r) => r[0] as number);
    return { raw, dimension: 1, probabilities: Float64Array.from(rows.flatMap((r) => [1 - (r[0] as number) / 100, (r[0] as number) / 100])) };
  };
}

describe('MicroBatcher', () => {
  it('coalesces requests of the same turn into one run and hands each its own rows back', async () => {
    const calls: number[] = [];
    const batcher = new MicroBatcher(fakeRun(calls), 1000);
    const outs = await Promise.all([[1], [2, 3], [4, 5, 6]].map((vs) => batcher.submit(vs.map((v) => [v]))));
    expect(calls).toEqual([6]);
    expect(outs.map((o) => Array.from(o.raw))).toEqual([[1], [2, 3], [4, 5, 6]]);
    expect(Array.from(outs[1]!.probabilities!)).toEqual([0.98, 0.02, 0.97, 0.03]);
  });

  it('never puts more than maxRows in a run, but never splits a request', async () => {
    const calls: number[] = [];
    const batcher = new MicroBatcher(fakeRun(calls), 4);
    await Promise.all([[1, 2, 3], [4, 5], [6], [7, 8, 9, 10, 11]].map((vs) => batcher.submit(vs.map((v) => [v]))));
    expect(calls).toEqual([3, 3, 5]);
  });

  it('fails every request of a failed run, and serves the next ones', async () => {
    let fail = true;
    const batcher = new MicroBatcher(async (rows) => {
      if (fail) throw new Error('session lost');
      return { raw: new Float64Array(rows.length), dimension: 1 };
    }, 100);
    const failed = await Promise.allSettled([batcher.submit([[1]]), batcher.submit([[2]])]);
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    await expect(batcher.submit([[3]])).resolves.toMatchObject({ dimension: 1 });
  });
});
