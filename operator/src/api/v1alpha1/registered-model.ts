// RegisteredModel: the registry entry (immutable versions, champion/challenger aliases, promotion
// policy) and the online serving of its champion, with drift monitoring and optional retraining.
import { z } from 'zod';
import { columnName, conditions, decimalString, featureDrift, fraction, metricTable, observedGeneration, podOptions, withRules } from './common.js';
import {
  celMetricFitsTask, METRICS_BY_TASK, METRICS_BY_TASK_SENTENCE, metricName, misfitMessage, misfitMessageOf, taskType, trainingRunTemplateSpec,
} from './training-run.js';

export const promotion = withRules(
  z.object({
    policy: z
      .enum(['Manual', 'Automatic'])
      .default('Automatic')
      .describe('Manual: champion and challenger are pinned here. Automatic: a new version becomes champion when it beats the champion on metric by minImprovement, else challenger.'),
    metric: metricName.optional().describe('Metric compared by Automatic promotion; default the runs\' primary metric.'),
    minImprovement: decimalString({
      atLeast: 0,
      message: 'minImprovement must be 0 or more (a negative value would let a worse version become champion), e.g. "0.01" for 1 %',
    })
      .default('0')
      .describe('Relative improvement a new version needs over the champion, 0 or more, e.g. "0.01" for 1 %.'),
    champion: z.int32().min(1).optional().describe('Manual only: the version to serve.'),
    challenger: z.int32().min(1).optional().describe('Manual only: the version that receives canary traffic.'),
  }),
  [
    {
      rule: "self.policy == 'Manual' || (!has(self.champion) && !has(self.challenger))",
      message: 'champion and challenger can be pinned only with policy Manual',
      fieldPath: '.policy',
      check: (p) => p.policy === 'Manual' || (p.champion === undefined && p.challenger === undefined),
    },
    {
      rule: '!has(self.champion) || !has(self.challenger) || self.champion != self.challenger',
      message: 'champion and challenger must be different versions',
      fieldPath: '.challenger',
      check: (p) => p.champion === undefined || p.challenger === undefined || p.champion !== p.challenger,
    },
  ],
).describe('How versions become champion and challenger.');

export const autoscaling = withRules(
  z.object({
    minReplicas: z.int32().min(1).default(1).describe('Fewest scoring Pods.'),
    maxReplicas: z.int32().min(1).max(1000).describe('Most scoring Pods.'),
    targetCPUUtilizationPercentage: z.int32().min(1).max(100).default(70).describe('Average CPU use the autoscaler aims for.'),
  }),
  [
    {
      rule: 'self.minReplicas <= self.maxReplicas',
      message: 'autoscaling.minReplicas must not exceed maxReplicas',
      fieldPath: '.minReplicas',
      check: (a) => a.minReplicas <= a.maxReplicas,
    },
  ],
).describe('A HorizontalPodAutoscaler instead of fixed replicas. Unset: the operator\'s default autoscaler if the install turns one on (chart value scorer.autoscaling), else fixed replicas.');

export const extraFields = withRules(
  z.object({
    policy: z
      .enum(['Reject', 'Ignore', 'PassThrough'])
      .default('Ignore')
      .describe(
        'What a record\'s fields that the model does not read do. Ignore: they are accepted and unused, so whole rows of the training file (target, idColumns, columns the feature spec leaves out) score as they are; a misspelt input is still refused, as that input is then missing. ' +
          'Reject: 400 naming the field, for clients that should send the inputs alone. PassThrough: Ignore, and the fields in passThrough are echoed beside each prediction.',
      ),
    passThrough: z
      .array(columnName)
      .min(1)
      .max(16)
      .optional()
      .describe('PassThrough only: the fields echoed in each answer (null where a record lacks one); default the model\'s features.idColumns.'),
  }),
  [
    {
      rule: "!has(self.passThrough) || self.policy == 'PassThrough'",
      message: 'passThrough applies only to policy PassThrough: set policy PassThrough, or remove passThrough',
      fieldPath: '.passThrough',
      check: (e) => e.passThrough === undefined || e.policy === 'PassThrough',
    },
  ],
).describe('Fields of a scoring request that are not model inputs.');

export const serving = z
  .object({
    mode: z.enum(['Online', 'None']).default('Online').describe('Online: serve the champion over HTTP. None: registry only.'),
    replicas: z.int32().min(0).max(1000).default(1).describe('Scoring Pods when no autoscaler applies (0 serves nothing, and no default autoscaler applies either).'),
    autoscaling: autoscaling.optional(),
    canary: z
      .object({ challengerPercent: z.int32().min(1).max(99).describe('Share of requests, in percent, routed to the challenger.') })
      .optional()
      .describe('Send part of the traffic to the challenger version: every scoring Pod loads both versions and routes each request by this share.'),
    maxBatchRows: z.int32().min(1).max(100000).default(1000).describe('Largest number of rows one request may carry.'),
    maxBodyBytes: z.int32().min(1024).max(104857600).default(1048576).describe('Largest request body in bytes.'),
    extraFields: extraFields.default({ policy: 'Ignore' }),
    ...podOptions,
  })
  .describe('Online serving of the champion: ONNX scoring servers with a drift sidecar.');

export const drift = withRules(
  z.object({
    onDrift: z
      .enum(['None', 'Alert', 'Retrain'])
      .default('Alert')
      .describe('None: report in status.drift and the Drifted condition. Alert: also a Warning Event when drift starts. Retrain: also create a TrainingRun from retrain.template, at most once per coolDownSeconds.'),
    windowRows: z.int32().min(100).max(1000000).default(5000).describe('Rows in the sliding window compared with the training reference.'),
    windowSeconds: z.int().min(60).default(3600).describe('Oldest age of a row in the window.'),
    minRows: z.int32().min(30).default(500).describe('Rows the window needs before drift is judged.'),
    driftShare: fraction.default('0.5').describe('Share of drifted features that makes the data set drifted (Evidently\'s default 0.5).'),
    coolDownSeconds: z.int().min(0).default(86400).describe('Least time between two retrainings.'),
  }),
  [
    {
      rule: 'self.minRows <= self.windowRows',
      message: 'drift.minRows must not exceed windowRows',
      fieldPath: '.minRows',
      check: (d) => d.minRows <= d.windowRows,
    },
  ],
).describe('Drift monitoring of served traffic against the training data.');

export const registeredModelSpec = withRules(
  z.object({
    task: taskType.optional().describe('When set, only TrainingRuns of this task may register versions.'),
    description: z.string().max(4096).optional().describe('What the model is for.'),
    promotion: promotion.default({ policy: 'Automatic', minImprovement: '0' }),
    serving: serving.default({ mode: 'Online', replicas: 1, maxBatchRows: 1000, maxBodyBytes: 1048576, extraFields: { policy: 'Ignore' } }),
    drift: drift.default({ onDrift: 'Alert', windowRows: 5000, windowSeconds: 3600, minRows: 500, driftShare: '0.5', coolDownSeconds: 86400 }),
    retrain: z
      .object({ template: trainingRunTemplateSpec })
      .optional()
      .describe('TrainingRun created when drift is detected and onDrift is Retrain; its modelRef defaults to this model.'),
  }),
  [
    {
      rule: "self.drift.onDrift != 'Retrain' || has(self.retrain)",
      message: 'drift.onDrift Retrain needs retrain.template: say what to train',
      fieldPath: '.retrain',
      check: (s) => s.drift.onDrift !== 'Retrain' || s.retrain !== undefined,
    },
    {
      rule: '!has(self.task) || !has(self.retrain) || self.retrain.template.task == self.task',
      message: 'retrain.template.task must be the model\'s task: only runs of spec.task may register versions here',
      fieldPath: '.retrain.template.task',
      check: (s) => s.task === undefined || s.retrain === undefined || s.retrain.template.task === s.task,
    },
    {
      // The task comes from spec.task or, without it, from the runs drift creates.
      rule:
        '!has(self.promotion.metric) || (has(self.task) ? ' +
        `${celMetricFitsTask('self.promotion.metric', 'self.task')} : !has(self.retrain) || ${celMetricFitsTask('self.promotion.metric', 'self.retrain.template.task')})`,
      message: `promotion.metric must be a metric of the model's task: ${METRICS_BY_TASK_SENTENCE}`,
      messageExpression: misfitMessage('promotion.metric', 'self.promotion.metric', '(has(self.task) ? self.task : self.retrain.template.task)', METRICS_BY_TASK, 'is not computed for'),
      messageOf: (s) => misfitMessageOf('promotion.metric', s.promotion.metric!, (s.task ?? s.retrain?.template.task)!, METRICS_BY_TASK, 'is not computed for'),
      fieldPath: '.promotion.metric',
      check: (s) => {
        const task = s.task ?? s.retrain?.template.task;
        return s.promotion.metric === undefined || task === undefined || METRICS_BY_TASK[task].includes(s.promotion.metric);
      },
    },
  ],
).describe('The registry entry and how its champion is served.');
export type RegisteredModelSpec = z.infer<typeof registeredModelSpec>;

export const modelVersion = z.object({
  version: z.int32().min(1).describe('Version number, from 1, never reused.'),
  trainingRun: z.string().describe('Name of the TrainingRun that produced it.'),
  trainingRunUID: z.string().optional().describe('UID of that TrainingRun, so a re-created run of the same name is a new version.'),
  createdTime: z.string().describe('When it was registered (RFC 3339).'),
  task: taskType,
  metrics: metricTable.optional().describe('Its test-split metrics.'),
  testDataFingerprint: z.string().optional().describe('Hash of the test split, to compare versions only on the same data.'),
  comparison: z
    .object({
      version: z.int32().min(1).describe('The champion when this version was trained.'),
      metrics: metricTable.describe("That champion's metrics on this version's test split."),
    })
    .optional()
    .describe("The champion at training time scored on this version's test split, so promotion compares them on the same rows."),
  artifactUri: z.string().describe('Prefix holding its artifacts.'),
});
export type ModelVersion = z.infer<typeof modelVersion>;

export const registeredModelStatus = z
  .object({
    observedGeneration,
    conditions: conditions.optional(),
    latestVersion: z.int32().optional().describe('Highest version registered so far.'),
    versions: z
      .array(modelVersion)
      .max(1000)
      .optional()
      .describe('Registered versions, oldest first; entries never change once written.'),
    aliases: z
      .object({ champion: z.int32().optional(), challenger: z.int32().optional() })
      .optional()
      .describe('Versions holding the champion and challenger aliases.'),
    promotions: z
      .array(
        z.object({
          time: z.string(),
          alias: z.enum(['Champion', 'Challenger']),
          version: z.int32(),
          previous: z.int32().optional(),
          reason: z.string().describe('CamelCase cause, e.g. BeatChampion, ManualPin, Rollback.'),
          message: z.string(),
        }),
      )
      .max(100)
      .optional()
      .describe('Latest alias changes with their reasons, newest last.'),
    serving: z
      .object({
        servedVersion: z.int32().optional().describe('Champion version every ready scoring Pod serves.'),
        rolloutVersion: z.int32().optional().describe('Version being rolled out while servedVersion keeps serving.'),
        challengerVersion: z.int32().optional().describe('Version taking the canary share of requests.'),
        replicas: z.int32().optional().describe('Scoring Pods wanted.'),
        readyReplicas: z.int32().optional().describe('Scoring Pods ready to serve.'),
        url: z.string().optional().describe('In-cluster URL of the scoring Service.'),
      })
      .optional()
      .describe('What the scoring Deployment serves now.'),
    drift: z
      .object({
        checkedTime: z.string().optional(),
        windowRows: z.int().optional(),
        driftedShare: z.string().optional(),
        drifted: z.enum(['True', 'False', 'Unknown']).optional(),
        features: z
          .array(featureDrift)
          .max(512)
          .optional(),
      })
      .optional()
      .describe('The drift sidecar\'s latest summary.'),
    lastRetrainTime: z.string().optional().describe('When drift last created a TrainingRun.'),
    lastRetrainRun: z.string().optional().describe('The TrainingRun drift last created.'),
  })
  .describe('Observed state of the registry entry and its serving.');
export type RegisteredModelStatus = z.infer<typeof registeredModelStatus>;
