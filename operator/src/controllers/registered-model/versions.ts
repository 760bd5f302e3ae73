// Pure: registering a trained run as a model version. Versions are immutable and numbered from 1;
// a run registers at most once, found again by its UID (so a crash between registering and
// writing the run's status cannot register it twice).
import type { ModelVersion, RegisteredModelStatus } from '../../api/v1alpha1/registered-model.js';
import type { TaskType } from '../../api/v1alpha1/training-run.js';
import { rfc3339 } from '../../runtime/conditions.js';

export interface TrainedRun {
  name: string;
  uid: string;
  task: TaskType;
  metrics: Record<string, string>;
  artifactUri: string;
  testDataFingerprint?: string;
  comparison?: ModelVersion['comparison'];
}

export function versionOfRun(status: RegisteredModelStatus | undefined, runUid: string): number | undefined {
  return status?.versions?.find((v) => v.trainingRunUID === runUid)?.version;
}

export function registerVersion(status: RegisteredModelStatus | undefined, run: TrainedRun, now: Date): { status: RegisteredModelStatus; version: number; created: boolean } {
  const existing = versionOfRun(status, run.uid);
  if (existing !== undefined) return { status: status!, version: existing, created: false };
  const versions = status?.versions ?? [];
  const version = Math.max(status?.latestVersion ?? 0, ...versions.map((v) => v.version)) + 1;
  const entry: ModelVersion = {
    version,
    trainingRun: run.name,
    trainingRunUID: run.uid,
    createdTime: rfc3339(now),
    task: run.task,
    metrics: run.metrics,
    artifactUri: run.artifactUri,
    ...(run.testDataFingerprint ? { testDataFingerprint: run.testDataFingerprint } : {}),
    ...(run.comparison ? { comparison: run.comparison } : {}),
  };
  return { status: { ...status, versions: [...versions, entry], latestVersion: version }, version, created: true };
}
