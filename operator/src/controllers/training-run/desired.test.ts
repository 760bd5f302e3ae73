import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { trainingRunSpec } from '../../api/v1alpha1/training-run.js';
import { buildTrainingJob, childName, type TrainingDefaults, type TrainingRunObject } from './desired.js';

const testdata = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const defaults: TrainingDefaults = { image: 'ghcr.io/orchard/orchard:1.0.0', gpuImage: 'ghcr.io/orchard/orchard-gpu:1.0.0', artifactRoot: 'gs://orchard-artifacts/runs', backoffLimit: 2, serviceAccountName: 'orchard-trainer' };

type Option = (spec: any) => void;
function trainingRun(name: string, ...options: Option[]): TrainingRunObject {
  const spec: any = {
    modelRef: { name: 'salaries' },
    task: 'Regression',
    data: { source: { uri: 'gs://data/salaries.csv' }, split: { testFraction: '0.2' } },
    features: { target: { column: 'salary_in_usd', transform: 'Log' }, columns: [{ name: 'job_title', type: 'Categorical' }] },
  };
  for (const o of options) o(spec);
  return { metadata: { name, namespace: 'ml', uid: '0f3c2a9e-5d1b-4c8e-9a7f-1b2c3d4e5f60', generation: 1 }, spec: trainingRunSpec.parse(spec) };
}
const withGpu: Option = (s) => (s.compute = { device: 'GPU', gpus: 1, acceleratorType: 'nvidia-l4' });
const withPodOptions: Option = (s) => {
  s.serviceAccountName = 'team-a-trainer';
  s.nodeSelector = { pool: 'training' };
  s.tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }];
  s.resources = { requests: { cpu: '2', memory: '4Gi' }, limits: { memory: '8Gi' } };
  s.backoffLimit = 0;
  s.activeDeadlineSeconds = 3600;
  s.ttlSecondsAfterFinished = 86400;
  s.artifactUri = 'gs://team-a/models/salaries';
};

/** Compares with testdata/<name>.yaml; ORCHARD_UPDATE_GOLDEN=1 rewrites it. */
function expectGolden(name: string, value: unknown): void {
  const path = join(testdata, `${name}.yaml`);
  const text = stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
  if (process.env.ORCHARD_UPDATE_GOLDEN === '1') writeFileSync(path, text);
  if (!existsSync(path)) throw new Error(`${path} is missing: run with ORCHARD_UPDATE_GOLDEN=1 and review it`);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

describe('buildTrainingJob', () => {
  it('CPU run with operator defaults', () => expectGolden('job-cpu', buildTrainingJob(trainingRun('salaries-2023'), defaults)));
  it('GPU run: GPU image, nvidia.com/gpu limit on train, accelerator node selector, GPU toleration', () =>
    expectGolden('job-gpu', buildTrainingJob(trainingRun('salaries-gpu', withGpu), defaults)));
  it('pod and job options from the spec win over defaults', () =>
    expectGolden('job-options', buildTrainingJob(trainingRun('salaries-2024', withPodOptions), defaults)));

  it("with a champion, the export step scores it on the run's test split; nothing else changes", () => {
    const run = trainingRun('r1');
    const plain = buildTrainingJob(run, defaults);
    const compared = buildTrainingJob(run, defaults, { version: 3, artifactUri: 'gs://b/runs/v3/' });
    const args = (job: Record<string, any>) => Object.fromEntries(job.spec.template.spec.initContainers.map((c: any) => [c.name, c.args]));
    expect(args(compared).export).toEqual([...args(plain).export, '--compare-with', 'gs://b/runs/v3/', '--compare-version', '3']);
    compared.spec.template.spec.initContainers.find((c: any) => c.name === 'export').args = args(plain).export;
    expect(compared).toEqual(plain);
  });

  it('confines file:// sources to the image data and the configured roots, and https:// to the configured hosts', () => {
    const env = (d: TrainingDefaults) => Object.fromEntries(buildTrainingJob(trainingRun('r1'), d).spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(env(defaults).ORCHARD_FILE_ROOTS).toBe('["/opt/orchard/data"]');
    expect(env(defaults).ORCHARD_SOURCE_HOSTS).toBeUndefined();
    const limited = env({ ...defaults, fileRoots: ['/mnt/datasets'], sourceHosts: ['data.example.com', '*.storage.example.com'] });
    expect(JSON.parse(limited.ORCHARD_FILE_ROOTS)).toEqual(['/opt/orchard/data', '/mnt/datasets']);
    expect(JSON.parse(limited.ORCHARD_SOURCE_HOSTS)).toEqual(['data.example.com', '*.storage.example.com']);
  });

  it('is deterministic and owned by its run', () => {
    const run = trainingRun('r1');
    expect(buildTrainingJob(run, defaults)).toEqual(buildTrainingJob(run, defaults));
    expect(buildTrainingJob(run, defaults).metadata.ownerReferences).toEqual([
      { apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', name: 'r1', uid: run.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);
  });
});

describe('childName', () => {
  it('keeps short names readable and long ones unique within 63 characters', () => {
    expect(childName('salaries-2023', 'train')).toBe('salaries-2023-train');
    const a = childName('a'.repeat(100), 'train');
    const b = childName(`${'a'.repeat(99)}b`, 'train');
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});
