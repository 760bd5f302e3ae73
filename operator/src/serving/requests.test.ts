import { describe, expect, it } from '@jest/globals';
import type { InputSchema } from '../features/schema.js';
import { recordEncoder } from '../features/transform.js';
import type { ServedModel } from './model.js';
import { parseInferRequest, parseInstances } from './requests.js';

const schema = {
  version: 1,
  task: 'Regression',
  features: {
    target: { column: 'salary' },
    columns: [
      { name: 'years', type: 'Numeric' },
      { name: 'size', type: 'Categorical', valueMap: { small: 'S' } },
      { name: 'title', column: 'job_title', type: 'Categorical' },
    ],
  },
  inputs: [
    { name: 'years', type: 'Numeric', feature: 'years' },
    { name: 'size', type: 'Categorical', feature: 'size' },
    { name: 'title', type: 'Categorical', feature: 'title' },
  ],
  multiLabel: {},
} as unknown as InputSchema;
const model = { name: 'm', schema, encode: recordEncoder(schema), columns: ['years', 'size', 'job_title'] } as unknown as ServedModel;
const parse = (instances: unknown[]) => parseInstances({ instances }, model, 10, { policy: 'Reject' });

describe('parseInstances', () => {
  it('encodes records through the feature spec, in any key order', () => {
    expect(parse([{ years: 3, size: 'small', job_title: 'a\tb' }, { job_title: null, size: 'L', years: null }])).toEqual([
      [3, 'S', 'a b'],
      [Number.NaN, 'L', ''],
    ]);
  });

  it('names an unknown field before a missing one, whatever the count of keys', () => {
    // As many keys as columns, one of them unknown: the one-pass check must not let it through.
    expect(() => parse([{ years: 1, size: 'S', job_tittle: 'x' }])).toThrow(/^instances\[0\]\.job_tittle: unknown field: the model reads years, size, job_title \(its serving.extraFields.policy is Reject: send only these, or set the policy to Ignore\)$/);
    expect(() => parse([{ years: 1, size: 'S', job_title: 'x' }, { years: 1, size: 'S' }])).toThrow(/^instances\[1\]\.job_title: missing: /);
    expect(() => parse([{ years: 1, size: 'S', job_title: 'x', extra: 1 }])).toThrow(/^instances\[0\]\.extra: unknown field/);
  });

  it('takes a "__proto__" key (JSON.parse makes it an own field) as an unknown field', () => {
    const record = JSON.parse('{"years": 1, "size": "S", "job_title": "x", "__proto__": {"a": 1}}');
    expect(() => parse([record])).toThrow(/^instances\[0\]\.__proto__: unknown field/);
  });

  it('names the field a value cannot be encoded for', () => {
    expect(() => parse([{ years: 'ten', size: 'S', job_title: 'x' }])).toThrow(/^instances\[0\]\.years: "ten" is not a number/);
    expect(() => parse([{ years: 1, size: ['S'], job_title: 'x' }])).toThrow(/^instances\[0\]\.size: expected a string, number or null, got an array/);
  });
});

describe('parseInstances with Object.prototype names', () => {
  const onColumn = (column: string) => {
    const spec = { ...schema, features: { ...schema.features, columns: [{ name: 'years', column, type: 'Numeric' }] }, inputs: [schema.inputs[0]] } as unknown as InputSchema;
    return { name: 'm', schema: spec, encode: recordEncoder(spec), columns: [column] } as unknown as ServedModel;
  };

  it('names a column the record lacks as missing, even when Object.prototype has a member of that name', () => {
    for (const name of Object.getOwnPropertyNames(Object.prototype)) {
      expect(() => parseInstances({ instances: [{ other: 1 }] }, onColumn(name), 10, { policy: 'Reject' })).toThrow(/^instances\[0\]\.other: unknown field/);
      expect(() => parseInstances({ instances: [{}] }, onColumn(name), 10)).toThrow(new RegExp(`^instances\\[0\\]\\.${name}: missing: `));
      expect(parseInstances({ instances: [JSON.parse(`{${JSON.stringify(name)}: 4}`)] }, onColumn(name), 10)).toEqual([[4]]);
    }
  });
});

describe('parseInferRequest', () => {
  const tensors = (years: Record<string, unknown>) => ({
    inputs: [
      { name: 'years', datatype: 'FP64', shape: [2, 1], data: [1, 2], ...years },
      { name: 'size', datatype: 'BYTES', shape: [2, 1], data: ['S', 'L'] },
      { name: 'title', datatype: 'BYTES', shape: [2, 1], data: ['a', 'b'] },
    ],
  });
  const infer = (years: Record<string, unknown>) => parseInferRequest(tensors(years), model, 10, ['raw', 'prediction']).rows;

  it('takes every OIP numeric datatype within its range, flat or nested as the shape says', () => {
    const cases: [string, unknown[], number[]][] = [
      ['BOOL', [true, false], [1, 0]],
      ['UINT8', [0, 255], [0, 255]],
      ['UINT16', [65535, null], [65535, Number.NaN]],
      ['UINT32', [4294967295, 7], [4294967295, 7]],
      ['UINT64', [2 ** 53, 0], [2 ** 53, 0]],
      ['INT8', [-128, 127], [-128, 127]],
      ['INT16', [-32768, 32767], [-32768, 32767]],
      ['INT32', [-2147483648, 2022], [-2147483648, 2022]],
      ['INT64', [-(2 ** 53), 2 ** 53], [-(2 ** 53), 2 ** 53]],
      ['FP16', [65504, -0.5], [65504, -0.5]],
      ['FP32', [3.4e38, 1e-45], [3.4e38, 1e-45]],
      ['FP64', [1.7976931348623157e308, -1e308], [1.7976931348623157e308, -1e308]],
    ];
    for (const [datatype, data, want] of cases) {
      expect(infer({ datatype, data }).map((r) => r[0])).toEqual(want);
      expect(infer({ datatype, data: data.map((v) => [v]) }).map((r) => r[0])).toEqual(want);
      expect(infer({ datatype, data, shape: [2] }).map((r) => r[0])).toEqual(want);
    }
  });

  it('refuses a value its datatype cannot hold, naming the tensor, the row and the fix', () => {
    const cases: [string, unknown, RegExp][] = [
      ['INT8', 1e30, /^inputs\[0\] \(years\)\.data\[1\]: 1e\+30 is out of INT8's range -128\.\.127: send a wider datatype such as FP64$/],
      ['INT8', 128, /out of INT8's range/],
      ['UINT8', -5, /^inputs\[0\] \(years\)\.data\[1\]: -5 is out of UINT8's range 0\.\.255/],
      ['UINT64', -1, /out of UINT64's range/],
      ['INT32', 2022.7, /^inputs\[0\] \(years\)\.data\[1\]: 2022\.7 is not an integer: INT32 holds integers \(send FP64 for fractions\)$/],
      ['INT32', 2 ** 31, /out of INT32's range/],
      ['INT16', true, /expected a finite number or null, got true/],
      ['BOOL', 2022, /^inputs\[0\] \(years\)\.data\[1\]: expected true, false or null for BOOL, got 2022$/],
      ['BOOL', 'true', /expected true, false or null for BOOL, got "true"/],
      ['FP16', 65520, /out of FP16's range/],
      ['FP32', 1e39, /out of FP32's range/],
      ['FP64', '12', /expected a finite number or null, got "12"/],
    ];
    for (const [datatype, value, message] of cases) expect(() => infer({ datatype, data: [datatype === 'BOOL' ? true : 1, value] })).toThrow(message);
    expect(() => infer({ datatype: 'FP128' })).toThrow(/^inputs\[0\] \(years\)\.datatype: expected BOOL, UINT8\.\.UINT64, INT8\.\.INT64 or FP16\/FP32\/FP64 for this numeric input, got "FP128"$/);
    expect(() => infer({ datatype: 'BYTES', data: ['1', '2'] })).toThrow(/\.datatype: expected BOOL/);
  });

  it('refuses ragged, over-nested or mis-shaped data instead of flattening it', () => {
    expect(() => infer({ data: [[1, 2], [3]], shape: [3, 1] })).toThrow(/^inputs\[0\] \(years\)\.data: 2 rows for shape \[3,1\]: send 3 rows of one value, or 3 values flat$/);
    expect(() => infer({ data: [[1, 2]] })).toThrow(/^inputs\[0\] \(years\)\.data: 1 rows for shape \[2,1\]: send 2 rows of one value, or 2 values flat$/);
    expect(() => infer({ data: [[1], [2, 3]] })).toThrow(/^inputs\[0\] \(years\)\.data\[1\]: expected \[value\] as shape \[2,1\] says, got an array of 2: the data is ragged$/);
    expect(() => infer({ data: [1, [2]] })).toThrow(/^inputs\[0\] \(years\)\.data\[0\]: expected \[value\] as shape \[2,1\] says, got 1: the data is ragged$/);
    expect(() => infer({ data: [[[1]], [[2]]] })).toThrow(/\.data\[0\]: expected \[value\] .* got an array of 1: the data is ragged$/);
    expect(() => infer({ data: [[1], [2]], shape: [2] })).toThrow(/^inputs\[0\] \(years\)\.data: nested arrays for shape \[2\]: send a flat array of 2 values$/);
    expect(() => infer({ data: [1, 2, 3] })).toThrow(/^inputs\[0\] \(years\)\.data: 3 values for shape \[2,1\]: send 2 values, one per row$/);
  });
});
