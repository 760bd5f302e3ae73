// A record's fields beyond the model's inputs, under each serving.extraFields policy: clients send
// whole rows of the training file (target, ids, columns the spec left out).
import { describe, expect, it } from '@jest/globals';
import type { InputSchema } from '../features/schema.js';
import { recordEncoder } from '../features/transform.js';
import type { ServedModel } from './model.js';
import { parseInferRequest, parseInstances, passedThrough } from './requests.js';

const schema = {
  version: 1,
  task: 'Regression',
  features: {
    target: { column: 'salary' },
    columns: [
      { name: 'years', type: 'Numeric' },
      { name: 'title', column: 'job_title', type: 'Categorical' },
    ],
    idColumns: ['row_id'],
  },
  inputs: [
    { name: 'years', type: 'Numeric', feature: 'years' },
    { name: 'title', type: 'Categorical', feature: 'title' },
  ],
  multiLabel: {},
} as unknown as InputSchema;
const model = { name: 'm', schema, encode: recordEncoder(schema), columns: ['years', 'job_title'] } as unknown as ServedModel;
const fullRow = { row_id: 'r-17', years: 3, job_title: 'Analyst', salary: 81000, salary_currency: 'EUR' };

describe('extra fields', () => {
  it('Reject refuses a training file row for its target, id and dropped columns', () => {
    expect(() => parseInstances({ instances: [fullRow] }, model, 10, { policy: 'Reject' })).toThrow(/^instances\[0\]\.row_id: unknown field/);
  });

  it('Ignore, the default, scores the same row as its inputs alone', () => {
    expect(parseInstances({ instances: [fullRow] }, model, 10)).toEqual([[3, 'Analyst']]);
    expect(parseInstances({ instances: [fullRow] }, model, 10, { policy: 'Ignore' })).toEqual(parseInstances({ instances: [{ years: 3, job_title: 'Analyst' }] }, model, 10));
    expect(passedThrough({ instances: [fullRow] }, model, { policy: 'Ignore' })).toBeUndefined();
  });

  it('Ignore still refuses a misspelt input, since the input is then missing, and points at the misspelling', () => {
    expect(() => parseInstances({ instances: [{ row_id: 'r-17', years: 3, job_tittle: 'x', salary: 81000 }] }, model, 10)).toThrow(
      /^instances\[0\]\.job_title: missing: every record carries every column the model reads \(null for a missing value\); the record has job_tittle: is it misspelt\?$/,
    );
  });

  it('Ignore takes a "__proto__" field as a plain, unused one', () => {
    const record = JSON.parse('{"years": 1, "job_title": "x", "__proto__": {"polluted": true}}');
    expect(parseInstances({ instances: [record] }, model, 10)).toEqual([[1, 'x']]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('PassThrough echoes the model\'s idColumns by default, or the fields named, null where a record lacks one', () => {
    const body = { instances: [fullRow, { years: 1, job_title: 'x' }] };
    expect(parseInstances(body, model, 10, { policy: 'PassThrough' })).toHaveLength(2);
    expect(passedThrough(body, model, { policy: 'PassThrough' })).toEqual([{ row_id: 'r-17' }, { row_id: null }]);
    expect(passedThrough(body, model, { policy: 'PassThrough', passThrough: ['row_id', 'salary'] })).toEqual([{ row_id: 'r-17', salary: 81000 }, { row_id: null, salary: null }]);
  });

  it('applies to Open Inference Protocol tensors too: Reject refuses, Ignore drops, PassThrough answers the named tensor', () => {
    const id = { name: 'row_id', datatype: 'BYTES', shape: [1], data: ['r-17'] };
    const body = { inputs: [{ name: 'years', datatype: 'FP64', shape: [1], data: [3] }, { name: 'title', datatype: 'BYTES', shape: [1], data: ['Analyst'] }, id] };
    expect(() => parseInferRequest(body, model, 10, ['prediction'], { policy: 'Reject' })).toThrow(/^inputs: "row_id" is not an input of m/);
    expect(parseInferRequest(body, model, 10, ['prediction'], { policy: 'Ignore' })).toEqual({ rows: [[3, 'Analyst']] });
    expect(parseInferRequest(body, model, 10, ['prediction'], { policy: 'PassThrough' })).toEqual({ rows: [[3, 'Analyst']], passedThrough: [id] });
  });
});
