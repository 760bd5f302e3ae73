import { describe, expect, it } from '@jest/globals';
import { regressionStats } from '../../batch/metrics.js';
import { computeScoringJobStatus, type Observed } from './status.js';
import type { ShardRead, ShardReport } from './summaries.js';

const t0 = new Date('2026-11-23T10:00:00Z');
const later = new Date('2026-11-23T10:05:00Z');
const job = (status: object = {}, spec: object = {}) => ({
  metadata: {
    name: 's1-score',
    uid: 'job-uid-1',
    labels: { 'orchard.dev/model': 'salaries' },
    annotations: { 'orchard.dev/model-version': '3', 'orchard.dev/model-task': 'Regression', 'orchard.dev/output-uri': 'file:///scores/s1/' },
  },
  spec: { completions: 4, parallelism: 2, activeDeadlineSeconds: 600, ...spec },
  status: { startTime: '2026-11-23T10:00:05Z', ...status },
});
const pod = (index: number, phase: string, terminated?: { exitCode: number; message?: string; finishedAt?: string }) => ({
  metadata: { annotations: { 'batch.kubernetes.io/job-completion-index': String(index) }, creationTimestamp: '2026-11-23T10:00:06Z' },
  status: { phase, containerStatuses: [{ name: 'score', state: terminated ? { terminated: { reason: terminated.exitCode ? 'Error' : 'Completed', ...terminated } } : { running: {} } }] },
});
const report = (rows: number, seconds: number, extra: Partial<ShardReport> = {}): ShardRead => ({ summary: { rows, rejected: 0, errors: [], seconds, ...extra } });
const reads = (...entries: [number, ShardRead][]) => new Map<number, ShardRead>(entries);
const complete = { completedIndexes: '0-3', succeeded: 4, completionTime: '2026-11-23T10:00:25Z', conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: '2026-11-23T10:00:25Z' }] };
const allFour = reads([0, report(100, 4)], [1, report(100, 5)], [2, report(100, 4)], [3, report(99, 3)]);
const base: Observed = { generation: 2, previous: undefined, modelName: 'salaries', pods: [], summaries: new Map(), labelColumn: false, now: t0 };

const cases: [string, Partial<Observed>, { reason: string; status: string; message?: RegExp; fields?: object }][] = [
  ['invalid spec', { invalidSpec: 'spec.schedule: minute 61 is out of range 0-59' }, { reason: 'InvalidSpec', status: 'False', message: /^spec\.schedule: minute 61 is out of range 0-59; fix the spec/ }],
  ['model missing', { unresolved: { reason: 'ModelNotFound', message: 'RegisteredModel "salaries" does not exist' } }, { reason: 'ModelNotFound', status: 'Unknown', message: /does not exist/ }],
  ['Job being created', {}, { reason: 'Pending', status: 'Unknown', message: /creating the scoring Job/ }],
  ['scheduled, no run yet', { schedule: { next: new Date('2026-11-24T03:00:00Z') } }, { reason: 'Scheduled', status: 'Unknown', message: /^first run at 2026-11-24T03:00:00Z \(schedule is in UTC\)$/ }],
  ['Job without Pods', { job: job() }, { reason: 'Pending', status: 'Unknown', message: /create the shard Pods/, fields: { jobName: 's1-score', resolvedVersion: 3, modelVersion: 'salaries@3', progress: '0/4', shards: { total: 4, succeeded: 0, failed: 0 } } }],
  ['Pods pending', { job: job(), pods: [pod(0, 'Pending'), pod(1, 'Pending')] }, { reason: 'Pending', status: 'Unknown', message: /^2 shard Pods are Pending$/ }],
  [
    'a retry pending after a failed attempt',
    { job: job(), pods: [pod(0, 'Failed', { exitCode: 1, message: 'orchard score: unexpected failure: ECONNRESET' }), pod(0, 'Pending')] },
    { reason: 'Pending', status: 'Unknown', message: /^1 shard Pod is Pending; 1 failed attempt, last: shard 0: orchard score: unexpected failure: ECONNRESET$/ },
  ],
  [
    'unschedulable',
    { job: job(), pods: [{ metadata: {}, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes have enough memory' }] } }] },
    { reason: 'Unschedulable', status: 'Unknown', message: /enough memory/ },
  ],
  [
    'running with progress and rows so far',
    { job: job({ completedIndexes: '0,2', active: 2 }), pods: [pod(0, 'Succeeded', { exitCode: 0 }), pod(1, 'Running'), pod(2, 'Succeeded', { exitCode: 0 }), pod(3, 'Running')], summaries: reads([0, report(100, 4)], [2, report(120, 4)]) },
    { reason: 'Running', status: 'Unknown', message: /^2\/4 shards done, 2 running, 220 rows scored so far$/, fields: { progress: '2/4', rowsScored: 220, shards: { total: 4, succeeded: 2, failed: 0 } } },
  ],
  [
    'running, a summary unreadable',
    { job: job({ completedIndexes: '0' }), pods: [pod(1, 'Running')], summaries: reads([0, { error: 'file:///scores/s1/shard-00000-of-00004/summary.json: not published' }]) },
    { reason: 'Running', status: 'Unknown', message: /summaries of shards 0 cannot be read \(.*not published\).*reading again every minute/ },
  ],
  [
    'succeeded',
    { job: job(complete), summaries: allFour },
    {
      reason: 'Succeeded',
      status: 'True',
      message: /^scored 399 rows with salaries@3 in 4 shards \(20 rows\/s\); predictions under file:\/\/\/scores\/s1\/$/,
      fields: { rowsScored: 399, rowsPerSecond: 20, durationSeconds: 20, startTime: '2026-11-23T10:00:05Z', completionTime: '2026-11-23T10:00:25Z', outputUri: 'file:///scores/s1/', progress: '4/4' },
    },
  ],
  [
    'succeeded faster than the timestamps measure: the slowest shard bounds the time',
    { job: job({ ...complete, completionTime: '2026-11-23T10:00:05Z' }), summaries: allFour },
    { reason: 'Succeeded', status: 'True', fields: { rowsPerSecond: 80, durationSeconds: 0 } },
  ],
  [
    'succeeded with rejected rows',
    { job: job(complete), summaries: reads([0, report(100, 4, { rejected: 2, errors: ['salaries.csv row 7: experience_level is empty'] })], [1, report(1, 1)], [2, report(1, 1)], [3, report(1, 1)]) },
    { reason: 'Succeeded', status: 'True', message: /; 2 rows rejected, e\.g\. salaries\.csv row 7: experience_level is empty$/ },
  ],
  [
    'succeeded, a summary unreadable: no rate or metrics',
    { job: job(complete), labelColumn: true, summaries: reads([0, report(100, 4)], [1, report(100, 5)], [2, { error: 'x/summary.json: permission denied' }], [3, report(99, 3)]) },
    { reason: 'Succeeded', status: 'True', message: /^all 4 shards finished with salaries@3.*shards 2 cannot be read \(x\/summary\.json: permission denied\)/, fields: { rowsScored: 299, rowsPerSecond: undefined, metrics: undefined } },
  ],
  [
    'a shard failed on bad input: its message',
    {
      job: job({ completedIndexes: '0', failed: 1, conditions: [{ type: 'Failed', status: 'True', reason: 'PodFailurePolicy', message: 'Container score for pod x failed with exit code 2', lastTransitionTime: '2026-11-23T10:00:15Z' }] }),
      pods: [pod(0, 'Succeeded', { exitCode: 0 }), pod(1, 'Failed', { exitCode: 2, message: 'reading input\norchard score: column "salary_in_usd" (output.passthroughColumns or input.labelColumn) is not in salaries.csv\n' })],
      summaries: reads([0, report(100, 4)]),
    },
    {
      reason: 'ShardsFailed',
      status: 'False',
      message: /^shard 1 failed: orchard score: column "salary_in_usd" \(output\.passthroughColumns or input\.labelColumn\) is not in salaries\.csv$/,
      fields: { shards: { total: 4, succeeded: 1, failed: 1 }, completionTime: '2026-11-23T10:00:15Z', durationSeconds: 10, rowsScored: 100 },
    },
  ],
  [
    'shards out of retries',
    {
      job: job({ completedIndexes: '0,3', failedIndexes: '1-2', conditions: [{ type: 'Failed', status: 'True', reason: 'FailedIndexes', message: 'Job has failed indexes', lastTransitionTime: '2026-11-23T10:01:00Z' }] }),
      pods: [pod(1, 'Failed', { exitCode: 1, message: 'orchard score: unexpected failure: ECONNRESET', finishedAt: '2026-11-23T10:00:50Z' }), pod(2, 'Failed', { exitCode: 137, finishedAt: '2026-11-23T10:00:40Z' })],
    },
    { reason: 'ShardsFailed', status: 'False', message: /^shard 1 failed: orchard score: unexpected failure: ECONNRESET \(2 shards failed: 1, 2\)$/, fields: { shards: { total: 4, succeeded: 2, failed: 2 } } },
  ],
  [
    'deadline',
    { job: job({ completedIndexes: '0-1', conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', lastTransitionTime: '2026-11-23T10:10:05Z' }] }) },
    { reason: 'DeadlineExceeded', status: 'False', message: /activeDeadlineSeconds \(600 s\) with 2\/4 shards done/ },
  ],
  [
    'Job failed otherwise',
    { job: job({ conditions: [{ type: 'Failed', status: 'True', reason: 'Boom', message: 'something else', lastTransitionTime: '2026-11-23T10:01:00Z' }] }) },
    { reason: 'JobFailed', status: 'False', message: /^the scoring Job failed: something else$/ },
  ],
  [
    'scheduled: the last run and the next one held back by Forbid',
    { job: job({ completedIndexes: '0', active: 1 }), pods: [pod(1, 'Running')], schedule: { lastScheduleTime: new Date('2026-11-23T10:00:00Z'), waiting: new Date('2026-11-23T10:05:00Z') } },
    { reason: 'Running', status: 'Unknown', message: /the run due at 2026-11-23T10:05:00Z waits for this one \(concurrencyPolicy Forbid\)$/, fields: { lastScheduleTime: '2026-11-23T10:00:00Z' } },
  ],
  [
    'scheduled: the next run cannot resolve its model',
    { job: job(complete), summaries: allFour, unresolved: { reason: 'NoChampion', message: 'RegisteredModel "salaries" has no champion yet' } },
    { reason: 'NoChampion', status: 'Unknown', message: /^the next run cannot start: RegisteredModel "salaries" has no champion yet$/, fields: { jobName: 's1-score', rowsScored: 399 } },
  ],  [
    'Job rejected by an admission policy',
    { rejected: { child: 'Job ns/s1-score', message: 'jobs.batch "s1-score" is forbidden: ValidatingAdmissionPolicy \'cpu-cap\' with binding \'cpu-cap\' denied request: at most 2 CPUs' } },
    { reason: 'ChildRejected', status: 'False', message: /^the API server rejected Job ns\/s1-score: .*at most 2 CPUs; fix the spec/ },
  ],
  [
    'the next scheduled run\'s Job rejected, the last run kept',
    { job: job(complete), summaries: allFour, schedule: { next: new Date('2026-11-24T03:00:00Z') }, rejected: { child: 'Job ns/s1-29412345', message: 'Job.batch "s1-29412345" is invalid' } },
    { reason: 'ChildRejected', status: 'False', message: /rejected Job ns\/s1-29412345/, fields: { jobName: 's1-score', rowsScored: 399 } },
  ],
];

describe('computeScoringJobStatus', () => {
  it.each(cases)('%s', (_title, observed, want) => {
    const status = computeScoringJobStatus({ ...base, ...observed });
    const succeeded = status.conditions!.find((c) => c.type === 'Succeeded')!;
    expect({ reason: succeeded.reason, status: succeeded.status }).toEqual({ reason: want.reason, status: want.status });
    if (want.message) expect(succeeded.message).toMatch(want.message);
    if (want.fields) for (const [k, v] of Object.entries(want.fields)) expect([k, (status as any)[k]]).toEqual([k, v]);
    expect(succeeded.observedGeneration).toBe(2);
    expect(status.observedGeneration).toBe(2);
    // A pass later over the same world computes the same status: nothing to write.
    expect(computeScoringJobStatus({ ...base, ...observed, previous: status, now: later })).toEqual(status);
  });

  it('merges label metrics over the shards, formatted like training metrics', () => {
    const y = [10, 20, 30, 40, 50, 60, 70, 80];
    const p = [12, 18, 33, 41, 45, 66, 70, 79];
    const shard = (from: number, to: number): ShardRead => report(to - from, 1, { stats: regressionStats(y.slice(from, to), p.slice(from, to)) });
    const status = computeScoringJobStatus({ ...base, labelColumn: true, job: job(complete), summaries: reads([0, shard(0, 2)], [1, shard(2, 4)], [2, shard(4, 6)], [3, shard(6, 8)]) });
    const rmse = Math.sqrt(y.reduce((s, v, i) => s + (p[i]! - v) ** 2, 0) / y.length);
    expect(status.metrics).toEqual({ RMSE: String(Number(rmse.toPrecision(6))), MAE: '2.5', R2: expect.stringMatching(/^0\.98/) });
    // Without a label column there is nothing to compare with.
    expect(computeScoringJobStatus({ ...base, labelColumn: false, job: job(complete), summaries: reads([0, shard(0, 2)], [1, shard(2, 4)], [2, shard(4, 6)], [3, shard(6, 8)]) }).metrics).toBeUndefined();
  });

  it('hands the shards\' drift reports to the drift merger once every shard is read', () => {
    const seen: unknown[][] = [];
    const drift = { driftedShare: '0.5', drifted: 'True' as const, features: [{ name: 'job_title', test: 'ChiSquare', score: '0.001', drifted: true }] };
    const summaries = reads([0, report(1, 1, { drift: { a: 1 } })], [1, report(1, 1, { drift: { a: 2 } })], [2, report(1, 1)], [3, report(1, 1, { drift: { a: 3 } })]);
    const status = computeScoringJobStatus({ ...base, job: job(complete), summaries, mergeDrift: (r) => (seen.push(r), drift) });
    expect(seen).toEqual([[{ a: 1 }, { a: 2 }, { a: 3 }]]);
    expect(status.drift).toEqual(drift);
    const running = computeScoringJobStatus({ ...base, job: job({ completedIndexes: '0' }), summaries, mergeDrift: (r) => (seen.push(r), drift) });
    expect(running.drift).toBeUndefined();
    expect(seen).toHaveLength(1);
  });

  it('keeps a finished run\'s report when its Job is deleted after ttlSecondsAfterFinished', () => {
    const done = computeScoringJobStatus({ ...base, job: job(complete), summaries: allFour });
    const after = computeScoringJobStatus({ ...base, previous: done, now: later });
    expect(after).toEqual(done);
  });

  it('is Stalled (kstatus) on an invalid spec', () => {
    const invalid = computeScoringJobStatus({ ...base, ...cases[0]![1] });
    expect(invalid.conditions!.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidSpec', message: expect.stringMatching(/minute 61/) });
  });

  it('is Stalled (kstatus) while the API server refuses the Job, and no longer once a Job runs', () => {
    const rejected = computeScoringJobStatus({ ...base, ...cases.find((c) => c[0] === 'Job rejected by an admission policy')![1] });
    expect(rejected.conditions!.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'ChildRejected', observedGeneration: 2 });
    expect(computeScoringJobStatus({ ...base, previous: rejected, job: job(), now: later }).conditions!.map((c) => c.type)).toEqual(['Succeeded']);
  });

  it('moves lastTransitionTime only when the condition status changes', () => {
    const pending = computeScoringJobStatus({ ...base, job: job() });
    const running = computeScoringJobStatus({ ...base, ...cases.find((c) => c[0] === 'running with progress and rows so far')![1], previous: pending, now: later });
    expect(running.conditions![0]!.lastTransitionTime).toBe(pending.conditions![0]!.lastTransitionTime);
    const done = computeScoringJobStatus({ ...base, job: job(complete), summaries: allFour, previous: running, now: later });
    expect(done.conditions![0]!.lastTransitionTime).toBe('2026-11-23T10:05:00Z');
  });
});
