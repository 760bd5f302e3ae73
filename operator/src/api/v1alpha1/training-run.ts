// TrainingRun: one CatBoost training → ONNX export → registration in a RegisteredModel.
import { z } from 'zod';
import {
  artifactUri, conditions, decimal, fraction, jobOptions, metricTable, modelRef, observedGeneration, podOptions, withRules,
} from './common.js';
import { trainingData } from './data.js';
import { featureSpec } from './features.js';

export const taskType = z
  .enum(['Regression', 'BinaryClassification', 'MulticlassClassification'])
  .describe('What the model predicts: a number, one of two classes, or one of several classes.');
export type TaskType = z.infer<typeof taskType>;

export const metricName = z
  .enum(['RMSE', 'MAE', 'R2', 'AUC', 'LogLoss', 'Accuracy', 'F1', 'PrecisionAtK', 'RecallAtK', 'LiftAtK'])
  .describe('A test-split metric.');
export type MetricName = z.infer<typeof metricName>;

/** The headline metric of a task when spec.evaluation.primaryMetric is unset; also what promotion compares by default. */
export const DEFAULT_PRIMARY_METRIC: Record<TaskType, MetricName> = { Regression: 'RMSE', BinaryClassification: 'LogLoss', MulticlassClassification: 'LogLoss' };

export const catboostParams = z
  .object({
    iterations: z.int32().min(1).max(100000).default(1000).describe('Maximum number of trees.'),
    learningRate: decimal.optional().describe('Step size, e.g. "0.1"; CatBoost picks one when unset.'),
    depth: z.int32().min(1).max(16).default(6).describe('Depth of each oblivious tree.'),
    l2LeafReg: decimal.optional().describe('L2 regularisation of leaf values, e.g. "3".'),
    lossFunction: z
      .string()
      .max(128)
      .regex(/^[A-Za-z][A-Za-z0-9]*(:[A-Za-z_]+=[^;:]+(;[A-Za-z_]+=[^;:]+)*)?$/, 'must be a CatBoost loss name such as "RMSE" or "Quantile:alpha=0.9"')
      .optional()
      .describe('CatBoost loss; default RMSE, Logloss or MultiClass by task.'),
    earlyStoppingRounds: z.int32().min(1).max(10000).optional().describe('Stop when the validation metric has not improved for this many trees.'),
    randomSeed: z.int32().min(0).default(0).describe('Seed, for reproducible models.'),
    oneHotMaxSize: z.int32().min(1).max(255).optional().describe('Categorical features with at most this many values are one-hot encoded instead of CTR-encoded.'),
    maxCtrComplexity: z.int32().min(1).max(8).optional().describe('Largest number of categorical features combined in one CTR; unset, CatBoost chooses (up to 4 on CPU, but 1, no combinations, below 200 iterations).'),
    borderCount: z.int32().min(1).max(65535).optional().describe('Number of splits considered per numeric feature.'),
    extra: z
      .record(z.string().regex(/^[a-z][a-z0-9_]*$/).max(64), z.string().max(256))
      .optional()
      .describe('Other CatBoost parameters by their snake_case name, values as strings, e.g. {bootstrap_type: "Bernoulli"}.'),
  })
  .describe('CatBoost training parameters; numbers with fractions are strings.');

export const compute = withRules(
  z.object({
    device: z.enum(['CPU', 'GPU']).default('CPU').describe('CPU, or GPU to train with CatBoost task_type GPU on the GPU trainer image.'),
    gpus: z.int32().min(0).max(16).default(0).describe('GPUs to request (nvidia.com/gpu); device GPU needs at least 1.'),
    acceleratorType: z
      .string()
      .max(63)
      .regex(/^[a-z0-9-]+$/)
      .optional()
      .describe('GKE accelerator, e.g. "nvidia-l4"; becomes the cloud.google.com/gke-accelerator node selector.'),
  }),
  [
    {
      rule: "self.device == 'GPU' || self.gpus == 0",
      message: 'gpus > 0 needs device GPU: set compute.device to GPU (the CPU trainer cannot use GPUs) or gpus to 0',
      fieldPath: '.gpus',
      check: (c) => c.device === 'GPU' || c.gpus === 0,
    },
    {
      rule: "self.device != 'GPU' || self.gpus > 0",
      message: 'device GPU needs compute.gpus of at least 1',
      fieldPath: '.gpus',
      check: (c) => c.device !== 'GPU' || c.gpus > 0,
    },
    {
      rule: "self.device == 'GPU' || !has(self.acceleratorType)",
      message: 'acceleratorType applies only to device GPU',
      fieldPath: '.acceleratorType',
      check: (c) => c.device === 'GPU' || c.acceleratorType === undefined,
    },
  ],
).describe('Where training runs.');

export const evaluation = z
  .object({
    primaryMetric: metricName.optional().describe('Headline metric shown by kubectl and used for promotion; default RMSE, LogLoss or LogLoss by task.'),
    topFraction: fraction.default('0.1').describe('k of precision@k, recall@k and lift@k, as a fraction of test rows.'),
  })
  .describe('How the test split is scored.');

const trainingRunSpecShape = {
  modelRef: modelRef.describe('RegisteredModel that receives the trained model as a new version.'),
  task: taskType,
  data: trainingData,
  features: featureSpec,
  catboost: catboostParams.default({ iterations: 1000, depth: 6, randomSeed: 0 }),
  evaluation: evaluation.default({ topFraction: '0.1' }),
  compute: compute.default({ device: 'CPU', gpus: 0 }),
  artifactUri: artifactUri
    .optional()
    .describe('Where artifacts are written (file:///… or gs://bucket/prefix); default: the operator\'s bucket, under <namespace>/<model>/<run>.'),
  ...podOptions,
  ...jobOptions,
};

const taskRules = [
  {
    rule: "self.task == 'Regression' || (!has(self.features.target.scale) && self.features.target.transform == 'None')",
    message: 'features.target.scale and transform apply only to task Regression',
    fieldPath: '.features.target',
    check: (s: { task: string; features: { target: { scale?: string | undefined; transform: string } } }) =>
      s.task === 'Regression' || (s.features.target.scale === undefined && s.features.target.transform === 'None'),
  },
  {
    rule: "self.task == 'BinaryClassification' || !has(self.features.target.positiveClass)",
    message: 'features.target.positiveClass applies only to task BinaryClassification',
    fieldPath: '.features.target.positiveClass',
    check: (s: { task: string; features: { target: { positiveClass?: string | undefined } } }) =>
      s.task === 'BinaryClassification' || s.features.target.positiveClass === undefined,
  },
];

export const trainingRunSpec = withRules(z.object(trainingRunSpecShape), taskRules).describe('What to train, on what, and where.');
export type TrainingRunSpec = z.infer<typeof trainingRunSpec>;

/** The same spec with modelRef optional: RegisteredModel.spec.retrain.template fills it in. */
export const trainingRunTemplateSpec = withRules(
  z.object({ ...trainingRunSpecShape, modelRef: trainingRunSpecShape.modelRef.optional() }),
  taskRules,
).describe('A TrainingRun spec; modelRef defaults to the owning RegisteredModel.');

export const trainingStep = z.enum(['Prepare', 'Train', 'Export', 'Publish']);

export const trainingRunStatus = z
  .object({
    observedGeneration,
    conditions: conditions.optional(),
    step: trainingStep.optional().describe('Step the Pod is in or failed in.'),
    jobName: z.string().optional().describe('The Job running this training.'),
    startTime: z.string().optional().describe('When the Job started (RFC 3339).'),
    completionTime: z.string().optional().describe('When the run finished (RFC 3339).'),
    duration: z.string().optional().describe('Run time so far or in total, e.g. "3m12s".'),
    rows: z
      .object({ train: z.int(), validation: z.int(), test: z.int() })
      .optional()
      .describe('Rows in each split after filters and de-duplication.'),
    metrics: metricTable.optional().describe('Test-split metrics, e.g. {RMSE: "34251.7", R2: "0.412"}.'),
    headlineMetric: z.string().optional().describe('The primary metric as "NAME=value", for kubectl.'),
    topFeatures: z
      .array(z.object({ name: z.string(), importance: z.string() }))
      .max(20)
      .optional()
      .describe('Most important features by mean |SHAP| on the test split.'),
    artifacts: z
      .object({
        uri: z.string().describe('Prefix holding every artifact of the run.'),
        onnx: z.string().optional().describe('The ONNX model.'),
        native: z.string().optional().describe('The CatBoost model (.cbm).'),
        inputSchema: z.string().optional().describe('The model input schema scoring enforces.'),
        referenceProfile: z.string().optional().describe('Training distribution profile for drift monitoring.'),
      })
      .optional()
      .describe('Where the run\'s artifacts were published.'),
    registeredVersion: z.int32().optional().describe('Version of the RegisteredModel created from this run.'),
    failure: z
      .object({ step: trainingStep, message: z.string().max(4096) })
      .optional()
      .describe('The failing step and its error, when the run failed.'),
  })
  .describe('Observed state of the run.');
export type TrainingRunStatus = z.infer<typeof trainingRunStatus>;
