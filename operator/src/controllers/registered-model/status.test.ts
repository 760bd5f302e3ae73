import { describe, expect, it } from '@jest/globals';
import { registeredModelSpec } from '../../api/v1alpha1/registered-model.js';
import { computeDriftedCondition, settleDrift } from './drift.js';
import { planRetrain, retrainRunsOf } from './retrain.js';
import { computeReadyCondition, computeServingStatus, observeDeployment, type ServingStatus } from './status.js';

const url = 'http://salaries-scorer.ml.svc.cluster.local';
const spec = (s: object = {}) => registeredModelSpec.parse({ task: 'Regression', ...s });

/** A Deployment as the Deployment controller reports it. */
function deployment(version: number, replicas: number, status: { updated: number; ready: number; total?: number; available?: number; generation?: number; observed?: number; conditions?: object[] }) {
  return {
    metadata: { generation: status.generation ?? 2, annotations: { 'orchard.dev/version': String(version) } },
    spec: { replicas },
    status: {
      observedGeneration: status.observed ?? status.generation ?? 2,
      replicas: status.total ?? status.updated,
      updatedReplicas: status.updated,
      readyReplicas: status.ready,
      availableReplicas: status.available ?? status.ready,
      conditions: status.conditions ?? [],
    },
  };
}

describe('serving status', () => {
  const served = (v: number): ServingStatus => ({ url, replicas: 2, readyReplicas: 2, servedVersion: v });
  it.each([
    ['first rollout, nothing ready', deployment(1, 2, { updated: 2, ready: 0 }), undefined, { servedVersion: undefined, rolloutVersion: undefined }],
    ['first rollout, one Pod ready', deployment(1, 2, { updated: 2, ready: 1 }), undefined, { servedVersion: 1, rolloutVersion: undefined }],
    ['rolled out', deployment(1, 2, { updated: 2, ready: 2 }), undefined, { servedVersion: 1, rolloutVersion: undefined }],
    ['new version, controller has not seen it', deployment(2, 2, { updated: 2, ready: 2, generation: 3, observed: 2 }), served(1), { servedVersion: 1, rolloutVersion: 2 }],
    ['new version, surge Pod not ready', deployment(2, 2, { updated: 1, ready: 2, total: 3 }), served(1), { servedVersion: 1, rolloutVersion: 2 }],
    ['new version, old Pods still terminating', deployment(2, 2, { updated: 2, ready: 3, total: 3 }), served(1), { servedVersion: 1, rolloutVersion: 2 }],
    ['new version rolled out', deployment(2, 2, { updated: 2, ready: 2 }), served(1), { servedVersion: 2, rolloutVersion: undefined }],
    ['scaling up the served version', deployment(2, 4, { updated: 2, ready: 2 }), served(2), { servedVersion: 2, rolloutVersion: undefined }],
    ['every Pod down', deployment(2, 2, { updated: 2, ready: 0 }), served(2), { servedVersion: undefined, rolloutVersion: undefined }],
  ])('%s', (_, d, previous, want) => {
    const status = computeServingStatus(observeDeployment(d), previous, url);
    expect({ servedVersion: status.servedVersion, rolloutVersion: status.rolloutVersion }).toEqual(want);
    expect(status.url).toBe(url);
    expect(status.readyReplicas).toBe(d.status.readyReplicas);
  });
});

describe('Ready condition', () => {
  const base = { spec: spec(), name: 'salaries', hasVersions: true, champion: 2 };
  const stuck = { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "salaries-scorer-7c9" has timed out progressing.' };
  const state = (d: ReturnType<typeof deployment>, previous?: ServingStatus) => {
    const s = observeDeployment(d);
    return { deployment: s, serving: computeServingStatus(s, previous, url) };
  };
  it.each([
    ['no version', { ...base, hasVersions: false, champion: undefined }, 'False', 'NoVersions', /a TrainingRun with modelRef salaries registers the first/],
    ['no champion', { ...base, champion: undefined }, 'False', 'NoChampion', /pin one in spec.promotion.champion/],
    ['registry only', { ...base, spec: spec({ serving: { mode: 'None' } }) }, 'True', 'ChampionSelected', /version 2 is champion/],
    ['pinned version missing', { ...base, problem: { reason: 'VersionNotFound', message: 'spec.promotion.champion is 9, which is not registered' } }, 'False', 'VersionNotFound', /9/],
    ['Deployment not seen yet', base, 'False', 'Deploying', /version 2/],
    ['Pods starting', { ...base, ...state(deployment(2, 2, { updated: 2, ready: 0 })) }, 'False', 'NoReadyReplicas', /0\/2 scoring Pods ready; see kubectl describe pods -l orchard.dev\/model=salaries/],
    ['first rollout stuck', { ...base, ...state(deployment(2, 2, { updated: 2, ready: 0, conditions: [stuck] })) }, 'False', 'RolloutStuck', /timed out progressing/],
    ['serving', { ...base, ...state(deployment(2, 2, { updated: 2, ready: 2 })) }, 'True', 'Serving', /version 2 served by 2\/2 scoring Pods ready at http:\/\/salaries-scorer/],
    ['rolling out', { ...base, champion: 3, ...state(deployment(3, 2, { updated: 1, ready: 2, total: 3 }), { url, servedVersion: 2 }) }, 'True', 'RollingOut', /version 2 serves while version 3 rolls out \(1\/2 Pods updated\)/],
    ['rollout stuck, old version serves', { ...base, champion: 3, ...state(deployment(3, 2, { updated: 1, ready: 2, total: 3, conditions: [stuck] }), { url, servedVersion: 2 }) }, 'True', 'RolloutStuck', /version 2 serves, but rolling out version 3 is stuck/],
    ['scaled to zero', { ...base, ...state(deployment(2, 0, { updated: 0, ready: 0 })) }, 'False', 'ScaledToZero', /set it to 1 or more/],
    [
      'Deployment refused by the API server',
      { ...base, rejected: { child: 'Deployment ml/salaries-scorer', message: 'Deployment.apps "salaries-scorer" is invalid: spec.template.spec.containers[0].resources.requests: Invalid value: "4": must be less than or equal to cpu limit of 2' } },
      'False',
      'ChildRejected',
      /^the API server rejected Deployment ml\/salaries-scorer: .*must be less than or equal to cpu limit of 2; fix the spec \(the Deployment is not sent again/,
    ],
    [
      'Deployment update refused, the old version serves',
      { ...base, champion: 3, ...state(deployment(2, 2, { updated: 2, ready: 2 })), rejected: { child: 'Deployment ml/salaries-scorer', message: 'denied' } },
      'False',
      'ChildRejected',
      /denied; fix the spec .*; version 2 still serves$/,
    ],
  ])('%s', (_, input, status, reason, message) => {
    const c = computeReadyCondition(input as any);
    expect([c.status, c.reason]).toEqual([status, reason]);
    expect(c.message).toMatch(message);
  });

  it('names the canary share when a challenger serves', () => {
    const c = computeReadyCondition({ ...base, spec: spec({ serving: { replicas: 2, canary: { challengerPercent: 10 } } }), deployment: observeDeployment(deployment(2, 2, { updated: 2, ready: 2 })), serving: { url, servedVersion: 2, challengerVersion: 3 } });
    expect(c.message).toMatch(/; version 3 takes 10% of requests$/);
  });
});

describe('Drifted condition', () => {
  const features = [
    { name: 'work_year', test: 'Wasserstein', score: '0.42', drifted: true },
    { name: 'job_title', test: 'JensenShannon', score: '0.21', drifted: true },
    { name: 'company_size', test: 'JensenShannon', score: '0.03', drifted: false },
  ];
  it.each([
    ['no summary', spec(), undefined, 'Unknown', 'NoSummary'],
    ['window too small', spec(), { drifted: 'Unknown' as const, windowRows: 120 }, 'Unknown', 'NotEnoughData'],
    ['below the share', spec(), { drifted: 'False' as const, windowRows: 5000, driftedShare: '0.33', features: [features[0]!, { ...features[1]!, drifted: false }, features[2]!] }, 'False', 'NoDrift'],
    ['drifted', spec(), { drifted: 'True' as const, windowRows: 5000, driftedShare: '0.67', features }, 'True', 'DatasetDrift'],
  ])('%s', (_, s, drift, status, reason) => {
    const c = computeDriftedCondition(s, drift)!;
    expect([c.status, c.reason]).toEqual([status, reason]);
  });

  it('is left out when nothing is served', () => {
    expect(computeDriftedCondition(spec({ serving: { mode: 'None' } }), { drifted: 'True' })).toBeUndefined();
  });

  it('names the drifted features and the window', () => {
    const c = computeDriftedCondition(spec(), { drifted: 'True', windowRows: 5000, driftedShare: '0.67', features })!;
    expect(c.message).toBe('2 of 3 features drifted over the last 5000 rows (share 0.67 ≥ 0.5): work_year (Wasserstein 0.42), job_title (JensenShannon 0.21)');
  });
});

describe('retraining on drift', () => {
  const retrain = spec({
    drift: { onDrift: 'Retrain', coolDownSeconds: 3600 },
    retrain: { template: { task: 'Regression', data: { source: { uri: 'gs://d/s.csv' }, split: { testFraction: '0.2' } }, features: { target: { column: 'y' }, columns: [{ name: 'x', type: 'Numeric' }] } } },
  });
  const now = new Date('2026-11-23T12:00:00Z');
  const run = (index: number, created: string) => ({
    metadata: { name: `salaries-retrain-${index}`, labels: { 'orchard.dev/retrain-of': 'salaries' }, annotations: { 'orchard.dev/retrain-index': String(index) }, creationTimestamp: created },
  });

  it('creates the first run when drifted, none when not, none with onDrift Alert', () => {
    expect(planRetrain({ spec: retrain, model: 'salaries', drifted: true, runs: [], now })).toEqual({ action: 'Create', index: 1, name: 'salaries-retrain-1' });
    expect(planRetrain({ spec: retrain, model: 'salaries', drifted: false, runs: [], now })).toEqual({ action: 'None' });
    expect(planRetrain({ spec: spec(), model: 'salaries', drifted: true, runs: [], now })).toEqual({ action: 'None' });
  });

  it('waits out the cool-down from the newest run, then numbers the next one after it', () => {
    const runs = retrainRunsOf('salaries', [run(1, '2026-11-22T08:00:00Z'), run(2, '2026-11-23T11:30:00Z'), { metadata: { name: 'other', labels: {} } }]);
    const plan = planRetrain({ spec: retrain, model: 'salaries', drifted: true, runs, now });
    expect(plan).toMatchObject({ action: 'CoolingDown', until: new Date('2026-11-23T12:30:00Z'), last: { name: 'salaries-retrain-2', index: 2 } });
    expect(planRetrain({ spec: retrain, model: 'salaries', drifted: true, runs, now: new Date('2026-11-23T12:30:00Z') })).toEqual({ action: 'Create', index: 3, name: 'salaries-retrain-3' });
  });

  it('remembers the last retraining from status when its run was deleted', () => {
    expect(planRetrain({ spec: retrain, model: 'salaries', drifted: true, runs: [], lastRetrainTime: '2026-11-23T11:45:00Z', now })).toMatchObject({ action: 'CoolingDown' });
  });
});

describe('settling drift summaries', () => {
  const at = (t: string, drifted: 'True' | 'False' | 'Unknown', windowRows: number, score = '0.05', flag = false) => ({
    checkedTime: t,
    windowRows,
    drifted,
    features: [{ name: 'work_year', test: 'Wasserstein', score, drifted: flag }],
  });
  const now = new Date('2026-11-23T12:05:00Z');
  it('keeps the recorded summary while only scores move', () => {
    const recorded = at('2026-11-23T12:00:00Z', 'False', 5000);
    expect(settleDrift(recorded, at('2026-11-23T12:05:00Z', 'False', 5000, '0.07'), now)).toBe(recorded);
  });
  it('records a changed verdict at once', () => {
    const next = at('2026-11-23T12:05:00Z', 'False', 5000, '0.3', true);
    expect(settleDrift(at('2026-11-23T12:00:00Z', 'False', 5000), next, now)).toBe(next);
  });
  it('records a window still too small to judge as it grows', () => {
    const next = at('2026-11-23T12:05:00Z', 'Unknown', 300);
    expect(settleDrift(at('2026-11-23T12:00:00Z', 'Unknown', 200), next, now)).toBe(next);
  });
  it('refreshes a recorded summary after ten minutes', () => {
    const next = at('2026-11-23T12:10:00Z', 'False', 5000, '0.07');
    expect(settleDrift(at('2026-11-23T12:00:00Z', 'False', 5000), next, new Date('2026-11-23T12:10:00Z'))).toBe(next);
  });
});
