import { describe, expect, it } from '@jest/globals';
import type { RegisteredModelStatus } from '../../api/v1alpha1/registered-model.js';
import { resolveModelVersion } from './resolve.js';

const version = (n: number) => ({ version: n, trainingRun: `r${n}`, createdTime: '2026-11-23T10:00:00Z', task: 'Regression' as const, artifactUri: `gs://b/runs/r${n}/` });
const model = (status: RegisteredModelStatus) => ({ status });
const registry = model({ latestVersion: 3, versions: [version(1), version(2), version(3)], aliases: { champion: 2, challenger: 3 } });
const ref = { modelRef: { name: 'salaries' } };

const cases: [string, Parameters<typeof resolveModelVersion>[0], Parameters<typeof resolveModelVersion>[1], number | { reason: string; message: RegExp }][] = [
  ['champion by default', ref, registry, 2],
  ['the alias asked for', { ...ref, alias: 'Challenger' }, registry, 3],
  ['a pinned version', { ...ref, version: 1 }, registry, 1],
  ['no model', ref, undefined, { reason: 'ModelNotFound', message: /^RegisteredModel "salaries" does not exist in this namespace: create it/ }],
  ['no versions yet', ref, model({}), { reason: 'NoChampion', message: /has no champion yet/ }],
  ['no challenger', { ...ref, alias: 'Challenger' }, model({ ...registry.status, aliases: { champion: 2 } }), { reason: 'NoChallenger', message: /has no challenger/ }],
  ['a version that does not exist', { ...ref, version: 7 }, registry, { reason: 'VersionNotFound', message: /^RegisteredModel "salaries" has no version 7 \(latest is 3\)/ }],
  ['an alias on a version not listed', ref, model({ aliases: { champion: 4 } }), { reason: 'VersionNotFound', message: /has no version 4 \(its champion\) \(it has none yet\)/ }],
];

describe('resolveModelVersion', () => {
  it.each(cases)('%s', (_title, spec, m, want) => {
    const got = resolveModelVersion(spec, m);
    if (typeof want === 'number') expect(got).toEqual({ resolved: { version: want, artifactUri: `gs://b/runs/r${want}/`, task: 'Regression' } });
    else {
      expect('unresolved' in got && got.unresolved.reason).toBe(want.reason);
      expect('unresolved' in got && got.unresolved.message).toMatch(want.message);
    }
  });
});
