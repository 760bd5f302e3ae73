import { describe, expect, it } from '@jest/globals';
import type { z } from 'zod';
import { exampleManifests, invalidManifests } from '../../../../test/fixtures/manifests.js';
import { fieldPath } from './common.js';
import { kinds } from './index.js';

const specSchema = (kind: string): z.ZodType => {
  const def = kinds.find((k) => k.kind === kind);
  if (!def) throw new Error(`unknown kind ${kind}`);
  return def.spec;
};


describe('example manifests', () => {
  it.each(exampleManifests().map((e) => [`${e.file}: ${e.manifest.kind} ${e.manifest.metadata.name}`, e.manifest] as const))(
    '%s parses',
    (_title, manifest) => {
      const result = specSchema(manifest.kind).safeParse(manifest.spec);
      expect(result.error?.issues ?? []).toEqual([]);
    },
  );
});

describe('invalid manifests are rejected by zod on the field the API server names', () => {
  it.each(invalidManifests().map((c) => [`${c.manifest.kind}: ${c.title}`, c] as const))('%s', (_title, c) => {
    const result = specSchema(c.manifest.kind).safeParse(c.manifest.spec);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => fieldPath(i.path))).toContain(c.field);
  });
});

describe('defaults', () => {
  it('fills CatBoost, split and compute defaults the CRD also declares', () => {
    const run = exampleManifests().find((e) => e.manifest.metadata.name === 'salaries-experience-1')!.manifest;
    const spec = specSchema('TrainingRun').parse(run.spec) as Record<string, any>;
    expect(spec.compute).toEqual({ device: 'CPU', gpus: 0 });
    expect(spec.catboost.randomSeed).toBe(0);
    expect(spec.data.split.validationFraction).toBe('0.1');
  });
});
