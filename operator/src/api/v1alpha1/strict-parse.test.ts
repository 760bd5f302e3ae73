// Specs read outside the cluster (the CLI's --spec, the Pods' environment) refuse unknown fields as
// admission with fieldValidation=Strict does, and type errors say what to write instead.
import { describe, expect, it } from '@jest/globals';
import { exampleManifests } from '../../../../test/fixtures/manifests.js';
import { closestName, editDistance, parseStrict, unknownFields } from './common.js';
import { kinds } from './index.js';
import { trainingRunSpec } from './training-run.js';

const salaries = () => structuredClone(exampleManifests().find((e) => e.manifest.kind === 'TrainingRun' && e.file === 'salaries.yaml')!.manifest.spec) as any;

describe('unknown fields', () => {
  it.each(exampleManifests().map((e) => [`${e.file}: ${e.manifest.kind} ${e.manifest.metadata.name}`, e.manifest] as const))('%s has none', (_title, manifest) => {
    expect(unknownFields(kinds.find((k) => k.kind === manifest.kind)!.spec, manifest.spec)).toEqual([]);
  });

  it('are named with their path and the field they most likely meant', () => {
    const spec = salaries();
    spec.catboost.learningrate = '0.1';
    spec.data.split.sed = 3;
    spec.features.columns[1].vlaueMap = {};
    expect(unknownFields(trainingRunSpec, spec)).toEqual([
      { path: 'spec.data.split.sed', didYouMean: 'seed' },
      { path: 'spec.features.columns[1].vlaueMap', didYouMean: 'valueMap' },
      { path: 'spec.catboost.learningrate', didYouMean: 'learningRate' },
    ]);
  });

  it('refuse the spec in one message, without a guess when nothing is close', () => {
    const spec = salaries();
    spec.catboost.learningrate = '0.1';
    spec.catboost.turbo = 'On';
    const parsed = parseStrict(trainingRunSpec, spec);
    expect(parsed.success).toBe(false);
    expect(!parsed.success && parsed.message).toMatch(/^spec\.catboost\.learningrate is not a field: did you mean learningRate\?; spec\.catboost\.turbo is not a field \(fix or remove them: the API server would drop/);
  });

  it("are dropped with 'Drop', for the operator's own JSON, as admission's default drops them", () => {
    const spec = salaries();
    spec.catboost.newerField = 'x';
    const parsed = parseStrict(trainingRunSpec, spec, 'spec', 'Drop');
    expect(parsed.success && (parsed.data.catboost as Record<string, unknown>).newerField).toBeUndefined();
  });

  it('leave map keys alone: valueMap and extra hold the user\'s own names', () => {
    const spec = salaries();
    spec.catboost.extra = { nan_mode: 'Max' };
    expect(unknownFields(trainingRunSpec, spec)).toEqual([]);
  });
});

describe('did you mean', () => {
  it.each([
    ['learningrate', 'learningRate'],
    ['lerningRate', 'learningRate'],
    ['dpeth', 'depth'],
    ['iteration', 'iterations'],
    ['xyz', undefined],
    ['randomness', 'randomSeed'],
    ['verbose', undefined],
  ])('%s → %s', (name, expected) => {
    expect(closestName(name, ['learningRate', 'depth', 'iterations', 'randomSeed', 'l2LeafReg'])).toBe(expected);
  });

  it('counts a transposition as one edit', () => {
    expect(editDistance('dpeth', 'depth')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
});

describe('type errors say the fix', () => {
  it('a decimal written as a YAML number is to be quoted, and why', () => {
    const spec = salaries();
    spec.catboost.learningRate = 0.08;
    const parsed = parseStrict(trainingRunSpec, spec);
    expect(!parsed.success && parsed.message).toBe(
      'spec.catboost.learningRate: expected a string, got the number 0.08: write "0.08" in quotes, since numbers with fractions are written as strings in this API (no floats in spec, which clients would round differently)',
    );
  });

  it('so is a fraction', () => {
    const spec = salaries();
    spec.data.split.validationFraction = 0.1;
    const parsed = parseStrict(trainingRunSpec, spec);
    expect(!parsed.success && parsed.message).toMatch(/^spec\.data\.split\.validationFraction: expected a string, got the number 0\.1: write "0\.1" in quotes/);
  });
});
