// The three kinds: their schemas, names and the columns `kubectl get` shows.
import { z } from 'zod';
import { API_VERSION, GROUP, VERSION } from './common.js';
import { registeredModelSpec, registeredModelStatus } from './registered-model.js';
import { scoringJobSpec, scoringJobStatus } from './scoring-job.js';
import { trainingRunSpec, trainingRunStatus } from './training-run.js';

export * from './common.js';
export * from './data.js';
export * from './features.js';
export * from './registered-model.js';
export * from './schedule.js';
export * from './scoring-job.js';
export * from './training-run.js';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: PrinterColumn[];
}

const condition = (type: string, field: 'status' | 'reason') => `.status.conditions[?(@.type=="${type}")].${field}`;
const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' };

export const kinds: KindDefinition[] = [
  {
    kind: 'TrainingRun',
    plural: 'trainingruns',
    singular: 'trainingrun',
    shortNames: ['tr', 'trun'],
    description: 'A CatBoost training run: prepares data, trains, exports ONNX and registers a model version.',
    spec: trainingRunSpec,
    status: trainingRunStatus,
    printerColumns: [
      { name: 'Succeeded', type: 'string', jsonPath: condition('Succeeded', 'status'), description: 'True when the model was trained and registered.' },
      { name: 'Reason', type: 'string', jsonPath: condition('Succeeded', 'reason'), description: 'Step or cause of the current state.' },
      { name: 'Model', type: 'string', jsonPath: '.spec.modelRef.name', description: 'RegisteredModel receiving the version.' },
      { name: 'Version', type: 'integer', jsonPath: '.status.registeredVersion', description: 'Registered version.' },
      { name: 'Metric', type: 'string', jsonPath: '.status.headlineMetric', description: 'Primary test metric.' },
      { name: 'Duration', type: 'string', jsonPath: '.status.duration', description: 'Run time.' },
      age,
      { name: 'Device', type: 'string', jsonPath: '.spec.compute.device', description: 'CPU or GPU.', priority: 1 },
      { name: 'Job', type: 'string', jsonPath: '.status.jobName', description: 'The training Job.', priority: 1 },
    ],
  },
  {
    kind: 'RegisteredModel',
    plural: 'registeredmodels',
    singular: 'registeredmodel',
    shortNames: ['rm', 'model'],
    description: 'A model registry entry: immutable versions, champion/challenger aliases, promotion policy, online serving and drift monitoring.',
    spec: registeredModelSpec,
    status: registeredModelStatus,
    printerColumns: [
      { name: 'Champion', type: 'integer', jsonPath: '.status.aliases.champion', description: 'Version holding the champion alias.' },
      { name: 'Challenger', type: 'integer', jsonPath: '.status.aliases.challenger', description: 'Challenger version.' },
      { name: 'Serving', type: 'integer', jsonPath: '.status.serving.servedVersion', description: 'Version the scoring Pods serve now.' },
      { name: 'Ready', type: 'string', jsonPath: condition('Ready', 'status'), description: 'Champion served and ready.' },
      { name: 'Reason', type: 'string', jsonPath: condition('Ready', 'reason'), description: 'Cause of the Ready status, e.g. RollingOut.' },
      { name: 'Drifted', type: 'string', jsonPath: condition('Drifted', 'status'), description: 'Served traffic has drifted from the training data.' },
      { name: 'URL', type: 'string', jsonPath: '.status.serving.url', description: 'In-cluster scoring URL.' },
      age,
      { name: 'Latest', type: 'integer', jsonPath: '.status.latestVersion', description: 'Newest version.', priority: 1 },
      { name: 'Policy', type: 'string', jsonPath: '.spec.promotion.policy', description: 'Promotion policy.', priority: 1 },
      { name: 'Replicas', type: 'integer', jsonPath: '.status.serving.readyReplicas', description: 'Ready scoring Pods.', priority: 1 },
    ],
  },
  {
    kind: 'ScoringJob',
    plural: 'scoringjobs',
    singular: 'scoringjob',
    shortNames: ['sj'],
    description: 'Batch scoring of files with a registered model version, sharded over an Indexed Job.',
    spec: scoringJobSpec,
    status: scoringJobStatus,
    printerColumns: [
      { name: 'Succeeded', type: 'string', jsonPath: condition('Succeeded', 'status'), description: 'True when every shard finished.' },
      { name: 'Model@Version', type: 'string', jsonPath: '.status.modelVersion', description: 'Model version used.' },
      { name: 'Rows', type: 'integer', jsonPath: '.status.rowsScored', description: 'Rows scored.' },
      { name: 'Progress', type: 'string', jsonPath: '.status.progress', description: 'Shards done of total.' },
      age,
      { name: 'Reason', type: 'string', jsonPath: condition('Succeeded', 'reason'), description: 'Cause of the current state.', priority: 1 },
      { name: 'Rows/s', type: 'integer', jsonPath: '.status.rowsPerSecond', description: 'Throughput.', priority: 1 },
      { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule', description: 'Cron schedule.', priority: 1 },
    ],
  },
];

export { API_VERSION, GROUP, VERSION };
