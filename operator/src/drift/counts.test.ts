import { describe, expect, it } from '@jest/globals';
import { categoricalProfile, numericProfile, referenceProfile, type ReferenceProfile } from '../features/profile.js';
import type { EncodedRow } from '../features/transform.js';
import { mulberry32 } from '../training/random.js';
import {
  DriftCounter, driftLayout, driftPrediction, emptyCounts, maxCountsJsonBytes, mergeCounts, parseDriftCounts, parseLayoutCounts, rankedCategories, slotOf, subtractCounts, type DriftCounts,
} from './counts.js';

const inputs = [
  { name: 'x', type: 'Numeric' as const, feature: 'x' },
  { name: 'flag', type: 'Numeric' as const, feature: 'flag' },
  { name: 'c', type: 'Categorical' as const, feature: 'c' },
];
const training: EncodedRow[] = Array.from({ length: 100 }, (_, i) => [i + 1, i % 4 === 0 ? 1 : 0, ['a', 'a', 'a', 'a', 'a', 'b', 'b', 'b', 'c', ''][i % 10]!]);
const profile: ReferenceProfile = { ...referenceProfile(inputs, training), prediction: numericProfile(training.map((r) => (r[0] as number) / 100)) };
const names = inputs.map((i) => i.name);

function randomRows(n: number, seed: number): [EncodedRow, number][] {
  const next = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const x = next() < 0.05 ? Number.NaN : Math.round(next() * 120 - 10);
    return [[x, next() < 0.3 ? 1 : 0, ['a', 'b', 'c', 'd', ''][Math.floor(next() * 5)]!], next()];
  });
}

function count(rows: [EncodedRow, number][]): DriftCounts {
  const counter = new DriftCounter(profile, names);
  for (const [row, p] of rows) counter.add(row, p);
  return counter.counts();
}

describe('drift counts', () => {
  it('bins numbers by the profile: below min, one slot per bin, above max, missing', () => {
    const layout = driftLayout(profile);
    const x = slotOf(layout.inputs[0]!.slots);
    expect([0.5, 1, 5, 5.96, 100, 101, Number.NaN].map(x)).toEqual([0, 1, 1, 2, 20, 21, 22]);
    const flag = slotOf(layout.inputs[1]!.slots);
    // Two training values: one slot each, so counts are exact per value.
    expect([0, 1, 0.5, 2, -1, Number.NaN].map(flag)).toEqual([1, 2, 2, 3, 0, 4]);
  });

  it('slots categories by training frequency, then "other", then missing', () => {
    const c = slotOf(driftLayout(profile).inputs[2]!.slots);
    expect(['a', 'b', 'c', 'never seen', ''].map(c)).toEqual([0, 1, 2, 3, 4]);
    // Integer-like names: JSON key order must not matter.
    expect(rankedCategories({ b: 0.4, '2': 0.2, '10': 0.2, '': 0.2 })).toEqual(['b', '10', '2']);
  });

  it('counts every row once per input and for the prediction', () => {
    const counts = count(randomRows(1000, 1));
    expect(counts.rows).toBe(1000);
    for (const slots of [...Object.values(counts.inputs), counts.prediction!]) expect(slots.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(counts.inputs.x).toHaveLength(23);
    expect(counts.inputs.c).toHaveLength(5);
    // 'd' is not a training category: it lands in "other", with nothing else.
    expect(counts.inputs.c![3]).toBeGreaterThan(150);
    expect(parseDriftCounts(JSON.parse(JSON.stringify(counts)))).toEqual(counts);
  });

  it('merges shards exactly, in any order and grouping', () => {
    const rows = randomRows(3000, 2);
    const [a, b, c] = [rows.slice(0, 700), rows.slice(700, 2100), rows.slice(2100)].map(count) as [DriftCounts, DriftCounts, DriftCounts];
    const whole = count(rows);
    expect(mergeCounts([a, b, c])).toEqual(whole);
    expect(mergeCounts([mergeCounts([a, b]), c])).toEqual(mergeCounts([a, mergeCounts([b, c])]));
    expect(mergeCounts([c, a, b])).toEqual(whole);
    expect(mergeCounts([a, emptyCounts(driftLayout(profile))])).toEqual(a);
    expect(a).toEqual(count(rows.slice(0, 700))); // inputs untouched
  });

  it('drops an old block from a window by subtraction', () => {
    const rows = randomRows(2000, 3);
    const old = count(rows.slice(0, 500));
    const total = count(rows);
    expect(subtractCounts(total, old)).toEqual(count(rows.slice(500)));
    expect(() => subtractCounts(old, total)).toThrow(/never added/);
  });

  it('hands out a block and starts the next one empty', () => {
    const counter = new DriftCounter(profile, names);
    counter.add([1, 0, 'a'], 0.5);
    const block = counter.take();
    expect(block.rows).toBe(1);
    expect(counter.counts()).toEqual(emptyCounts(driftLayout(profile)));
  });

  it('follows the input order of the rows it is given', () => {
    const reordered = new DriftCounter(profile, ['c', 'x', 'flag']);
    reordered.add(['b', 200, 1], 0.1);
    const counts = reordered.counts();
    expect(counts.inputs.x![21]).toBe(1);
    expect(counts.inputs.c![1]).toBe(1);
    expect(counts.inputs.flag![2]).toBe(1);
  });

  it('refuses counts of another profile, and inputs the profile does not match', () => {
    const other = { ...profile, inputs: { ...profile.inputs, c: categoricalProfile(['a', 'z']) } };
    const theirs = new DriftCounter(other, names).counts();
    expect(theirs.layout).not.toBe(count([]).layout);
    expect(() => mergeCounts([count([]), theirs])).toThrow(/different reference profiles/);
    expect(() => new DriftCounter(profile, ['x', 'c'])).toThrow(/describes input "flag", which the model's inputs \(x, c\) lack/);
  });

  it('rejects serialised counts that do not add up', () => {
    const counts = count(randomRows(10, 4));
    expect(() => parseDriftCounts({ ...counts, rows: 11 }, 'shard 2 summary')).toThrow(/shard 2 summary: x counts 10 values for 11 rows/);
    expect(() => parseDriftCounts({ ...counts, inputs: { x: [1.5] } })).toThrow(/malformed at inputs.x.0/);
    expect(() => parseDriftCounts(JSON.parse(JSON.stringify(counts).replace('"inputs":{', '"inputs":{"__proto__":[10],')))).toThrow(/malformed at inputs.__proto__/);
  });

  it('reads untrusted counts only in the exact shape of the layout, naming the field that is wrong', () => {
    const layout = driftLayout(profile);
    const good = count(randomRows(10, 5));
    const json = (c: unknown) => JSON.parse(JSON.stringify(c)) as Record<string, any>;
    expect(parseLayoutCounts(json(good), layout, 'block', 100)).toEqual(good);
    const cases: [string, (c: Record<string, any>) => unknown, RegExp][] = [
      ['a "__proto__" input', (c) => JSON.parse(JSON.stringify(c).replace('"inputs":{', '"inputs":{"__proto__":[1],')), /block\.inputs\.__proto__: not an input of the model/],
      ['an input missing', (c) => ({ ...c, inputs: { x: c.inputs.x, flag: c.inputs.flag } }), /block\.inputs\.c: missing/],
      ['an extra input', (c) => ({ ...c, inputs: { ...c.inputs, y: [10] } }), /block\.inputs\.y: not an input/],
      ['too few slots', (c) => ({ ...c, inputs: { ...c.inputs, x: c.inputs.x.slice(1) } }), /block\.inputs\.x: expected an array of 23 counts .*got 22 values/],
      ['too many slots', (c) => ({ ...c, prediction: [...c.prediction, 0] }), /block\.prediction: expected an array of \d+ counts/],
      ['a negative count', (c) => ({ ...c, inputs: { ...c.inputs, flag: [-1, ...c.inputs.flag.slice(1)] } }), /block\.inputs\.flag\[0\]: expected an integer from 0 to 10, got -1/],
      ['a fraction', (c) => ({ ...c, inputs: { ...c.inputs, flag: [0.5, ...c.inputs.flag.slice(1)] } }), /block\.inputs\.flag\[0\]: expected an integer/],
      ['a string count', (c) => ({ ...c, inputs: { ...c.inputs, flag: ['1', ...c.inputs.flag.slice(1)] } }), /block\.inputs\.flag\[0\]: expected an integer from 0 to 10, got "1"/],
      ['counts that do not add up', (c) => ({ ...c, rows: 9 }), /block\.inputs\.x\[\d+\]: expected an integer from 0 to 9|block\.inputs\.x: counts/],
      ['more rows than a block may hold', (c) => ({ ...c, rows: 101 }), /block\.rows: expected an integer from 0 to 100, got 101/],
      ['unsafe integers', (c) => ({ ...c, rows: 2 ** 60 }), /block\.rows/],
      ['another layout', (c) => ({ ...c, layout: '0123456789abcdef' }), /block\.layout: .*another reference profile/],
      ['an extra field', (c) => ({ ...c, note: 1 }), /block\.note: not a field/],
      ['an array', () => [], /block: expected an object/],
      ['no prediction', (c) => ({ ...c, prediction: undefined }), /block\.prediction: expected an array/],
    ];
    for (const [what, change, error] of cases) {
      let message = 'accepted';
      try {
        parseLayoutCounts(change(json(good)), layout, 'block', 100);
      } catch (err) {
        message = (err as Error).message;
      }
      expect([what, message]).toEqual([what, expect.stringMatching(error)]);
    }
  });

  it('bounds the JSON of a block from the layout and its most rows', () => {
    const layout = driftLayout(profile);
    const full = emptyCounts(layout);
    // Every slot at the widest count a block of 99,999 rows can hold.
    for (const slots of [...Object.values(full.inputs), full.prediction!]) slots.fill(99_999);
    full.rows = 99_999;
    const bytes = JSON.stringify(full).length;
    expect(bytes).toBeLessThanOrEqual(maxCountsJsonBytes(layout, 99_999));
    expect(maxCountsJsonBytes(layout, 99_999)).toBeLessThan(2 * bytes);
  });

  it('counts predicted classes against a multiclass prediction profile', () => {
    const multiclass = { ...profile, prediction: categoricalProfile(['x', 'y', 'x', 'z'], '\u0000none') };
    const counter = new DriftCounter(multiclass, names);
    for (const label of ['x', 'z', 'z', 'y']) counter.add([1, 0, 'a'], label);
    counter.add([1, 0, 'a']);
    // x, then y and z by name, other, missing.
    expect(counter.counts().prediction).toEqual([1, 1, 2, 0, 1]);
  });

  it('takes the prediction the profile describes for each task', () => {
    const outputs = { prediction: Float64Array.of(12.5, 40), probabilities: Float64Array.of(0.2, 0.8, 0.6, 0.4) };
    expect(driftPrediction('Regression', outputs, 1)).toBe(40);
    expect(driftPrediction('BinaryClassification', outputs, 1)).toBe(0.4);
    const three = { probabilities: Float64Array.of(0.1, 0.3, 0.6, 0.5, 0.4, 0.1) };
    expect(driftPrediction('MulticlassClassification', three, 0, ['x', 'y', 'z'])).toBe('z');
    expect(driftPrediction('MulticlassClassification', three, 1, ['x', 'y', 'z'])).toBe('x');
  });
});
