// The four steps a TrainingRun's Pod runs, in order, over one work directory:
//   <work>/prepared  ← prepare      <work>/model ← train, export      artifact location ← publish
import { join } from 'node:path';
import type { Storage } from '@google-cloud/storage';
import type { TrainingRunSpec } from '../api/v1alpha1/training-run.js';
import type { SourceLimits } from '../artifacts/sources.js';
import type { CompareWith } from './compare.js';
import { exportModel } from './export.js';
import { prepare } from './prepare.js';
import { publish, type RunSummary } from './publish.js';
import { runTrainer } from './trainer.js';

export const STEPS = ['prepare', 'train', 'export', 'publish'] as const;
export type Step = (typeof STEPS)[number];

export interface PipelineOptions {
  spec: Pick<TrainingRunSpec, 'task' | 'data' | 'features' | 'catboost' | 'compute' | 'evaluation'>;
  workDir: string;
  /** Where publish puts the artifacts (file:///… or gs://…); required for the publish step. */
  artifactUri?: string;
  gcs?: Storage;
  fetchCa?: string;
  /** What data sources may name (set in the operator's Pods). */
  limits?: SourceLimits;
  producerVersion?: string;
  /** The export step also scores this champion on the test split. */
  compareWith?: CompareWith;
  log?: (line: string) => void;
}

export function workPaths(workDir: string) {
  return { preparedDir: join(workDir, 'prepared'), modelDir: join(workDir, 'model') };
}

export async function runStep(step: Step, options: PipelineOptions): Promise<RunSummary | undefined> {
  const { preparedDir, modelDir } = workPaths(options.workDir);
  const log = options.log ?? (() => {});
  switch (step) {
    case 'prepare':
      await prepare({
        spec: options.spec,
        outDir: preparedDir,
        log,
        ...(options.limits ? { limits: options.limits } : {}),
        ...(options.gcs ? { gcs: options.gcs } : {}),
        ...(options.fetchCa ? { fetchCa: options.fetchCa } : {}),
      });
      return undefined;
    case 'train':
      await runTrainer(['train', '--data', preparedDir, '--out', modelDir], log);
      return undefined;
    case 'export':
      await exportModel({
        preparedDir,
        modelDir,
        producerVersion: options.producerVersion ?? 'dev',
        log,
        ...(options.compareWith ? { compareWith: options.compareWith } : {}),
        ...(options.gcs ? { gcs: options.gcs } : {}),
      });
      return undefined;
    case 'publish':
      if (!options.artifactUri) throw new Error('publish needs an artifact location (--to or spec.artifactUri)');
      return publish({ preparedDir, modelDir, artifactUri: options.artifactUri, log, ...(options.gcs ? { gcs: options.gcs } : {}) });
  }
}

export async function runPipeline(options: PipelineOptions, steps: readonly Step[] = STEPS): Promise<{ summary?: RunSummary; seconds: Record<string, number> }> {
  const seconds: Record<string, number> = {};
  let summary: RunSummary | undefined;
  for (const step of steps) {
    const started = performance.now();
    summary = (await runStep(step, options)) ?? summary;
    seconds[step] = (performance.now() - started) / 1000;
  }
  return { ...(summary ? { summary } : {}), seconds };
}
