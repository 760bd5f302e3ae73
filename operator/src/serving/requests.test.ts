import { describe, expect, it } from '@jest/globals';
import type { InputSchema } from '../features/schema.js';
import { recordEncoder } from '../features/transform.js';
import type { ServedModel } from './model.js';
import { parseInstances } from './requests.js';

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
const parse = (instances: unknown[]) => parseInstances({ instances }, model, 10);

describe('parseInstances', () => {
  it('encodes records through the feature spec, in any key order', () => {
    expect(parse([{ years: 3, size: 'small', job_title: 'a\tb' }, { job_title: null, size: 'L', years: null }])).toEqual([
      [3, 'S', 'a b'],
      [Number.NaN, 'L', ''],
    ]);
  });

  it('names an unknown field before a missing one, whatever the count of keys', () => {
    // As many keys as columns, one of them unknown: the one-pass check must not let it through.
    expect(() => parse([{ years: 1, size: 'S', job_tittle: 'x' }])).toThrow(/^instances\[0\]\.job_tittle: unknown field: the model reads years, size, job_title$/);
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
