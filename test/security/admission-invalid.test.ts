// What a hostile or careless author can get admitted: every manifest below breaks a rule the API
// documents (the field descriptions in operator/src/api/v1alpha1, `kubectl explain`), and each once
// passed admission and reached a trainer, a scorer or the scheduler. The real kube-apiserver must
// reject each one with a sentence that names the field, never a regex; the operator's own zod parse
// (the twin of every CEL rule) must reject it on the same field. Edge-valid manifests (the shipped
// examples and boundary values) must still be accepted by both.
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { z } from 'zod';
import { apiErrorMessage, createObject, statusCode, type KubeObject } from '../../operator/src/kube/client.js';
import { fieldPath, kinds } from '../../operator/src/api/v1alpha1/index.js';
import { exampleManifests, type Manifest } from '../fixtures/manifests.js';
import { createNamespace, testKubeConfig } from '../support/cluster.js';

type Spec = Record<string, any>;
type Edit = (spec: Spec) => void;

interface Case {
  title: string;
  manifest: Manifest;
  /** The field the rejection must name, in Kubernetes notation. */
  field: string;
}

const kc = testKubeConfig();

function example(kind: string, name: string): Manifest {
  const found = exampleManifests().find((e) => e.manifest.kind === kind && e.manifest.metadata.name === name);
  if (!found) throw new Error(`no example ${kind} ${name} in data/examples`);
  return structuredClone(found.manifest);
}

let serial = 0;
function variant(kind: string, base: string, title: string, field: string, edit: Edit): Case {
  const manifest = example(kind, base);
  manifest.metadata = { name: `case-${++serial}` };
  edit(manifest.spec);
  return { title, manifest, field };
}

// Bases: a regression, a binary and a multiclass run; a run with scale, percentiles and a zip; a
// GPU run with resources and tolerations; two models; two scoring jobs.
const regression = (t: string, f: string, e: Edit) => variant('TrainingRun', 'salaries-2023', t, f, e);
const binary = (t: string, f: string, e: Edit) => variant('TrainingRun', 'adult-income-1', t, f, e);
const multiclass = (t: string, f: string, e: Edit) => variant('TrainingRun', 'salaries-experience-1', t, f, e);
const survey = (t: string, f: string, e: Edit) => variant('TrainingRun', 'so-compensation-2023', t, f, e);
const gpu = (t: string, f: string, e: Edit) => variant('TrainingRun', 'salaries-gpu', t, f, e);
const model = (t: string, f: string, e: Edit) => variant('RegisteredModel', 'salaries', t, f, e);
const binaryModel = (t: string, f: string, e: Edit) => variant('RegisteredModel', 'adult-income', t, f, e);
const job = (t: string, f: string, e: Edit) => variant('ScoringJob', 'salaries-2024', t, f, e);
const nightly = (t: string, f: string, e: Edit) => variant('ScoringJob', 'salaries-nightly', t, f, e);

const extraOverride = (key: string) => regression(`extra.${key} overrides a named field`, 'spec.catboost.extra', (s) => (s.catboost.extra = { [key]: '3' }));
const schedule = (expr: string, why: string) => nightly(`schedule ${JSON.stringify(expr)}: ${why}`, 'spec.schedule', (s) => (s.schedule = expr));

const invalid: Case[] = [
  // CatBoost hyperparameters, each outside its natural domain.
  regression('negative learning rate (published at R² -0.30 once)', 'spec.catboost.learningRate', (s) => (s.catboost.learningRate = '-0.5')),
  regression('zero learning rate', 'spec.catboost.learningRate', (s) => (s.catboost.learningRate = '0')),
  regression('learning rate above 1', 'spec.catboost.learningRate', (s) => (s.catboost.learningRate = '1.5')),
  regression('learning rate NaN', 'spec.catboost.learningRate', (s) => (s.catboost.learningRate = 'NaN')),
  regression('learning rate Infinity', 'spec.catboost.learningRate', (s) => (s.catboost.learningRate = 'Infinity')),
  regression('learning rate 1e999 (Infinity once parsed)', 'spec.catboost.learningRate', (s) => (s.catboost.learningRate = '1e999')),
  regression('learning rate with a plus sign and spaces', 'spec.catboost.learningRate', (s) => (s.catboost.learningRate = ' +0.1')),
  regression('negative l2LeafReg', 'spec.catboost.l2LeafReg', (s) => (s.catboost.l2LeafReg = '-1')),
  regression('l2LeafReg 1e400', 'spec.catboost.l2LeafReg', (s) => (s.catboost.l2LeafReg = '1e400')),
  regression('l2LeafReg as a hex number', 'spec.catboost.l2LeafReg', (s) => (s.catboost.l2LeafReg = '0x10')),
  regression('depth 0', 'spec.catboost.depth', (s) => (s.catboost.depth = 0)),
  regression('depth 17, beyond CatBoost', 'spec.catboost.depth', (s) => (s.catboost.depth = 17)),
  regression('zero iterations', 'spec.catboost.iterations', (s) => (s.catboost.iterations = 0)),
  regression('iterations above 100000', 'spec.catboost.iterations', (s) => (s.catboost.iterations = 100001)),
  regression('fractional iterations', 'spec.catboost.iterations', (s) => (s.catboost.iterations = 10.5)),
  regression('zero earlyStoppingRounds', 'spec.catboost.earlyStoppingRounds', (s) => (s.catboost.earlyStoppingRounds = 0)),
  regression('negative randomSeed', 'spec.catboost.randomSeed', (s) => (s.catboost.randomSeed = -1)),
  regression('oneHotMaxSize 256', 'spec.catboost.oneHotMaxSize', (s) => (s.catboost.oneHotMaxSize = 256)),
  regression('maxCtrComplexity 0', 'spec.catboost.maxCtrComplexity', (s) => (s.catboost.maxCtrComplexity = 0)),
  regression('borderCount 65536', 'spec.catboost.borderCount', (s) => (s.catboost.borderCount = 65536)),
  regression('malformed loss parameters', 'spec.catboost.lossFunction', (s) => (s.catboost.lossFunction = 'Quantile:alpha')),
  regression('classification loss on Regression', 'spec.catboost.lossFunction', (s) => (s.catboost.lossFunction = 'Logloss')),
  regression('Poisson loss (log-scale predictions the export serves raw)', 'spec.catboost.lossFunction', (s) => (s.catboost.lossFunction = 'Poisson')),
  regression('ranking loss without groups', 'spec.catboost.lossFunction', (s) => (s.catboost.lossFunction = 'YetiRank')),
  binary('regression loss on BinaryClassification', 'spec.catboost.lossFunction', (s) => (s.catboost.lossFunction = 'RMSE')),
  binary('multiclass loss on BinaryClassification', 'spec.catboost.lossFunction', (s) => (s.catboost.lossFunction = 'MultiClass')),
  multiclass('binary loss on MulticlassClassification', 'spec.catboost.lossFunction', (s) => (s.catboost.lossFunction = 'Logloss')),
  ...['iterations', 'num_boost_round', 'n_estimators', 'num_trees', 'learning_rate', 'eta', 'depth', 'max_depth', 'l2_leaf_reg', 'reg_lambda',
    'loss_function', 'objective', 'early_stopping_rounds', 'od_wait', 'random_seed', 'random_state', 'border_count', 'max_bin', 'task_type',
    'devices', 'class_names', 'grow_policy', 'max_leaves', 'num_leaves', 'auto_class_weights', 'eval_metric', 'bootstrap_type', 'subsample',
    'bagging_temperature', 'class_weights', 'use_best_model', 'scale_pos_weight', 'cat_features', 'thread_count', 'allow_writing_files',
    'train_dir'].map(extraOverride),
  regression('extra.eta beside a key named like a JavaScript builtin', 'spec.catboost.extra', (s) => (s.catboost.extra = { constructor: '1', eta: '0.5' })),
  regression('extra key in camelCase', 'spec.catboost.extra', (s) => (s.catboost.extra = { bootstrapType: 'Bernoulli' })),
  regression('extra key with a dash', 'spec.catboost.extra', (s) => (s.catboost.extra = { 'bootstrap-type': 'Bernoulli' })),
  // Named CatBoost fields that CatBoost would ignore without the setting they belong to.
  regression('maxLeaves without growPolicy Lossguide', 'spec.catboost.maxLeaves', (s) => Object.assign(s.catboost, { growPolicy: 'Depthwise', maxLeaves: 16 })),
  regression('maxLeaves with no growPolicy', 'spec.catboost.maxLeaves', (s) => (s.catboost.maxLeaves = 16)),
  regression('maxLeaves 65, beyond CatBoost', 'spec.catboost.maxLeaves', (s) => Object.assign(s.catboost, { growPolicy: 'Lossguide', maxLeaves: 65 })),
  regression('growPolicy misspelt', 'spec.catboost.growPolicy', (s) => (s.catboost.growPolicy = 'LossGuide')),
  regression('subsample with bootstrapType Bayesian', 'spec.catboost.subsample', (s) => Object.assign(s.catboost, { bootstrapType: 'Bayesian', subsample: '0.8' })),
  regression('subsample above 1', 'spec.catboost.subsample', (s) => Object.assign(s.catboost, { bootstrapType: 'Bernoulli', subsample: '1.5' })),
  regression('baggingTemperature without bootstrapType Bayesian', 'spec.catboost.baggingTemperature', (s) => Object.assign(s.catboost, { bootstrapType: 'MVS', baggingTemperature: '1' })),
  regression('autoClassWeights on Regression', 'spec.catboost.autoClassWeights', (s) => (s.catboost.autoClassWeights = 'Balanced')),
  binary('evalMetric with malformed parameters', 'spec.catboost.evalMetric', (s) => (s.catboost.evalMetric = 'F1:use_weights')),
  regression('classWeights on Regression', 'spec.catboost.classWeights', (s) => (s.catboost.classWeights = { high: '2' })),
  binary('classWeights beside autoClassWeights', 'spec.catboost.classWeights', (s) => Object.assign(s.catboost, { classWeights: { '>50K': '3' }, autoClassWeights: 'Balanced' })),

  // Metrics that the task does not compute: nothing to show, compare or promote on.
  regression('AUC on Regression', 'spec.evaluation.primaryMetric', (s) => (s.evaluation.primaryMetric = 'AUC')),
  regression('LogLoss on Regression', 'spec.evaluation.primaryMetric', (s) => (s.evaluation.primaryMetric = 'LogLoss')),
  binary('RMSE on BinaryClassification', 'spec.evaluation.primaryMetric', (s) => (s.evaluation.primaryMetric = 'RMSE')),
  binary('R2 on BinaryClassification', 'spec.evaluation.primaryMetric', (s) => (s.evaluation.primaryMetric = 'R2')),
  multiclass('F1 on MulticlassClassification', 'spec.evaluation.primaryMetric', (s) => (s.evaluation.primaryMetric = 'F1')),
  multiclass('AUC on MulticlassClassification', 'spec.evaluation.primaryMetric', (s) => (s.evaluation.primaryMetric = 'AUC')),
  binary('MacroF1 on BinaryClassification', 'spec.evaluation.primaryMetric', (s) => (s.evaluation.primaryMetric = 'MacroF1')),
  regression('Precision on Regression', 'spec.evaluation.primaryMetric', (s) => (s.evaluation.primaryMetric = 'Precision')),
  binary('topFraction 1', 'spec.evaluation.topFraction', (s) => (s.evaluation.topFraction = '1')),
  binary('topFraction 0', 'spec.evaluation.topFraction', (s) => (s.evaluation.topFraction = '0')),

  // The label and the features.
  survey('target scale 0 (division by zero)', 'spec.features.target.scale', (s) => (s.features.target.scale = '0')),
  survey('negative target scale', 'spec.features.target.scale', (s) => (s.features.target.scale = '-1000')),
  survey('target scale NaN', 'spec.features.target.scale', (s) => (s.features.target.scale = 'NaN')),
  survey('missing value Infinity', 'spec.features.columns[0].missing', (s) => (s.features.columns[0].missing = 'Infinity')),
  survey('missing value 1e999', 'spec.features.columns[0].missing', (s) => (s.features.columns[0].missing = '-1e999')),
  survey('multiLabel topK 0', 'spec.features.columns[17].multiLabel.topK', (s) => (s.features.columns[17].multiLabel.topK = 0)),
  binary('log transform of a class label', 'spec.features.target', (s) => (s.features.target.transform = 'Log')),
  regression('feature name starting with a digit', 'spec.features.columns[0].name', (s) => (s.features.columns[0].name = '1st_year')),
  regression('pattern with three repeats (20 ms a cell)', 'spec.features.columns[0].pattern.regex', (s) => (s.features.columns[0].pattern = { regex: '(\\d*)\\d*\\d*x' })),
  regression('missing on a categorical feature', 'spec.features.columns[1].missing', (s) => (s.features.columns[1].missing = '0')),

  // Data, filters and the split.
  regression('filter min above max (keeps no rows)', 'spec.data.filters[0].max', (s) => (s.data.filters[0] = { column: 'work_year', min: '2024', max: '2020' })),
  regression('filter min 1e999', 'spec.data.filters[0].min', (s) => (s.data.filters[0] = { column: 'work_year', min: '1e999' })),
  regression('filter max NaN', 'spec.data.filters[0].max', (s) => (s.data.filters[0].max = 'NaN')),
  survey('percentile low 0', 'spec.data.filters[1].percentileRange.low', (s) => (s.data.filters[1].percentileRange.low = '0')),
  survey('percentile high 1.0', 'spec.data.filters[1].percentileRange.high', (s) => (s.data.filters[1].percentileRange.high = '1.0')),
  regression('testFraction 0', 'spec.data.split.testFraction', (s) => (s.data.split.testFraction = '0')),
  regression('validationFraction 1', 'spec.data.split.validationFraction', (s) => (s.data.split.validationFraction = '1')),
  regression('negative split seed', 'spec.data.split.seed', (s) => (s.data.split.seed = -1)),
  regression('Time split without orderColumn', 'spec.data.split.orderColumn', (s) => (s.data.split = { strategy: 'Time', testFraction: '0.2' })),
  regression('quote as the csv delimiter', 'spec.data.source.csv.delimiter', (s) => (s.data.source.csv = { delimiter: '"' })),
  regression('line break as the csv delimiter', 'spec.data.source.csv.delimiter', (s) => (s.data.source.csv = { delimiter: '\n' })),
  regression('two-character csv delimiter', 'spec.data.source.csv.delimiter', (s) => (s.data.source.csv = { delimiter: ';;' })),
  regression('= as the csv delimiter (cuts KEY=value lines into quotable pieces)', 'spec.data.source.csv.delimiter', (s) => (s.data.source.csv = { delimiter: '=' })),
  regression('a letter as the csv delimiter', 'spec.data.source.csv.delimiter', (s) => (s.data.source.csv = { delimiter: 'c' })),
  survey('sha256 in upper case', 'spec.data.source.sha256', (s) => (s.data.source.sha256 = s.data.source.sha256.toUpperCase())),
  survey('sha256 too short', 'spec.data.source.sha256', (s) => (s.data.source.sha256 = 'abc123')),
  survey('zip without zipMember', 'spec.data.source.zipMember', (s) => delete s.data.source.zipMember),
  regression('relative file URI', 'spec.data.source.uri', (s) => (s.data.source.uri = 'file://salaries.csv')),

  // Where the Pod runs and who it runs as.
  gpu('accelerator type in upper case', 'spec.compute.acceleratorType', (s) => (s.compute.acceleratorType = 'NVIDIA_L4')),
  gpu('17 GPUs', 'spec.compute.gpus', (s) => (s.compute.gpus = 17)),
  regression('accelerator on a CPU run', 'spec.compute.acceleratorType', (s) => (s.compute = { device: 'CPU', acceleratorType: 'nvidia-l4' })),
  gpu('memory request above its limit', 'spec.resources.requests', (s) => (s.resources = { requests: { memory: '16Gi' }, limits: { memory: '8Gi' } })),
  gpu('cpu request above its limit, in other units', 'spec.resources.requests', (s) => (s.resources = { requests: { cpu: 2 }, limits: { cpu: '1500m' } })),
  gpu('negative memory request', 'spec.resources.requests', (s) => (s.resources = { requests: { memory: '-1Gi' } })),
  gpu('negative integer cpu limit', 'spec.resources.limits', (s) => (s.resources = { limits: { cpu: -2 } })),
  gpu('quantity with a space and a unit Kubernetes lacks', 'spec.resources.limits', (s) => (s.resources = { limits: { memory: '2 GB' } })),
  gpu('a unit without a number (the API server would store 0)', 'spec.resources.requests', (s) => (s.resources = { requests: { memory: 'Gi' } })),
  gpu('a GPU count in resources beside compute.gpus', 'spec.resources', (s) => (s.resources = { limits: { 'nvidia.com/gpu': 2 } })),
  job('an extended resource requested without a limit', 'spec.resources.requests', (s) => (s.resources = { requests: { 'example.com/fpga': 1 } })),
  job('an extended resource requested above its limit', 'spec.resources.requests', (s) => (s.resources = { requests: { 'example.com/fpga': 2 }, limits: { 'example.com/fpga': 1 } })),
  job('huge pages requested without a limit', 'spec.resources.requests', (s) => (s.resources = { requests: { 'hugepages-2Mi': '64Mi' } })),
  gpu('resource name with a bang', 'spec.resources.requests', (s) => (s.resources = { requests: { 'cpu!': '1' } })),
  gpu('node selector key with a space', 'spec.nodeSelector', (s) => (s.nodeSelector = { 'pool name': 'gpu' })),
  gpu('node selector key starting with a dash', 'spec.nodeSelector', (s) => (s.nodeSelector = { '-pool': 'gpu' })),
  gpu('node selector key with an upper-case prefix', 'spec.nodeSelector', (s) => (s.nodeSelector = { 'Example.com/pool': 'gpu' })),
  gpu('node selector value with a space', 'spec.nodeSelector', (s) => (s.nodeSelector = { 'cloud.google.com/gke-nodepool': 'gpu pool' })),
  gpu('node selector value ending in a dash', 'spec.nodeSelector', (s) => (s.nodeSelector = { pool: 'gpu-' })),
  gpu('toleration Exists with a value', 'spec.tolerations[0].value', (s) => (s.tolerations[0].value = 'present')),
  gpu('toleration with an unknown effect', 'spec.tolerations[0].effect', (s) => (s.tolerations[0].effect = 'Sometimes')),
  gpu('toleration without key and operator Equal', 'spec.tolerations[0].operator', (s) => (s.tolerations = [{ operator: 'Equal', value: 'x' }])),
  gpu('tolerationSeconds with effect NoSchedule', 'spec.tolerations[0].tolerationSeconds', (s) => (s.tolerations[0].tolerationSeconds = 60)),
  gpu('negative tolerationSeconds', 'spec.tolerations[0].tolerationSeconds', (s) => (s.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: -1 }])),
  gpu('toleration key with a space', 'spec.tolerations[0].key', (s) => (s.tolerations[0].key = 'nvidia gpu')),
  gpu('toleration value with a slash', 'spec.tolerations[0].value', (s) => (s.tolerations = [{ key: 'k', operator: 'Equal', value: 'a/b' }])),
  gpu('service account in upper case', 'spec.serviceAccountName', (s) => (s.serviceAccountName = 'Orchard_Trainer')),
  gpu('artifacts on S3', 'spec.artifactUri', (s) => (s.artifactUri = 's3://bucket/models')),
  gpu('artifacts in a one-letter bucket', 'spec.artifactUri', (s) => (s.artifactUri = 'gs://B/models')),
  gpu('zero activeDeadlineSeconds', 'spec.activeDeadlineSeconds', (s) => (s.activeDeadlineSeconds = 0)),
  gpu('backoffLimit 101', 'spec.backoffLimit', (s) => (s.backoffLimit = 101)),
  regression('model name in upper case', 'spec.modelRef.name', (s) => (s.modelRef.name = 'Salaries')),

  // RegisteredModel: promotion, serving, drift and the retraining template.
  model('promotion on AUC for a Regression model', 'spec.promotion.metric', (s) => (s.promotion.metric = 'AUC')),
  binaryModel('promotion on RMSE for a BinaryClassification model', 'spec.promotion.metric', (s) => (s.promotion.metric = 'RMSE')),
  model('promotion on LogLoss, task known only from the template', 'spec.promotion.metric', (s) => {
    delete s.task;
    s.promotion.metric = 'LogLoss';
  }),
  model('template of another task', 'spec.retrain.template.task', (s) => {
    s.retrain.template.task = 'BinaryClassification';
    s.retrain.template.catboost.lossFunction = 'Logloss';
  }),
  model('negative minImprovement (promotes worse versions)', 'spec.promotion.minImprovement', (s) => (s.promotion.minImprovement = '-0.5')),
  model('minImprovement NaN', 'spec.promotion.minImprovement', (s) => (s.promotion.minImprovement = 'NaN')),
  model('negative learning rate in the template', 'spec.retrain.template.catboost.learningRate', (s) => (s.retrain.template.catboost.learningRate = '-0.5')),
  model('extra.eta in the template', 'spec.retrain.template.catboost.extra', (s) => (s.retrain.template.catboost.extra = { eta: '0.5' })),
  model('AUC as the template\'s primary metric', 'spec.retrain.template.evaluation.primaryMetric', (s) => (s.retrain.template.evaluation = { primaryMetric: 'AUC' })),
  model('scale 0 in the template', 'spec.retrain.template.features.target.scale', (s) => (s.retrain.template.features.target.scale = '0')),
  model('filter min above max in the template', 'spec.retrain.template.data.filters[0].max', (s) => (s.retrain.template.data.filters[0].min = '2030')),
  model('serving request above its limit', 'spec.serving.resources.requests', (s) => (s.serving.resources = { requests: { cpu: '2' }, limits: { cpu: '1' } })),
  model('serving node selector key with a space', 'spec.serving.nodeSelector', (s) => (s.serving.nodeSelector = { 'a b': 'c' })),
  model('serving toleration Exists with a value', 'spec.serving.tolerations[0].value', (s) => (s.serving.tolerations = [{ key: 'k', operator: 'Exists', value: 'v' }])),
  model('driftShare 1', 'spec.drift.driftShare', (s) => (s.drift.driftShare = '1')),
  model('drift minRows above windowRows', 'spec.drift.minRows', (s) => (s.drift.minRows = 3000)),
  model('drift window of 10 seconds', 'spec.drift.windowSeconds', (s) => (s.drift.windowSeconds = 10)),
  model('maxBodyBytes below 1 KiB', 'spec.serving.maxBodyBytes', (s) => (s.serving.maxBodyBytes = 100)),
  binaryModel('champion and challenger the same version', 'spec.promotion.challenger', (s) => (s.promotion = { policy: 'Manual', champion: 2, challenger: 2 })),

  // ScoringJob: schedules that are not cron, and the rest of the spec.
  schedule('a b c d e', 'letters'),
  schedule('61 * * * *', 'minute 61'),
  schedule('* 24 * * *', 'hour 24'),
  schedule('* * 0 * *', 'day of month 0'),
  schedule('* * 32 * *', 'day of month 32'),
  schedule('* * * 13 *', 'month 13'),
  schedule('* * * * 8', 'day of week 8'),
  schedule('* * * *', 'four fields'),
  schedule('* * * * * *', 'six fields'),
  schedule('*/0 * * * *', 'step 0'),
  schedule('30-10 * * * *', 'backwards range'),
  schedule('0 0 * * FRI-MON', 'backwards day names'),
  schedule('0 0 * JANUARY *', 'month name spelt out'),
  schedule('@every 1h', 'a descriptor the scheduler lacks'),
  schedule('@reboot', 'no reboot for a ScoringJob'),
  schedule('0 3 * * *; rm -rf /', 'trailing text'),
  job('output on S3', 'spec.output.uri', (s) => (s.output.uri = 's3://bucket/scores')),
  job('input over FTP', 'spec.input.sources[0].uri', (s) => (s.input.sources[0].uri = 'ftp://example.com/salaries.csv')),
  job('https input without checksum', 'spec.input.sources[0].sha256', (s) => (s.input.sources[0].uri = 'https://example.com/salaries.csv')),
  job('request above its limit', 'spec.resources.requests', (s) => (s.resources = { requests: { memory: '2Gi' }, limits: { memory: '1Gi' } })),
  job('toleration without key and operator Equal', 'spec.tolerations[0].operator', (s) => (s.tolerations = [{ effect: 'NoSchedule' }])),
  job('zero shards', 'spec.shards', (s) => (s.shards = 0)),
  job('version 0', 'spec.version', (s) => {
    delete s.alias;
    s.version = 0;
  }),
  nightly('service account with a space', 'spec.serviceAccountName', (s) => (s.serviceAccountName = 'orchard scorer')),
];

const edit = (kind: string, base: string, title: string, e: Edit): Case => variant(kind, base, title, '', e);
const edgeValid: Case[] = [
  ...exampleManifests().map(({ file, manifest }) => ({ title: `${file}: ${manifest.kind} ${manifest.metadata.name}`, manifest, field: '' })),
  edit('TrainingRun', 'salaries-2023', 'learning rate 1, l2LeafReg 0, depth 16, one iteration', (s) => {
    Object.assign(s.catboost, { learningRate: '1', l2LeafReg: '0', depth: 16, iterations: 1 });
  }),
  edit('TrainingRun', 'salaries-2023', 'decimals written .5, 1e-3 and 1E+02', (s) => {
    Object.assign(s.catboost, { learningRate: '1e-3', l2LeafReg: '1E+02' });
    s.data.filters[0] = { column: 'work_year', min: '.5', max: '2023.' };
  }),
  edit('TrainingRun', 'salaries-2023', 'filter with min equal to max', (s) => (s.data.filters[0] = { column: 'work_year', min: '2023', max: '2023' })),
  edit('TrainingRun', 'so-compensation-2023', 'a tiny target scale and a negative missing value', (s) => {
    s.features.target.scale = '0.001';
    s.features.columns[0].missing = '-99.5';
  }),
  edit('TrainingRun', 'salaries-2023', 'extra parameters without a field of their own', (s) => (s.catboost.extra = { nan_mode: 'Max', random_strength: '0.5', leaf_estimation_iterations: '4' })),
  edit('TrainingRun', 'salaries-2023', 'Lossguide with maxLeaves, Bernoulli with subsample 1', (s) => {
    Object.assign(s.catboost, { growPolicy: 'Lossguide', maxLeaves: 64, bootstrapType: 'Bernoulli', subsample: '1', evalMetric: 'MAE' });
  }),
  edit('TrainingRun', 'salaries-experience-1', 'SqrtBalanced class weights, Bayesian bootstrap at temperature 0', (s) => {
    Object.assign(s.catboost, { autoClassWeights: 'SqrtBalanced', bootstrapType: 'Bayesian', baggingTemperature: '0', evalMetric: 'TotalF1:average=Macro' });
  }),
  edit('TrainingRun', 'adult-income-1', 'explicit class weights, one a tiny decimal', (s) => (s.catboost.classWeights = { '>50K': '3', '<=50K': '0.001' })),
  edit('TrainingRun', 'salaries-experience-1', 'MacroF1 as the headline of a multiclass run', (s) => (s.evaluation.primaryMetric = 'MacroF1')),
  edit('TrainingRun', 'adult-income-1', 'Recall as the headline of a binary run', (s) => (s.evaluation.primaryMetric = 'Recall')),
  edit('TrainingRun', 'salaries-2023', 'Quantile loss and R2', (s) => {
    s.catboost.lossFunction = 'Quantile:alpha=0.9';
    s.evaluation.primaryMetric = 'R2';
  }),
  edit('TrainingRun', 'adult-income-1', 'CrossEntropy loss and LiftAtK', (s) => {
    s.catboost.lossFunction = 'CrossEntropy';
    s.evaluation.primaryMetric = 'LiftAtK';
  }),
  edit('TrainingRun', 'salaries-experience-1', 'MultiClassOneVsAll loss and Accuracy', (s) => {
    s.catboost.lossFunction = 'MultiClassOneVsAll';
    s.evaluation.primaryMetric = 'Accuracy';
  }),
  edit('TrainingRun', 'salaries-gpu', 'requests equal to limits in other units, and an integer quantity', (s) => {
    s.resources = { requests: { memory: '1Gi', cpu: 2 }, limits: { memory: '1024Mi', cpu: '2000m' } };
  }),
  edit('TrainingRun', 'salaries-gpu', 'limits alone, a zero request', (s) => (s.resources = { requests: { 'ephemeral-storage': '0' }, limits: { memory: '8Gi' } })),
  edit('TrainingRun', 'salaries-gpu', 'prefixed node selector, empty value, keyless Exists and NoExecute seconds', (s) => {
    s.nodeSelector = { 'cloud.google.com/gke-nodepool': 'gpu-pool', dedicated: '' };
    s.tolerations = [{ operator: 'Exists' }, { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }];
  }),
  edit('ScoringJob', 'salaries-2024', 'an extended resource with request equal to limit, another by limit alone', (s) => {
    s.resources = { requests: { 'example.com/fpga': '1', cpu: '500m' }, limits: { 'example.com/fpga': 1, 'hugepages-2Mi': '64Mi' } };
  }),
  edit('RegisteredModel', 'salaries', 'minImprovement 0 and promotion on R2', (s) => {
    s.promotion.minImprovement = '0';
    s.promotion.metric = 'R2';
  }),
  edit('RegisteredModel', 'adult-income', 'promotion on AUC for a binary model', (s) => (s.promotion = { policy: 'Automatic', metric: 'AUC' })),
  edit('RegisteredModel', 'so-compensation', 'any metric when no task is known', (s) => {
    delete s.task;
    s.promotion = { metric: 'F1' };
  }),
  ...['*/15 * * * *', '0 9-17 * * MON-FRI', '0 0 1,15 * *', '5/15 * * * *', '0 0 * jan,jul sun', '@hourly', '0 0 * * 7', '@Weekly', '0 0 ? * *', '59 23 31 12 *', '0\t3  * * *', '0-59/30 00 01 1-12 0-7']
    .map((expr) => edit('ScoringJob', 'salaries-nightly', `schedule ${JSON.stringify(expr)}`, (s) => (s.schedule = expr))),
];

const specSchema = (kind: string): z.ZodType => kinds.find((k) => k.kind === kind)!.spec;

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Regex text in a message means a pattern leaked instead of a sentence.
const REGEX_TEXT = /should match|'\^|\[0-9\]|\\d|\(\?:|\$'/;

let namespace: string;
const outcomes = new Map<Case, { code: number | undefined; message: string }>();

beforeAll(async () => {
  namespace = await createNamespace(kc, 'admission-invalid');
  // One batch, in parallel: dry runs, so nothing is stored and the suite takes about a second.
  await Promise.all(
    [...invalid, ...edgeValid].map(async (c) => {
      const obj = { ...structuredClone(c.manifest), metadata: { ...c.manifest.metadata, namespace } } as KubeObject;
      try {
        await createObject(kc, obj, { dryRun: true });
        outcomes.set(c, { code: 201, message: '' });
      } catch (err) {
        outcomes.set(c, { code: statusCode(err), message: apiErrorMessage(err) });
      }
    }),
  );
});

describe('invalid manifests', () => {
  it('are many, and each breaks a documented rule', () => {
    expect(invalid.length).toBeGreaterThanOrEqual(80);
  });

  it.each(invalid.map((c) => [`${c.manifest.kind}: ${c.title}`, c] as const))('%s: the API server rejects it with a sentence on the field', (_t, c) => {
    const { code, message } = outcomes.get(c)!;
    expect(code).toBe(422);
    expect(message).toContain(`${c.field}:`);
    expect(message).not.toMatch(REGEX_TEXT);
    // The cause after the field: words, not a pattern or a bare value.
    const cause = message.slice(message.indexOf(`${c.field}:`) + c.field.length + 1);
    expect(cause.split(/\s+/).filter((w) => /[a-z]{2,}/.test(w)).length).toBeGreaterThanOrEqual(4);
  });

  it.each(invalid.map((c) => [`${c.manifest.kind}: ${c.title}`, c] as const))('%s: the operator\'s zod parse rejects it on the same field', (_t, c) => {
    const result = specSchema(c.manifest.kind).safeParse(c.manifest.spec);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => fieldPath(i.path))).toContain(c.field);
    for (const issue of result.error!.issues) expect(issue.message).not.toMatch(REGEX_TEXT);
    // A CEL rule and its zod twin say the same sentence, word for word.
    const twin = result.error!.issues.find((i) => i.code === 'custom' && fieldPath(i.path) === c.field);
    if (twin) expect(outcomes.get(c)!.message).toMatch(new RegExp(`${escapeRegExp(c.field)}: Invalid value: "(object|string)": ${escapeRegExp(twin.message)}`));
  });
});

describe('edge-valid manifests', () => {
  it.each(edgeValid.map((c) => [`${c.manifest.kind}: ${c.title}`, c] as const))('%s: accepted by the API server and by zod', (_t, c) => {
    expect(outcomes.get(c)).toEqual({ code: 201, message: '' });
    expect(specSchema(c.manifest.kind).safeParse(c.manifest.spec).error?.issues ?? []).toEqual([]);
  });
});
