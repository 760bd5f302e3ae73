import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { scoringJobSpec } from '../../api/v1alpha1/scoring-job.js';
import { buildScoringJob, outputUriFor, scheduledJobName, scoringJobName, type ScoringDefaults, type ScoringJobObject, type ScoringRun } from './desired.js';

const testdata = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const defaults: ScoringDefaults = { image: 'ghcr.io/orchard/orchard:1.0.0', backoffLimit: 2, serviceAccountName: 'orchard-trainer' };
const champion3: ScoringRun = { model: { version: 3, artifactUri: 'gs://orchard-artifacts/runs/ml/salaries/salaries-2023-0f3c2a9e/', task: 'Regression' } };

type Option = (spec: any) => void;
function scoringJob(name: string, ...options: Option[]): ScoringJobObject {
  const spec: any = {
    modelRef: { name: 'salaries' },
    input: { sources: [{ uri: 'gs://data/salaries-2024.csv' }], labelColumn: 'salary_in_usd' },
    output: { uri: 'gs://scores/salaries-2024', passthroughColumns: ['work_year'] },
    shards: 8,
    parallelism: 4,
  };
  for (const o of options) o(spec);
  return { metadata: { name, namespace: 'ml', uid: '7d2f9c1a-3b4e-4f5a-8c6d-9e0f1a2b3c4d', generation: 1 }, spec: scoringJobSpec.parse(spec) };
}
const withPodOptions: Option = (s) => {
  s.serviceAccountName = 'team-a-scorer';
  s.nodeSelector = { pool: 'batch' };
  s.tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'batch', effect: 'NoSchedule' }];
  s.resources = { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '4Gi' } };
  s.backoffLimit = 0;
  s.activeDeadlineSeconds = 1800;
  s.ttlSecondsAfterFinished = 3600;
  s.output.format = 'JsonLines';
};
const withSchedule: Option = (s) => {
  s.schedule = '0 3 * * *';
  s.alias = 'Challenger';
  delete s.input.labelColumn;
};

/** Compares with testdata/<name>.yaml; ORCHARD_UPDATE_GOLDEN=1 rewrites it. */
function expectGolden(name: string, value: unknown): void {
  const path = join(testdata, `${name}.yaml`);
  const text = stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
  if (process.env.ORCHARD_UPDATE_GOLDEN === '1') writeFileSync(path, text);
  if (!existsSync(path)) throw new Error(`${path} is missing: run with ORCHARD_UPDATE_GOLDEN=1 and review it`);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

describe('buildScoringJob', () => {
  it('one-off run with operator defaults: 8 shards, 4 at a time, the resolved version recorded', () =>
    expectGolden('job-once', buildScoringJob(scoringJob('salaries-2024'), champion3, defaults)));
  it('pod and job options from the spec win over defaults', () =>
    expectGolden(
      'job-options',
      buildScoringJob(scoringJob('salaries-2024', withPodOptions), champion3, {
        ...defaults,
        resources: { requests: { cpu: '250m' } },
        fileRoots: ['/mnt/datasets'],
        sourceHosts: ['data.example.com'],
      }),
    ));
  it('scheduled run: named and written by its schedule time', () =>
    expectGolden('job-scheduled', buildScoringJob(scoringJob('salaries-nightly', withSchedule), { ...champion3, scheduledTime: new Date('2026-11-24T03:00:00Z') }, defaults)));

  it('confines file:// inputs to the image data and the training roots, and https:// to the training hosts', () => {
    const env = (d: ScoringDefaults) => Object.fromEntries(buildScoringJob(scoringJob('s1'), champion3, d).spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(env(defaults).ORCHARD_FILE_ROOTS).toBe('["/opt/orchard/data"]');
    expect(env(defaults).ORCHARD_SOURCE_HOSTS).toBeUndefined();
    const limited = env({ ...defaults, fileRoots: ['/mnt/datasets'], sourceHosts: ['data.example.com', '*.storage.example.com'] });
    expect(JSON.parse(limited.ORCHARD_FILE_ROOTS)).toEqual(['/opt/orchard/data', '/mnt/datasets']);
    expect(JSON.parse(limited.ORCHARD_SOURCE_HOSTS)).toEqual(['data.example.com', '*.storage.example.com']);
  });

  it('is deterministic and owned by its ScoringJob', () => {
    const sj = scoringJob('s1');
    expect(buildScoringJob(sj, champion3, defaults)).toEqual(buildScoringJob(sj, champion3, defaults));
    expect(buildScoringJob(sj, champion3, defaults).metadata.ownerReferences).toEqual([
      { apiVersion: 'orchard.dev/v1alpha1', kind: 'ScoringJob', name: 's1', uid: sj.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);
  });

  it('hands the shard the spec with the run\'s own output location', () => {
    const sj = scoringJob('salaries-nightly', withSchedule);
    const job = buildScoringJob(sj, { ...champion3, scheduledTime: new Date('2026-11-24T03:00:00Z') }, defaults);
    const env = Object.fromEntries(job.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
    const spec = scoringJobSpec.parse(JSON.parse(env.ORCHARD_SCORING_SPEC));
    expect(spec.output.uri).toBe('gs://scores/salaries-2024/20261124-0300/');
    expect(spec.input).toEqual(sj.spec.input);
    expect(env.ORCHARD_MODEL_URI).toBe(champion3.model.artifactUri);
  });
});

describe('names and locations', () => {
  it('names a one-off run <name>-score and a scheduled one by its Unix minute', () => {
    const sj = scoringJob('salaries-2024');
    expect(scoringJobName(sj)).toBe('salaries-2024-score');
    expect(scheduledJobName(sj, new Date('2026-11-24T03:00:00Z'))).toBe(`salaries-2024-${Date.parse('2026-11-24T03:00:00Z') / 60_000}`);
    expect(scheduledJobName(scoringJob('a'.repeat(63)), new Date('2026-11-24T03:00:00Z')).length).toBeLessThanOrEqual(63);
  });

  it('writes a one-off run to output.uri and each scheduled run to its own folder', () => {
    const sj = scoringJob('s1');
    expect(outputUriFor(sj)).toBe('gs://scores/salaries-2024/');
    expect(outputUriFor(sj, new Date('2026-01-02T03:04:00Z'))).toBe('gs://scores/salaries-2024/20260102-0304/');
  });
});
