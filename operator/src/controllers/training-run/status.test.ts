import { describe, expect, it } from '@jest/globals';
import { computeTrainingRunStatus, type Observed } from './status.js';

const t0 = new Date('2026-11-23T10:00:00Z');
const later = new Date('2026-11-23T10:05:00Z');
const job = (status: object = {}) => ({ metadata: { name: 'r1-train' }, spec: { activeDeadlineSeconds: 600 }, status: { startTime: '2026-11-23T10:00:05Z', ...status } });
const terminated = (name: string, exitCode: number, message = '') => ({ name, state: { terminated: { exitCode, message, reason: exitCode ? 'Error' : 'Completed' } } });
const running = (name: string) => ({ name, state: { running: {} } });
const waiting = (name: string) => ({ name, state: { waiting: { reason: 'PodInitializing' } } });
const pod = (init: object[], main: object[] = [waiting('publish')], created = '2026-11-23T10:00:06Z') => ({
  metadata: { creationTimestamp: created },
  status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }], initContainerStatuses: init, containerStatuses: main },
});
const summary = {
  artifactUri: 'gs://b/runs/ml/salaries/r1-0f3c2a9e/',
  metrics: { RMSE: 56469.21, MAE: 40064.1, R2: 0.279621 },
  topFeatures: [{ name: 'experience_level', importance: 0.133505 }],
  rows: { train: 4156, validation: 521, test: 1261 },
  trees: 322,
};
const base: Observed = { generation: 1, previous: undefined, modelName: 'salaries', modelExists: true, pods: [], now: t0, primaryMetric: 'RMSE' };

const cases: [string, Partial<Observed>, { reason: string; status: string; step?: string; message?: RegExp }][] = [
  ['invalid spec', { invalidSpec: 'spec.features.columns[0].type: Invalid option' }, { reason: 'InvalidSpec', status: 'False', message: /columns\[0\]\.type.*fix the spec/ }],
  ['no model yet', { modelExists: false }, { reason: 'ModelNotFound', status: 'Unknown', message: /RegisteredModel "salaries" does not exist.*create it/ }],
  ['Job being created', {}, { reason: 'Pending', status: 'Unknown' }],
  ['Job without Pod', { job: job() }, { reason: 'Pending', status: 'Unknown', message: /create its Pod/ }],
  [
    'unschedulable',
    { job: job(), pods: [{ metadata: {}, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes have nvidia.com/gpu' }] } }] },
    { reason: 'Unschedulable', status: 'Unknown', message: /nvidia\.com\/gpu/ },
  ],
  ['preparing', { job: job(), pods: [pod([running('prepare'), waiting('train'), waiting('export')])] }, { reason: 'Preparing', status: 'Unknown', step: 'Prepare' }],
  ['training', { job: job(), pods: [pod([terminated('prepare', 0), running('train'), waiting('export')])] }, { reason: 'Training', status: 'Unknown', step: 'Train' }],
  ['publishing', { job: job(), pods: [pod([terminated('prepare', 0), terminated('train', 0), terminated('export', 0)], [running('publish')])] }, { reason: 'Publishing', status: 'Unknown', step: 'Publish' }],
  [
    'retrying after a failed Pod',
    { job: job(), pods: [pod([terminated('prepare', 1, 'oom')], [], '2026-11-23T10:00:06Z'), pod([running('prepare')], [], '2026-11-23T10:01:00Z')] },
    { reason: 'Preparing', status: 'Unknown', message: /attempt 2/ },
  ],
  [
    'failed in train',
    {
      job: job({ conditions: [{ type: 'Failed', status: 'True', reason: 'PodFailurePolicy', lastTransitionTime: '2026-11-23T10:03:00Z' }] }),
      pods: [pod([terminated('prepare', 0), terminated('train', 2, 'orchard train: CatBoost refused to train: unknown loss "RMSEE"\n'), waiting('export')])],
    },
    { reason: 'JobFailed', status: 'False', step: 'Train', message: /^train failed: orchard train: CatBoost refused to train: unknown loss "RMSEE"$/ },
  ],
  [
    'deadline',
    { job: job({ conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', lastTransitionTime: '2026-11-23T10:10:05Z' }] }), pods: [pod([terminated('prepare', 0), terminated('train', 137, '')])] },
    { reason: 'DeadlineExceeded', status: 'False', message: /activeDeadlineSeconds \(600 s\) during Train: raise/ },
  ],
  [
    'deadline passed, Pods being removed (FailureTarget before Failed)',
    { job: job({ conditions: [{ type: 'FailureTarget', status: 'True', reason: 'DeadlineExceeded', lastTransitionTime: '2026-11-23T10:10:05Z' }] }), pods: [] },
    { reason: 'DeadlineExceeded', status: 'False', message: /activeDeadlineSeconds \(600 s\): raise/ },
  ],
  [
    'complete, registering',
    {
      job: job({ completionTime: '2026-11-23T10:04:05Z', conditions: [{ type: 'Complete', status: 'True' }] }),
      pods: [pod([terminated('prepare', 0), terminated('train', 0), terminated('export', 0)], [terminated('publish', 0, JSON.stringify(summary))])],
    },
    { reason: 'Registering', status: 'Unknown', step: 'Publish' },
  ],
  [
    'Job rejected by the API server',
    { rejected: { child: 'Job ns/r1-train', message: 'Job.batch "r1-train" is invalid: spec.template.spec.tolerations[0].key: Invalid value: "a b"' } },
    { reason: 'ChildRejected', status: 'False', message: /^the API server rejected Job ns\/r1-train: Job\.batch "r1-train" is invalid: spec\.template\.spec\.tolerations\[0\]\.key.*fix the spec/ },
  ],
];

describe('computeTrainingRunStatus', () => {
  it.each(cases)('%s', (_title, observed, want) => {
    const status = computeTrainingRunStatus({ ...base, ...observed });
    const succeeded = status.conditions!.find((c) => c.type === 'Succeeded')!;
    expect({ reason: succeeded.reason, status: succeeded.status }).toEqual({ reason: want.reason, status: want.status });
    if (want.step) expect(status.step).toBe(want.step);
    if (want.message) expect(succeeded.message).toMatch(want.message);
    expect(succeeded.observedGeneration).toBe(1);
    // A pass later over the same world computes the same status: nothing to write.
    expect(computeTrainingRunStatus({ ...base, ...observed, previous: status, now: later })).toEqual(status);
  });

  it('reports metrics, features, artifacts and the version once registered', () => {
    const done = cases.find((c) => c[0] === 'complete, registering')![1];
    const status = computeTrainingRunStatus({ ...base, ...done, registeredVersion: 3 });
    expect(status).toMatchObject({
      registeredVersion: 3,
      metrics: { RMSE: '56469.2', MAE: '40064.1', R2: '0.279621' },
      headlineMetric: 'RMSE=56469.2',
      duration: '4m0s',
      rows: { train: 4156, validation: 521, test: 1261 },
      artifacts: { onnx: 'gs://b/runs/ml/salaries/r1-0f3c2a9e/model.onnx' },
    });
    expect(status.conditions![0]).toMatchObject({ reason: 'Succeeded', status: 'True', message: 'trained, exported and registered as version 3 of salaries' });
  });

  it('links the evaluation report and plots, and shows a multiclass run\'s macro-F1 and balanced accuracy', () => {
    const multiclass = {
      ...summary,
      metrics: { LogLoss: 0.4123456, Accuracy: 0.85, MacroF1: 0.8440582571504466, BalancedAccuracy: 0.8907866 },
      // A name the trainer does not write (the summary comes from a Pod) is not linked.
      plots: ['featureImportance', 'calibration', 'confusionMatrix', 'constructor', '../../etc'],
    };
    const completed = job({ completionTime: '2026-11-23T10:04:05Z', conditions: [{ type: 'Complete', status: 'True' }] });
    const observed = { job: completed, pods: [pod([terminated('prepare', 0), terminated('train', 0), terminated('export', 0)], [terminated('publish', 0, JSON.stringify(multiclass))])], primaryMetric: 'LogLoss' };
    const status = computeTrainingRunStatus({ ...base, ...observed });
    const uri = summary.artifactUri;
    expect(status.metrics).toEqual({ LogLoss: '0.412346', Accuracy: '0.85', MacroF1: '0.844058', BalancedAccuracy: '0.890787' });
    expect(status.artifacts).toMatchObject({
      metrics: `${uri}metrics.json`,
      plots: { featureImportance: `${uri}feature-importance.svg`, calibration: `${uri}calibration.svg`, confusionMatrix: `${uri}confusion-matrix.svg` },
    });
    expect(Object.keys(status.artifacts!.plots!)).toEqual(['featureImportance', 'calibration', 'confusionMatrix']);
    // A regression run has only the importance chart; a summary from before plots has none.
    const regression = computeTrainingRunStatus({ ...base, ...observed, pods: [pod([], [terminated('publish', 0, JSON.stringify({ ...summary, plots: ['featureImportance'] }))])] });
    expect(regression.artifacts!.plots).toEqual({ featureImportance: `${uri}feature-importance.svg` });
    const older = computeTrainingRunStatus({ ...base, ...observed, pods: [pod([], [terminated('publish', 0, JSON.stringify(summary))])] });
    expect(older.artifacts!.plots).toBeUndefined();
    expect(computeTrainingRunStatus({ ...base, ...observed, previous: status, now: later })).toEqual(status);
  });

  it('keeps the step when the Pod is gone before the Job says why (the watches deliver out of order)', () => {
    const training = computeTrainingRunStatus({ ...base, ...cases[6]![1] });
    expect(training.step).toBe('Train');
    const between = computeTrainingRunStatus({ ...base, ...cases[6]![1], pods: [], previous: training, now: later });
    expect(between).toEqual(training);
  });

  it('is Stalled (kstatus) on an invalid spec', () => {
    const invalid = computeTrainingRunStatus({ ...base, ...cases[0]![1] });
    expect(invalid.conditions!.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidSpec', message: expect.stringMatching(/columns\[0\]\.type/) });
  });

  it('is Stalled (kstatus) while the API server refuses the Job, and no longer once the Job exists', () => {
    const rejected = computeTrainingRunStatus({ ...base, ...cases.find((c) => c[0] === 'Job rejected by the API server')![1] });
    const stalled = rejected.conditions!.find((c) => c.type === 'Stalled');
    expect(stalled).toMatchObject({ status: 'True', reason: 'ChildRejected', observedGeneration: 1, message: expect.stringContaining('tolerations[0].key') });
    expect(computeTrainingRunStatus({ ...base, generation: 2, previous: rejected, job: job(), now: later }).conditions!.map((c) => c.type)).toEqual(['Succeeded']);
  });

  it('moves lastTransitionTime only when the condition status changes', () => {
    const training = computeTrainingRunStatus({ ...base, ...cases[6]![1] });
    const publishing = computeTrainingRunStatus({ ...base, ...cases[7]![1], previous: training, now: later });
    expect(publishing.conditions![0]!.lastTransitionTime).toBe(training.conditions![0]!.lastTransitionTime);
    const failed = computeTrainingRunStatus({ ...base, ...cases[9]![1], previous: publishing, now: later });
    expect(failed.conditions![0]!.lastTransitionTime).toBe('2026-11-23T10:05:00Z');
  });
});
