import { describe, expect, it } from '@jest/globals';
import { featureSpec } from '../api/v1alpha1/features.js';
import { classNamesFor, inverseLabel, labelEncoder } from './target.js';
import { buildInputSchema, categoryText, FeatureError, fitMultiLabel, jsonRecordReader, recordEncoder, type RecordReader } from './transform.js';

const spec = featureSpec.parse({
  target: { column: 'salary', transform: 'Log', scale: '1000' },
  columns: [
    { name: 'years', column: 'YearsCode', type: 'Numeric', valueMap: { 'Less than 1 year': '0.5', 'More than 50 years': '51' } },
    { name: 'country', type: 'Categorical' },
    { name: 'remote', type: 'Numeric', missing: '-1' },
    { name: 'langs', type: 'MultiLabel', multiLabel: { separator: ';', topK: 2 } },
  ],
});

const reader = (r: Record<string, string | number | null>): RecordReader => jsonRecordReader(r);
const train = [
  { YearsCode: '3', country: 'France', remote: '100', langs: 'Go;SQL' },
  { YearsCode: 'Less than 1 year', country: 'Spain', remote: null, langs: 'SQL' },
  { YearsCode: '10', country: 'France', remote: '0', langs: 'Python;SQL;Go' },
  { YearsCode: null, country: null, remote: '50', langs: 'Rust' },
].map(reader);

describe('feature spec', () => {
  const multi = fitMultiLabel(spec, train);
  const schema = buildInputSchema('Regression', spec, multi, undefined);
  const encode = recordEncoder(schema);

  it('keeps the topK MultiLabel answers, most frequent first', () => {
    expect(multi).toEqual({ langs: ['SQL', 'Go'] });
    expect(schema.inputs.map((i) => i.name)).toEqual(['years', 'country', 'remote', 'langs=SQL', 'langs=Go']);
  });

  it('encodes value maps, missing values and indicators the same for file cells and JSON', () => {
    expect(encode(train[0]!)).toEqual([3, 'France', 100, 1, 1]);
    expect(encode(train[1]!)).toEqual([0.5, 'Spain', -1, 1, 0]);
    expect(encode(train[3]!)).toEqual([Number.NaN, '', 50, 0, 0]);
    expect(encode(reader({ YearsCode: 3, country: 'France', remote: 100, langs: 'Go; SQL' }))).toEqual(encode(train[0]!));
    // An unanswered MultiLabel question is missing, not "no".
    expect(encode(reader({ YearsCode: '1', country: 'x', remote: '1' })).slice(3)).toEqual([Number.NaN, Number.NaN]);
  });

  it('names the feature when a value is not a number', () => {
    expect(() => encode(reader({ YearsCode: 'lots', country: 'x' }))).toThrow(FeatureError);
    expect(() => encode(reader({ YearsCode: 'lots', country: 'x' }))).toThrow(/years: "lots" is not a number/);
    expect(() => encode(jsonRecordReader({ YearsCode: 1, country: { a: 1 } }))).toThrow(/country: expected a string, number or null/);
  });

  it('turns categories into the text CatBoost hashes', () => {
    expect(categoryText(2023)).toBe('2023');
    expect(categoryText('a\tb\nc')).toBe('a b c');
    expect(categoryText(null)).toBe('');
  });
});

/** Names every plain object inherits: user text that reaches them through `object[text]` reads Object.prototype. */
export const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

describe('user text that names an Object.prototype member', () => {
  const mappedSpec = featureSpec.parse({
    target: { column: 'y' },
    columns: [
      { name: 'n', type: 'Numeric', valueMap: { big: '100' } },
      { name: 'c', type: 'Categorical', valueMap: { s: 'S' } },
      { name: 'm', type: 'MultiLabel', valueMap: { x: 'X' } },
    ],
  });
  const encode = recordEncoder(buildInputSchema('Regression', mappedSpec, { m: ['X', 'constructor'] }, undefined));

  it('is not a number, a category of its own, or a label of its own, never a member of Object.prototype', () => {
    expect(PROTOTYPE_NAMES).toEqual(expect.arrayContaining(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString', '__defineGetter__', '__lookupGetter__']));
    for (const name of PROTOTYPE_NAMES) {
      expect(() => encode(reader({ n: name, c: 'a', m: null }))).toThrow(new FeatureError('n', `n: "${name}" is not a number (send a decimal number, or map the value with valueMap)`));
      expect(encode(reader({ n: 1, c: name, m: `${name};y` }))).toEqual([1, name, 0, name === 'constructor' ? 1 : 0]);
    }
    expect(encode(reader({ n: 'big', c: 's', m: 'x' }))).toEqual([100, 'S', 1, 0]);
  });

  it('as a column name reads the record\'s own field, and its absence as missing', () => {
    for (const name of PROTOTYPE_NAMES) {
      const spec = featureSpec.parse({ target: { column: 'y' }, columns: [{ name: 'n', column: name, type: 'Numeric' }, { name: 'c', column: name, type: 'Categorical' }, { name: 'm', column: name, type: 'MultiLabel' }] });
      const byName = recordEncoder(buildInputSchema('Regression', spec, { m: ['7'] }, undefined));
      expect(byName(jsonRecordReader({}))).toEqual([Number.NaN, '', Number.NaN]);
      expect(byName(jsonRecordReader(JSON.parse(`{${JSON.stringify(name)}: "7"}`)))).toEqual([7, '7', 1]);
    }
  });

  it('as a feature name finds no fitted MultiLabel vocabulary it was not given', () => {
    const spec = featureSpec.parse({ target: { column: 'y' }, columns: [{ name: 'constructor', type: 'MultiLabel' }] });
    expect(buildInputSchema('Regression', spec, {}, undefined).inputs).toEqual([]);
  });
});

describe('target', () => {
  const t = { column: 'y', transform: 'None' as const };
  it('puts the positive class last for binary tasks and rejects a third class', () => {
    expect(classNamesFor('BinaryClassification', { ...t, positiveClass: '<=50K' }, ['>50K', '<=50K'])).toEqual(['>50K', '<=50K']);
    expect(classNamesFor('BinaryClassification', { ...t, valueMap: { '>50K.': '>50K' } }, ['>50K.', '>50K', '<=50K'])).toEqual(['<=50K', '>50K']);
    expect(() => classNamesFor('BinaryClassification', t, ['a', 'b', 'c'])).toThrow(/has 3 classes \(a, b, c\), BinaryClassification needs exactly 2/);
  });

  it('maps a label named like an Object.prototype member as the label it is', () => {
    const mapped = { ...t, valueMap: { yes: 'Y' } };
    expect(classNamesFor('MulticlassClassification', mapped, ['constructor', 'yes', 'toString'])).toEqual(['Y', 'constructor', 'toString']);
    expect(labelEncoder('MulticlassClassification', mapped, ['Y', 'constructor', 'toString'])('toString')).toBe(2);
  });

  it('applies scale and log, and inverts them', () => {
    const target = { column: 'salary', transform: 'Log' as const, scale: '1000' };
    const y = labelEncoder('Regression', target, undefined)('85000')!;
    expect(y).toBeCloseTo(Math.log(85), 12);
    expect(inverseLabel(target)(y)).toBeCloseTo(85000, 6);
    expect(() => labelEncoder('Regression', target, undefined)('0')).toThrow(/transform Log needs values > 0/);
    expect(() => labelEncoder('Regression', target, undefined)('n/a')).toThrow(/"n\/a" is not a number; Regression needs a numeric target/);
  });
});
