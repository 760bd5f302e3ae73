// TrainingRun: one CatBoost training → ONNX export → registration in a RegisteredModel.
import { z } from 'zod';
import {
  artifactUri, celString, conditions, decimalString, fraction, jobOptions, matching, metricTable, modelRef, observedGeneration, podOptions, withRules,
} from './common.js';
import { trainingData } from './data.js';
import { featureSpec } from './features.js';

export const taskType = z
  .enum(['Regression', 'BinaryClassification', 'MulticlassClassification'])
  .describe('What the model predicts: a number, one of two classes, or one of several classes.');
export type TaskType = z.infer<typeof taskType>;

export const metricName = z
  .enum(['RMSE', 'MAE', 'R2', 'AUC', 'LogLoss', 'Accuracy', 'Precision', 'Recall', 'F1', 'PrecisionAtK', 'RecallAtK', 'LiftAtK', 'MacroF1', 'BalancedAccuracy'])
  .describe('A test-split metric.');
export type MetricName = z.infer<typeof metricName>;

/** The metrics the trainer and batch scoring compute for each task; any other cannot be compared or promoted on. */
export const METRICS_BY_TASK: Record<TaskType, MetricName[]> = {
  Regression: ['RMSE', 'MAE', 'R2'],
  BinaryClassification: ['AUC', 'LogLoss', 'Accuracy', 'Precision', 'Recall', 'F1', 'PrecisionAtK', 'RecallAtK', 'LiftAtK'],
  MulticlassClassification: ['LogLoss', 'Accuracy', 'MacroF1', 'BalancedAccuracy'],
};

/** A CEL expression: whether the metric `metric` is computed for the task `task` (both CEL expressions). */
export const celMetricFitsTask = (metric: string, task: string): string =>
  `(${task} == 'Regression' ? ${metric} in ${celList(METRICS_BY_TASK.Regression)} : ` +
  `${task} == 'BinaryClassification' ? ${metric} in ${celList(METRICS_BY_TASK.BinaryClassification)} : ` +
  `${metric} in ${celList(METRICS_BY_TASK.MulticlassClassification)})`;

/** "a, b or c" */
const orList = (items: readonly string[]): string => (items.length > 1 ? `${items.slice(0, -1).join(', ')} or ${items.at(-1)}` : items.join(''));

export const METRICS_BY_TASK_SENTENCE = (Object.entries(METRICS_BY_TASK) as [TaskType, MetricName[]][])
  .map(([task, metrics]) => `${orList(metrics)} for ${task}`)
  .join('; ');

/** A CEL expression: the table's entries for the task `task` as "a, b or c". */
const celChoicesFor = (table: Record<TaskType, readonly string[]>, task: string): string =>
  `(${task} == 'Regression' ? ${celString(orList(table.Regression))} : ${task} == 'BinaryClassification' ? ` +
  `${celString(orList(table.BinaryClassification))} : ${celString(orList(table.MulticlassClassification))})`;

/** A rule's message naming the value, the task and what fits it, as CEL (messageExpression) and for zod. */
export const misfitMessage = (field: string, value: string, task: string, table: Record<TaskType, readonly string[]>, verb: string) =>
  `'${field} ' + ${value} + ' ${verb} task ' + ${task} + ': use ' + ${celChoicesFor(table, task)}`;
export const misfitMessageOf = (field: string, value: string, task: TaskType, table: Record<TaskType, readonly string[]>, verb: string) =>
  `${field} ${value} ${verb} task ${task}: use ${orList(table[task])}`;

function celList(items: readonly string[]): string {
  return `[${items.map(celString).join(', ')}]`;
}

// Losses whose prediction is the raw tree sum (regression) or the probability the exported graph
// computes from it; others (Poisson, Tweedie, ranking, multi-output) would publish wrong predictions.
export const LOSSES_BY_TASK: Record<TaskType, string[]> = {
  Regression: ['RMSE', 'MAE', 'Quantile', 'MAPE', 'Huber', 'Expectile', 'Lq', 'LogCosh', 'FairLoss'],
  BinaryClassification: ['Logloss', 'CrossEntropy'],
  MulticlassClassification: ['MultiClass', 'MultiClassOneVsAll'],
};
const lossPattern = (task: TaskType) => `^(${LOSSES_BY_TASK[task].join('|')})(:|$)`;

// CatBoost's own names and aliases of the parameters that have a field here, or that the operator
// or the trainer (images/trainer/orchard_trainer.py, training_params) set themselves: in
// catboost.extra they would silently override the spec, or clash with it when CatBoost trains.
export const EXTRA_OVERRIDES: Record<string, string> = {
  iterations: 'catboost.iterations', num_boost_round: 'catboost.iterations', n_estimators: 'catboost.iterations', num_trees: 'catboost.iterations',
  learning_rate: 'catboost.learningRate', eta: 'catboost.learningRate',
  depth: 'catboost.depth', max_depth: 'catboost.depth',
  l2_leaf_reg: 'catboost.l2LeafReg', reg_lambda: 'catboost.l2LeafReg',
  loss_function: 'catboost.lossFunction', objective: 'catboost.lossFunction',
  early_stopping_rounds: 'catboost.earlyStoppingRounds', od_wait: 'catboost.earlyStoppingRounds', use_best_model: 'catboost.earlyStoppingRounds',
  random_seed: 'catboost.randomSeed', random_state: 'catboost.randomSeed',
  one_hot_max_size: 'catboost.oneHotMaxSize',
  max_ctr_complexity: 'catboost.maxCtrComplexity',
  border_count: 'catboost.borderCount', max_bin: 'catboost.borderCount',
  grow_policy: 'catboost.growPolicy',
  max_leaves: 'catboost.maxLeaves', num_leaves: 'catboost.maxLeaves',
  auto_class_weights: 'catboost.autoClassWeights', class_weights: 'catboost.classWeights', scale_pos_weight: 'catboost.classWeights',
  eval_metric: 'catboost.evalMetric',
  bootstrap_type: 'catboost.bootstrapType',
  subsample: 'catboost.subsample',
  bagging_temperature: 'catboost.baggingTemperature',
  task_type: 'compute.device', devices: 'compute.gpus',
  class_names: 'the class names the operator reads from features.target',
  cat_features: 'the categorical features the operator reads from features.columns',
  thread_count: "the trainer's thread count, every core it is given",
  allow_writing_files: 'the trainer, which writes only the model and its report',
  train_dir: 'the trainer, which writes only the model and its report',
};
// CEL in CRDs has no let (cel.bind): "key=field" pairs keep the table in one literal.
const celOverridePairs = `[${Object.entries(EXTRA_OVERRIDES).map(([k, v]) => celString(`${k}=${v}`)).join(', ')}]`;
const EXTRA_KEY = /^[a-z][a-z0-9_]*$/;

export const catboostExtra = withRules(z.record(z.string().max(64), z.string().max(256)).meta({ maxProperties: 64 }), [
  {
    rule: `self.all(k, size(k) <= 64 && k.matches(${celString(EXTRA_KEY.source)}))`,
    message: 'must have CatBoost parameter names in snake_case as keys, e.g. "nan_mode"',
    check: (m) => Object.keys(m).every((k) => k.length <= 64 && EXTRA_KEY.test(k)),
  },
  {
    rule: `!self.exists(k, k in ${celList(Object.keys(EXTRA_OVERRIDES))})`,
    message: 'must not set a parameter that has its own field: set the field (catboost.iterations, learningRate, depth, l2LeafReg, lossFunction, earlyStoppingRounds, randomSeed, oneHotMaxSize, maxCtrComplexity, borderCount, growPolicy, maxLeaves, autoClassWeights, classWeights, evalMetric, bootstrapType, subsample, baggingTemperature or compute) instead',
    messageExpression:
      `${celOverridePairs}.filter(p, p.split('=')[0] in self)` +
      ".map(p, 'catboost.extra.' + p.split('=')[0] + ' overrides ' + p.split('=')[1] + ': remove it from extra' + " +
      "(p.split('=')[1].startsWith('the ') ? '' : ' and set ' + p.split('=')[1]))[0]",
    messageOf: (m) => {
      const key = Object.keys(m).find((k) => Object.hasOwn(EXTRA_OVERRIDES, k))!;
      const field = EXTRA_OVERRIDES[key]!;
      return `catboost.extra.${key} overrides ${field}: remove it from extra${field.startsWith('the ') ? '' : ` and set ${field}`}`;
    },
    check: (m) => !Object.keys(m).some((k) => Object.hasOwn(EXTRA_OVERRIDES, k)),
  },
]).refine((m) => Object.keys(m).length <= 64, 'must have at most 64 entries'); // maxProperties' zod twin

/** The headline metric of a task when spec.evaluation.primaryMetric is unset; also what promotion compares by default. */
export const DEFAULT_PRIMARY_METRIC: Record<TaskType, MetricName> = { Regression: 'RMSE', BinaryClassification: 'LogLoss', MulticlassClassification: 'LogLoss' };

const CATBOOST_NAME = '^[A-Za-z][A-Za-z0-9]*(:[A-Za-z_]+=[^;:]+(;[A-Za-z_]+=[^;:]+)*)?$';

type CatboostRuleInput = {
  growPolicy?: string | undefined;
  maxLeaves?: number | undefined;
  bootstrapType?: string | undefined;
  subsample?: string | undefined;
  baggingTemperature?: string | undefined;
  autoClassWeights?: string | undefined;
  classWeights?: Record<string, string> | undefined;
};

// Parameters CatBoost would take and ignore (or refuse deep in training) without the setting they belong to.
const catboostRules = [
  {
    rule: "!has(self.maxLeaves) || (has(self.growPolicy) && self.growPolicy == 'Lossguide')",
    message: 'maxLeaves applies only to growPolicy Lossguide: set catboost.growPolicy to Lossguide, or remove maxLeaves (depth bounds the other policies)',
    fieldPath: '.maxLeaves',
    check: (c: CatboostRuleInput) => c.maxLeaves === undefined || c.growPolicy === 'Lossguide',
  },
  {
    rule: "!has(self.subsample) || (has(self.bootstrapType) && self.bootstrapType in ['Bernoulli', 'MVS'])",
    message: 'subsample applies only to bootstrapType Bernoulli or MVS: set catboost.bootstrapType to one of them (CatBoost\'s default depends on the task and device), or remove subsample',
    fieldPath: '.subsample',
    check: (c: CatboostRuleInput) => c.subsample === undefined || c.bootstrapType === 'Bernoulli' || c.bootstrapType === 'MVS',
  },
  {
    rule: "!has(self.baggingTemperature) || (has(self.bootstrapType) && self.bootstrapType == 'Bayesian')",
    message: 'baggingTemperature applies only to bootstrapType Bayesian: set catboost.bootstrapType to Bayesian, or remove baggingTemperature',
    fieldPath: '.baggingTemperature',
    check: (c: CatboostRuleInput) => c.baggingTemperature === undefined || c.bootstrapType === 'Bayesian',
  },
  {
    rule: '!has(self.classWeights) || !has(self.autoClassWeights)',
    message: 'classWeights and autoClassWeights both set the class weights: keep one',
    fieldPath: '.classWeights',
    check: (c: CatboostRuleInput) => c.classWeights === undefined || c.autoClassWeights === undefined,
  },
];

export const catboostParams = withRules(
  z.object({
    iterations: z.int32().min(1).max(100000).default(1000).describe('Maximum number of trees.'),
    learningRate: decimalString({ above: 0, atMost: 1, message: 'learningRate must be above 0 and at most 1, e.g. "0.03"' })
      .optional()
      .describe('Step size, above 0 and at most 1, e.g. "0.1"; CatBoost picks one when unset.'),
    depth: z.int32().min(1).max(16).default(6).describe('Depth of each oblivious tree.'),
    l2LeafReg: decimalString({ atLeast: 0, message: 'l2LeafReg must be 0 or more, e.g. "3"' })
      .optional()
      .describe('L2 regularisation of leaf values, 0 or more, e.g. "3".'),
    lossFunction: matching(
      z.string().max(128),
      CATBOOST_NAME,
      'must be a CatBoost loss name with optional parameters, e.g. "RMSE" or "Quantile:alpha=0.9"',
    )
      .optional()
      .describe('CatBoost loss; default RMSE, Logloss or MultiClass by task.'),
    earlyStoppingRounds: z.int32().min(1).max(10000).optional().describe('Stop when the validation metric has not improved for this many trees.'),
    randomSeed: z.int32().min(0).default(0).describe('Seed, for reproducible models.'),
    oneHotMaxSize: z.int32().min(1).max(255).optional().describe('Categorical features with at most this many values are one-hot encoded instead of CTR-encoded.'),
    maxCtrComplexity: z.int32().min(1).max(8).optional().describe('Largest number of categorical features combined in one CTR; unset, CatBoost chooses (up to 4 on CPU, but 1, no combinations, below 200 iterations).'),
    borderCount: z.int32().min(1).max(65535).optional().describe('Number of splits considered per numeric feature.'),
    growPolicy: z
      .enum(['SymmetricTree', 'Depthwise', 'Lossguide'])
      .optional()
      .describe('Tree shape: SymmetricTree (oblivious trees, CatBoost\'s default), Depthwise (level by level, up to depth) or Lossguide (best leaf first, up to maxLeaves).'),
    maxLeaves: z.int32().min(2).max(64).optional().describe('Most leaves per tree; growPolicy Lossguide only (CatBoost\'s default 31).'),
    autoClassWeights: z
      .enum(['None', 'Balanced', 'SqrtBalanced'])
      .optional()
      .describe('Classifiers: weight each class by 1/frequency (Balanced) or its square root (SqrtBalanced) in training; metrics.json then reports the test metrics weighted the same way beside the unweighted ones.'),
    classWeights: z
      .record(z.string().min(1).max(256), decimalString({ above: 0, message: 'a class weight must be above 0, e.g. "3"' }))
      .meta({ maxProperties: 100 })
      .refine((m) => Object.keys(m).length <= 100, 'must have at most 100 entries') // maxProperties' zod twin
      .optional()
      .describe('Classifiers: the training weight of each class by its label as the target column holds it (after valueMap), e.g. {">50K": "3"}; classes not listed weigh 1. Not with autoClassWeights.'),
    evalMetric: matching(z.string().max(128), CATBOOST_NAME, 'must be a CatBoost metric name with optional parameters, e.g. "AUC" or "TotalF1:average=Macro"')
      .optional()
      .describe('Metric of the validation log and of early stopping, e.g. "AUC" or "TotalF1:average=Macro"; default the loss.'),
    bootstrapType: z
      .enum(['Bayesian', 'Bernoulli', 'MVS', 'No'])
      .optional()
      .describe('How rows are sampled for each tree: Bayesian (weights, with baggingTemperature), Bernoulli or MVS (a subsample share), or No; CatBoost chooses by task and device when unset.'),
    subsample: decimalString({ above: 0, atMost: 1, message: 'subsample must be above 0 and at most 1, e.g. "0.8"' })
      .optional()
      .describe('Share of rows sampled for each tree, above 0 and at most 1, e.g. "0.8"; bootstrapType Bernoulli or MVS only.'),
    baggingTemperature: decimalString({ atLeast: 0, message: 'baggingTemperature must be 0 or more, e.g. "1"' })
      .optional()
      .describe('Strength of the Bayesian bootstrap, 0 (all weights 1) or more, e.g. "1"; bootstrapType Bayesian only.'),
    extra: catboostExtra
      .optional()
      .describe('Other CatBoost parameters by their snake_case name, values as strings, e.g. {nan_mode: "Max"}; not those with a field of their own.'),
  }),
  catboostRules,
).describe('CatBoost training parameters; numbers with fractions are strings.');

export const compute = withRules(
  z.object({
    device: z.enum(['CPU', 'GPU']).default('CPU').describe('CPU, or GPU to train with CatBoost task_type GPU on the GPU trainer image.'),
    gpus: z.int32().min(0).max(16).default(0).describe('GPUs to request (nvidia.com/gpu); device GPU needs at least 1.'),
    acceleratorType: matching(z.string().max(63), '^[a-z0-9-]+$', 'must be a GKE accelerator name of lowercase letters, digits and "-", e.g. "nvidia-l4"')
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

type ResourcesInput = { resources?: { requests?: Record<string, unknown> | undefined; limits?: Record<string, unknown> | undefined } | undefined };

type TaskRuleInput = {
  task: TaskType;
  features: { target: { scale?: string | undefined; transform: string; positiveClass?: string | undefined } };
  evaluation: { primaryMetric?: MetricName | undefined };
  catboost: { lossFunction?: string | undefined };
};

const taskRules = [
  {
    // The training step's GPU limit comes from compute.gpus (and CatBoost's devices with it): a second
    // figure here would contradict it, and the Pod API refuses a GPU request that differs from the limit.
    rule:
      "!has(self.resources) || ((!has(self.resources.requests) || !('nvidia.com/gpu' in self.resources.requests)) && " +
      "(!has(self.resources.limits) || !('nvidia.com/gpu' in self.resources.limits)))",
    message: 'resources cannot name nvidia.com/gpu: the operator gives the training step compute.gpus GPUs, so set compute.gpus instead',
    fieldPath: '.resources',
    check: (s: ResourcesInput) => !(s.resources?.requests && 'nvidia.com/gpu' in s.resources.requests) && !(s.resources?.limits && 'nvidia.com/gpu' in s.resources.limits),
  },
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
  {
    rule: "self.task != 'Regression' || !has(self.catboost.autoClassWeights)",
    message: 'catboost.autoClassWeights applies only to BinaryClassification and MulticlassClassification: remove it (a regression has no classes to weigh)',
    fieldPath: '.catboost.autoClassWeights',
    check: (s: { task: string; catboost: { autoClassWeights?: string | undefined } }) => s.task !== 'Regression' || s.catboost.autoClassWeights === undefined,
  },
  {
    rule: "self.task != 'Regression' || !has(self.catboost.classWeights)",
    message: 'catboost.classWeights applies only to BinaryClassification and MulticlassClassification: remove it (a regression has no classes to weigh)',
    fieldPath: '.catboost.classWeights',
    check: (s: { task: string; catboost: { classWeights?: Record<string, string> | undefined } }) => s.task !== 'Regression' || s.catboost.classWeights === undefined,
  },
  {
    rule: `!has(self.evaluation.primaryMetric) || ${celMetricFitsTask('self.evaluation.primaryMetric', 'self.task')}`,
    message: `evaluation.primaryMetric must be a metric of the task: ${METRICS_BY_TASK_SENTENCE}`,
    messageExpression: misfitMessage('evaluation.primaryMetric', 'self.evaluation.primaryMetric', 'self.task', METRICS_BY_TASK, 'is not computed for'),
    messageOf: (s: TaskRuleInput) => misfitMessageOf('evaluation.primaryMetric', s.evaluation.primaryMetric!, s.task, METRICS_BY_TASK, 'is not computed for'),
    fieldPath: '.evaluation.primaryMetric',
    check: (s: TaskRuleInput) => s.evaluation.primaryMetric === undefined || METRICS_BY_TASK[s.task].includes(s.evaluation.primaryMetric),
  },
  {
    rule:
      "!has(self.catboost.lossFunction) || (self.task == 'Regression' ? " +
      `self.catboost.lossFunction.matches(${celString(lossPattern('Regression'))}) : self.task == 'BinaryClassification' ? ` +
      `self.catboost.lossFunction.matches(${celString(lossPattern('BinaryClassification'))}) : ` +
      `self.catboost.lossFunction.matches(${celString(lossPattern('MulticlassClassification'))}))`,
    message: `catboost.lossFunction must be a loss of the task that the exported model reproduces: ${(Object.entries(LOSSES_BY_TASK) as [TaskType, string[]][])
      .map(([task, losses]) => `${orList(losses)} for ${task}`)
      .join('; ')}`,
    messageExpression: misfitMessage('catboost.lossFunction', 'self.catboost.lossFunction', 'self.task', LOSSES_BY_TASK, 'does not fit'),
    messageOf: (s: TaskRuleInput) => misfitMessageOf('catboost.lossFunction', s.catboost.lossFunction!, s.task, LOSSES_BY_TASK, 'does not fit'),
    fieldPath: '.catboost.lossFunction',
    check: (s: TaskRuleInput) => s.catboost.lossFunction === undefined || new RegExp(lossPattern(s.task)).test(s.catboost.lossFunction),
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
        metrics: z.string().optional().describe('The test-split report (metrics.json): every metric, per-class scores, the confusion matrix and calibration.'),
        plots: z
          .object({
            featureImportance: z.string().optional().describe('Bar chart of mean |SHAP| per feature (SVG).'),
            calibration: z.string().optional().describe('Classifiers: reliability diagram of predicted probability against observed frequency (SVG).'),
            confusionMatrix: z.string().optional().describe('Classifiers: true against predicted class counts, shaded by row share (SVG).'),
          })
          .optional()
          .describe('Charts of the test-split evaluation, beside metrics.json.'),
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
