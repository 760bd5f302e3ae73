// Cell options, ranges and patterns: the steps that turn a raw cell into a value, stored with the
// model so that every path applies them; and the pattern guards admission and parsing share.
import { describe, expect, it } from '@jest/globals';
import { featureSpec } from '../api/v1alpha1/features.js';
import { describeIssue } from '../api/v1alpha1/common.js';
import { inputSchema } from './schema.js';
import type { ServedModel } from '../serving/model.js';
import { parseInstances } from '../serving/requests.js';
import { buildInputSchema, cellReader, FeatureError, jsonRecordReader, mergeCellOptions, PATTERN_MAX_CELL, PATTERN_REQUEST_BUDGET_MS, PatternBudget, recordEncoder } from './transform.js';

const spec = featureSpec.parse({
  target: { column: 'price' },
  cells: { whitespace: 'Trim', naValues: ['--', '-1'] },
  columns: [
    { name: 'district', type: 'Categorical' },
    { name: 'area', type: 'Numeric' },
    { name: 'age', type: 'Numeric', range: {} },
    { name: 'age_low', column: 'age', type: 'Numeric', range: { value: 'Lower' } },
    { name: 'age_high', column: 'age', type: 'Numeric', range: { value: 'Upper' } },
    { name: 'rooms', type: 'Numeric', pattern: { regex: '^([0-9]+) rooms?$' } },
    { name: 'zone', type: 'Categorical', pattern: { regex: '^([A-Z])-', noMatch: 'Missing' } },
    { name: 'tags', type: 'MultiLabel', multiLabel: { topK: 2 } },
  ],
});
const schema = buildInputSchema('Regression', spec, { tags: ['garden', 'pool'] }, undefined);
const encode = (r: Record<string, unknown>) => recordEncoder(schema)(jsonRecordReader(r));
const row = { district: 'Centro', area: '80', age: '45-65', rooms: '3 rooms', zone: 'B-12', tags: 'pool' };

describe('cells stored with the model', () => {
  it('trims and reads naValues before any feature, for strings and JSON numbers alike', () => {
    expect(encode(row)).toEqual(['Centro', 80, 55, 45, 65, 3, 'B', 0, 1]);
    const padded = { district: ' Centro ', area: ' 80 ', age: ' 45-65 ', rooms: ' 3 rooms', zone: ' B-12 ', tags: ' pool ' };
    expect(encode(padded)).toEqual(encode(row));
    const placeholders = { district: '--', area: -1, age: '--', rooms: ' -- ', zone: '--', tags: '--' };
    expect(encode(placeholders)).toEqual(['', Number.NaN, Number.NaN, Number.NaN, Number.NaN, Number.NaN, '', Number.NaN, Number.NaN]);
  });

  it('is idempotent, so prepare may apply it to a column the encoder applies it to again', () => {
    const cell = cellReader(spec.cells)!;
    for (const v of [' a ', '--', ' -- ', '-1', -1, 3, null, '', '  ']) expect(cell(cell(v))).toEqual(cell(v));
  });

  it('changes nothing for a model without cells: padded values stay unseen categories, "--" is not a number', () => {
    // input-schema.json as published before features.cells existed.
    const old = inputSchema.parse({
      version: 1,
      task: 'Regression',
      features: { target: { column: 'price' }, columns: [{ name: 'district', type: 'Categorical' }, { name: 'area', type: 'Numeric' }] },
      inputs: [{ name: 'district', type: 'Categorical', feature: 'district' }, { name: 'area', type: 'Numeric', feature: 'area' }],
      multiLabel: {},
    });
    const encodeOld = recordEncoder(old);
    expect(encodeOld(jsonRecordReader({ district: ' Centro', area: ' 80 ' }))).toEqual([' Centro', 80]);
    expect(() => encodeOld(jsonRecordReader({ district: 'Centro', area: '--' }))).toThrow(/area: "--" is not a number/);
    expect(cellReader(undefined)).toBeUndefined();
    expect(cellReader({ whitespace: 'Keep' })).toBeUndefined();
  });

  it('writes the version that has cells only when a model uses them', () => {
    expect(schema.version).toBe(2);
    const plain = featureSpec.parse({ target: { column: 'price' }, columns: [{ name: 'area', type: 'Numeric' }] });
    expect(buildInputSchema('Regression', plain, {}, undefined).version).toBe(1);
  });

  it("carries data.source.csv's whitespace and naValues into the model's cells", () => {
    expect(mergeCellOptions(undefined, { whitespace: 'Keep' })).toBeUndefined();
    expect(mergeCellOptions(undefined, { whitespace: 'Trim', naValues: ['?'] })).toEqual({ whitespace: 'Trim', naValues: ['?'] });
    expect(mergeCellOptions({ whitespace: 'Keep', naValues: ['--'] }, { whitespace: 'Trim', naValues: ['?', '--'] })).toEqual({ whitespace: 'Trim', naValues: ['--', '?'] });
  });
});

describe('ranges', () => {
  const age = (v: unknown) => encode({ ...row, age: v }).slice(2, 5);
  it('reads a range as its midpoint or a bound, a lone number as itself, a sign as a sign', () => {
    expect(age('45-65')).toEqual([55, 45, 65]);
    expect(age('45 - 65')).toEqual([55, 45, 65]);
    expect(age('-10-10')).toEqual([0, -10, 10]);
    expect(age('30')).toEqual([30, 30, 30]);
    expect(age(30)).toEqual([30, 30, 30]);
    expect(age('1.5-2.5')).toEqual([2, 1.5, 2.5]);
    expect(age('1e-5')).toEqual([1e-5, 1e-5, 1e-5]);
    expect(age('-1e-3')).toEqual([-1e-3, -1e-3, -1e-3]);
    expect(age(' 2.5E-2 ')).toEqual([0.025, 0.025, 0.025]);
    expect(age(null)).toEqual([Number.NaN, Number.NaN, Number.NaN]);
    const words = featureSpec.parse({ target: { column: 'y' }, columns: [{ name: 'age', type: 'Numeric', range: { separator: ' to ', value: 'Upper' } }] });
    expect(recordEncoder(buildInputSchema('Regression', words, {}, undefined))(jsonRecordReader({ age: '45 to 65' }))).toEqual([65]);
  });

  it('names the feature and the fix for cells that are not ranges', () => {
    expect(() => age('45-')).toThrow(/age: "45-" is not a number or a range such as "45-65": send one, or map the value with valueMap/);
    expect(() => age('old')).toThrow(FeatureError);
    expect(() => age('0x10-0x20')).toThrow(/not a number or a range/);
    expect(() => age('0x10')).toThrow(/not a number or a range/);
    expect(() => age('1e-')).toThrow(/age: "1e-" is not a number or a range/);
    expect(() => age('65-45')).toThrow(/age: "65-45" has its lower bound above its upper bound/);
  });
});

describe('patterns', () => {
  it('extracts the capture as a number or a category; a mismatch is refused or missing, as the spec says', () => {
    expect(encode({ ...row, rooms: '1 room' })[5]).toBe(1);
    expect(() => encode({ ...row, rooms: 'three rooms' })).toThrow(/rooms: "three rooms" does not match pattern.regex: send a value it matches, or set pattern.noMatch to Missing/);
    expect(encode({ ...row, zone: 'b12' })[6]).toBe('');
    expect(() => encode({ ...row, rooms: 4 })).toThrow(/rooms: "4" does not match/);
  });

  it(`refuses cells over ${PATTERN_MAX_CELL} characters before matching, without quoting them whole`, () => {
    const long = `${'9'.repeat(PATTERN_MAX_CELL)} rooms`;
    expect(() => encode({ ...row, rooms: long })).toThrow(new RegExp(`rooms: .* is ${long.length} characters, over the ${PATTERN_MAX_CELL} a pattern reads`));
    expect(() => encode({ ...row, rooms: long })).not.toThrow(new RegExp('9'.repeat(64)));
  });

  // Admitted (3 quantifiers, 2 repeats), and tens of milliseconds on a cell of 128 digits.
  const slowest = '(?:9|9|9|9|9|9|9|9)?([0-9]*)(?:9|9|9|9|9|9|9|9|9|9|9|9)[0-9]*x';
  const slowModel = () => {
    const slow = featureSpec.parse({ target: { column: 'y' }, columns: [{ name: 'code', type: 'Categorical', pattern: { regex: slowest, noMatch: 'Missing' } }] });
    const schema = buildInputSchema('Regression', slow, {}, undefined);
    return { name: 'm', schema, encode: recordEncoder(schema), columns: ['code'] } as unknown as ServedModel;
  };
  const digits = '9'.repeat(PATTERN_MAX_CELL);

  it("stops a record's patterns once the request's budget is spent, naming the feature and the fix", () => {
    const { encode: slowEncode } = slowModel();
    const budget = new PatternBudget(20);
    let rows = 0;
    expect(() => {
      for (; rows < 1000; rows++) slowEncode.budgeted(jsonRecordReader({ code: digits }), budget);
    }).toThrow(/^code: pattern\.regex matching in this request took over 20 ms, the most a request may spend: send fewer rows per request$/);
    expect(rows).toBeLessThan(1000);
    // Without a budget (training, batch scoring) the same cell is only slow.
    expect(slowEncode(jsonRecordReader({ code: digits }))).toEqual(['']);
  });

  it(`refuses a scoring request past ${PATTERN_REQUEST_BUDGET_MS} ms of pattern time with a 400 naming the row, not minutes later`, () => {
    const model = slowModel();
    const started = Date.now();
    let error: unknown;
    try {
      // Several seconds of matching unbudgeted on any machine this runs on.
      parseInstances({ instances: Array.from({ length: 400 }, () => ({ code: digits })) }, model, 1000);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ status: 400, message: expect.stringMatching(/^instances\[\d+\]\.code: pattern\.regex matching in this request took over 1000 ms/) });
    const row = Number(/^instances\[(\d+)\]/.exec((error as Error).message)![1]);
    expect(row).toBeLessThan(399);
    expect(Date.now() - started).toBeGreaterThanOrEqual(PATTERN_REQUEST_BUDGET_MS);
  });

  const problem = (regex: string) => {
    const r = featureSpec.safeParse({ target: { column: 'y' }, columns: [{ name: 'x', type: 'Numeric', pattern: { regex } }] });
    return r.success ? undefined : r.error.issues.map((i) => describeIssue({ issues: [i] } as never)).join('\n');
  };
  it.each([
    ['^([0-9]+) rooms?$', undefined],
    ['([0-9]+(?:[.][0-9]+)?)', undefined],
    ['(?<n>[0-9]+)', /only \(\.\.\.\) and \(\?:\.\.\.\) groups/],
    ['([0-9])(?=x)', /only \(\.\.\.\) and \(\?:\.\.\.\) groups/],
    ['(a)\\1', /backreferences/],
    ['((a+)+)b', /a group can be optional but not repeated/],
    ['([0-9]*[0-9]*[0-9]*[0-9]*)x', /at most 3 quantifiers/],
    // Three repeats: 20 ms on a 128-digit cell; two: 1 ms.
    ['(\\d*)\\d*\\d*x', /at most 2 repeats \(\*, \+, \{n,m\}\)/],
    ['([0-9]{1,3})[0-9]+[0-9]+', /at most 2 repeats/],
    ['([0-9]*)[0-9]*[0-9]?x', undefined],
    ['([0-9]+', /spec\.columns\[0\]\.pattern\.regex: does not compile/],
    ['[0-9]+', /has 0 capture groups, needs exactly one/],
    ['([a-z])([0-9])', /has 2 capture groups/],
    ['x'.repeat(129), /spec\.columns\[0\]\.pattern\.regex: Too big/],
  ])('%s → %s', (regex, expected) => {
    const found = problem(regex);
    if (expected === undefined) expect(found).toBeUndefined();
    else expect(found).toMatch(expected);
  });

  it('applies only to the types it can serve', () => {
    const r = featureSpec.safeParse({ target: { column: 'y' }, columns: [{ name: 'x', type: 'Categorical', range: {} }, { name: 'z', type: 'MultiLabel', pattern: { regex: '(a)' } }] });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message)).toEqual([
      expect.stringMatching(/^range applies only to Numeric features/),
      expect.stringMatching(/^pattern applies to Numeric and Categorical features, not MultiLabel/),
    ]);
  });
});
