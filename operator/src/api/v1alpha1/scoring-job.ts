// ScoringJob: batch scoring with a registered model version, sharded over an Indexed Job.
import { z } from 'zod';
import { artifactUri, columnName, conditions, featureDrift, jobOptions, metricTable, modelRef, observedGeneration, podOptions, withRules } from './common.js';
import { dataSource } from './data.js';
import { schedule } from './schedule.js';

export const scoringJobSpec = withRules(
  z.object({
    modelRef: modelRef.describe('RegisteredModel whose version scores the data.'),
    version: z.int32().min(1).optional().describe('Version to use; exclusive with alias.'),
    alias: z.enum(['Champion', 'Challenger']).optional().describe('Alias to resolve at start (default Champion); exclusive with version.'),
    input: z
      .object({
        sources: z.array(dataSource).min(1).max(1000).describe('Files to score; shards split the rows of all files between them.'),
        labelColumn: columnName
          .optional()
          .describe('Column with the true outcome, when known: the job then reports the model\'s metrics on it (delayed ground truth).'),
      })
      .describe('What to score.'),
    output: z
      .object({
        uri: artifactUri.describe('Prefix the predictions are written under, one file per shard.'),
        format: z.enum(['Csv', 'JsonLines']).default('Csv').describe('Format of the prediction files.'),
        passthroughColumns: z.array(columnName).max(64).optional().describe('Input columns copied to the output beside each prediction (e.g. ids).'),
        probabilities: z.enum(['Include', 'Omit']).default('Include').describe('Classification: also write each class\'s probability.'),
      })
      .describe('Where predictions go.'),
    shards: z.int32().min(1).max(1000).default(1).describe('Number of shards (Indexed Job completions).'),
    parallelism: z.int32().min(1).max(1000).default(1).describe('Shards running at once.'),
    schedule: schedule
      .optional()
      .describe('Cron schedule; unset scores once.'),
    concurrencyPolicy: z.enum(['Allow', 'Forbid', 'Replace']).default('Forbid').describe('Scheduled only: what to do when the previous run is still going.'),
    ...podOptions,
    ...jobOptions,
  }),
  [
    {
      rule: '!(has(self.version) && has(self.alias))',
      message: 'set version or alias, not both',
      fieldPath: '.alias',
      check: (s) => !(s.version !== undefined && s.alias !== undefined),
    },
    {
      rule: 'self.parallelism <= self.shards',
      message: 'parallelism cannot exceed shards',
      fieldPath: '.parallelism',
      check: (s) => s.parallelism <= s.shards,
    },
  ],
).describe('What to score, with which model version, and where predictions go.');
export type ScoringJobSpec = z.infer<typeof scoringJobSpec>;

export const scoringJobStatus = z
  .object({
    observedGeneration,
    conditions: conditions.optional(),
    resolvedVersion: z.int32().optional().describe('Model version this run scores with, fixed at start.'),
    modelVersion: z.string().optional().describe('"model@version", for kubectl.'),
    jobName: z.string().optional().describe('The Job of the current or last run.'),
    startTime: z.string().optional(),
    completionTime: z.string().optional(),
    durationSeconds: z.int().optional(),
    rowsScored: z.int().optional().describe('Rows scored so far.'),
    rowsPerSecond: z.int().optional().describe('Throughput of the finished run.'),
    shards: z
      .object({ total: z.int32(), succeeded: z.int32(), failed: z.int32() })
      .optional(),
    progress: z.string().optional().describe('Shards done of total, e.g. "3/8".'),
    metrics: metricTable.optional().describe('Metrics on the label column, when the input has one.'),
    drift: z
      .object({
        driftedShare: z.string(),
        drifted: z.enum(['True', 'False']),
        features: z.array(featureDrift).max(512),
      })
      .optional()
      .describe('Drift of this batch against the training reference.'),
    outputUri: z.string().optional(),
    lastScheduleTime: z.string().optional().describe('Scheduled only: when the last run started.'),
  })
  .describe('Observed state of the batch.');
export type ScoringJobStatus = z.infer<typeof scoringJobStatus>;
