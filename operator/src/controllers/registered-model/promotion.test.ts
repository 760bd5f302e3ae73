import { describe, expect, it } from '@jest/globals';
import type { ModelVersion, RegisteredModelStatus } from '../../api/v1alpha1/registered-model.js';
import { appendPromotions, computePromotions, improvement } from './promotion.js';
import { registerVersion } from './versions.js';

const now = new Date('2026-11-23T12:00:00Z');
const version = (n: number, metrics: Record<string, string>, fingerprint = 'same'): ModelVersion => ({
  version: n, trainingRun: `run-${n}`, trainingRunUID: `uid-${n}`, createdTime: '2026-11-23T11:00:00Z', task: 'Regression', metrics, testDataFingerprint: fingerprint, artifactUri: `gs://b/${n}/`,
});
const automatic = (minImprovement = '0.01', metric?: 'RMSE' | 'R2') => ({ task: 'Regression' as const, promotion: { policy: 'Automatic' as const, minImprovement, ...(metric ? { metric } : {}) } });
const manual = (champion?: number, challenger?: number) => ({ task: 'Regression' as const, promotion: { policy: 'Manual' as const, minImprovement: '0', ...(champion ? { champion } : {}), ...(challenger ? { challenger } : {}) } });
const withChampion1 = (v2: ModelVersion): RegisteredModelStatus => ({ versions: [version(1, { RMSE: '100', R2: '0.40' }), v2], latestVersion: 2, aliases: { champion: 1 }, promotions: [{ time: 't', alias: 'Champion', version: 1, reason: 'FirstVersion', message: '' }] });

type Case = [string, ReturnType<typeof automatic>, RegisteredModelStatus, Record<string, number>, string[]];
describe('Automatic promotion', () => {
  it.each<Case>([
    ['the first version becomes champion', automatic(), { versions: [version(1, { RMSE: '100' })], latestVersion: 1 }, { champion: 1 }, ['Champion:1:FirstVersion']],
    ['a version 5% better than the champion takes over', automatic('0.01'), withChampion1(version(2, { RMSE: '95' })), { champion: 2 }, ['Champion:2:BeatChampion']],
    ['0.5% better is not enough for a 1% margin', automatic('0.01'), withChampion1(version(2, { RMSE: '99.5' })), { champion: 1, challenger: 2 }, ['Challenger:2:DidNotBeatChampion']],
    ['worse stays challenger', automatic('0'), withChampion1(version(2, { RMSE: '120' })), { champion: 1, challenger: 2 }, ['Challenger:2:DidNotBeatChampion']],
    ['higher R2 is better', automatic('0.01', 'R2'), withChampion1(version(2, { RMSE: '101', R2: '0.45' })), { champion: 2 }, ['Champion:2:BeatChampion']],
    ['other test data cannot be compared', automatic('0'), withChampion1(version(2, { RMSE: '50' }, 'other')), { champion: 1, challenger: 2 }, ['Challenger:2:DifferentTestData']],
    [
      "other test data is compared through the champion's score on the new split: better wins",
      automatic('0.01'),
      withChampion1({ ...version(2, { RMSE: '50' }, 'other'), comparison: { version: 1, metrics: { RMSE: '60' } } }),
      { champion: 2 },
      ['Champion:2:BeatChampion'],
    ],
    [
      "other test data is compared through the champion's score on the new split: worse loses, whatever the old split said",
      automatic('0'),
      withChampion1({ ...version(2, { RMSE: '50' }, 'other'), comparison: { version: 1, metrics: { RMSE: '45' } } }),
      { champion: 1, challenger: 2 },
      ['Challenger:2:DidNotBeatChampion'],
    ],
    [
      'a comparison with another champion than the current one does not count',
      automatic('0'),
      withChampion1({ ...version(2, { RMSE: '50' }, 'other'), comparison: { version: 7, metrics: { RMSE: '60' } } }),
      { champion: 1, challenger: 2 },
      ['Challenger:2:DifferentTestData'],
    ],
    ['a missing metric makes a challenger', automatic('0', 'R2'), withChampion1(version(2, { RMSE: '50' })), { champion: 1, challenger: 2 }, ['Challenger:2:MetricMissing']],
  ])('%s', (_title, spec, status, aliases, changes) => {
    const result = computePromotions(spec, status, now);
    expect(result.aliases).toEqual(aliases);
    expect(result.changes.map((c) => `${c.alias}:${c.version}:${c.reason}`)).toEqual(changes);
    // Applied, the same world decides nothing new.
    const next: RegisteredModelStatus = { ...status, aliases: result.aliases, promotions: appendPromotions(status.promotions, result.changes) };
    expect(computePromotions(spec, next, now).changes).toEqual([]);
  });

  it.each(['Precision', 'Recall', 'MacroF1', 'BalancedAccuracy'] as const)('higher %s is better', (metric) => {
    expect(improvement(metric, 0.8, 0.5)).toBeCloseTo(0.6, 12);
    expect(improvement(metric, 0.5, 0.8)).toBeLessThan(0);
  });

  it('decides versions registered together in order', () => {
    let status: RegisteredModelStatus | undefined;
    for (const [n, rmse] of [[1, 100], [2, 90], [3, 95]] as const) {
      status = registerVersion(status, { name: `r${n}`, uid: `u${n}`, task: 'Regression', metrics: { RMSE: String(rmse) }, artifactUri: 'x', testDataFingerprint: 'f' }, now).status;
    }
    const result = computePromotions(automatic('0'), status, now);
    expect(result.changes.map((c) => `${c.alias}:${c.version}:${c.reason}`)).toEqual(['Champion:1:FirstVersion', 'Champion:2:BeatChampion', 'Challenger:3:DidNotBeatChampion']);
    expect(result.changes[1]).toMatchObject({ previous: 1 });
    expect(result.aliases).toEqual({ champion: 2, challenger: 3 });
  });
});

describe('Manual promotion', () => {
  const status: RegisteredModelStatus = { versions: [version(1, {}), version(2, {}), version(3, {})], latestVersion: 3, aliases: { champion: 3 } };
  it('pins the spec versions and calls a move to an older champion a rollback', () => {
    const result = computePromotions(manual(2, 3), status, now);
    expect(result.aliases).toEqual({ champion: 2, challenger: 3 });
    expect(result.changes.map((c) => `${c.alias}:${c.version}:${c.reason}`)).toEqual(['Champion:2:Rollback', 'Challenger:3:ManualPin']);
    expect(result.changes[0]!.message).toBe('rolled back from version 3 to 2 (pinned in spec.promotion.champion)');
  });
  it('refuses a version that does not exist and keeps serving what it had', () => {
    const result = computePromotions(manual(7), status, now);
    expect(result.problem).toEqual({ reason: 'VersionNotFound', message: 'promotion.champion pins version 7, which does not exist (latest is 3): pin an existing version' });
    expect(result.aliases).toEqual({ champion: 3 });
  });
});

describe('registerVersion', () => {
  it('numbers from 1, never reuses a number and registers a run once', () => {
    const run = { name: 'r', uid: 'u1', task: 'Regression' as const, metrics: {}, artifactUri: 'x' };
    const first = registerVersion(undefined, run, now);
    expect(first).toMatchObject({ version: 1, created: true });
    expect(registerVersion(first.status, run, now)).toMatchObject({ version: 1, created: false });
    const second = registerVersion({ ...first.status, versions: [], latestVersion: 1 }, { ...run, uid: 'u2' }, now);
    expect(second.version).toBe(2);
  });
});
