import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { registeredModelSpec, type ModelVersion } from '../../api/v1alpha1/registered-model.js';
import {
  buildScoringAutoscaler,
  buildScoringDeployment,
  buildScoringService,
  servingAutoscaling,
  servingName,
  SPEC_HASH_ANNOTATION,
  type RegisteredModelObject,
  type ServingDefaults,
} from './serving.js';

const testdata = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const defaults: ServingDefaults = { image: 'ghcr.io/orchard/orchard:1.0.0', serviceAccountName: 'orchard-scorer' };

type Option = (spec: any) => void;
function registeredModel(name: string, ...options: Option[]): RegisteredModelObject {
  const spec: any = { task: 'Regression' };
  for (const o of options) o(spec);
  return { metadata: { name, namespace: 'ml', uid: '7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6', generation: 3 }, spec: registeredModelSpec.parse(spec) };
}
const version = (v: number): ModelVersion => ({
  version: v,
  trainingRun: `salaries-${v}`,
  createdTime: '2026-11-23T10:00:00Z',
  task: 'Regression',
  artifactUri: `gs://orchard-artifacts/runs/ml/salaries/salaries-${v}-0f3c2a9e/`,
});
const withCanary: Option = (s) => (s.serving = { ...(s.serving ?? {}), replicas: 3, canary: { challengerPercent: 10 } });
const withAutoscaling: Option = (s) => (s.serving = { ...(s.serving ?? {}), autoscaling: { minReplicas: 2, maxReplicas: 10 } });
const withPodOptions: Option = (s) =>
  (s.serving = {
    ...(s.serving ?? {}),
    serviceAccountName: 'team-a-scorer',
    nodeSelector: { pool: 'serving' },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }],
    resources: { requests: { cpu: '2', memory: '2Gi' }, limits: { memory: '2Gi' } },
  });

/** Compares with testdata/<name>.yaml; ORCHARD_UPDATE_GOLDEN=1 rewrites it. */
function expectGolden(name: string, value: unknown): void {
  const path = join(testdata, `${name}.yaml`);
  const text = stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
  if (process.env.ORCHARD_UPDATE_GOLDEN === '1') writeFileSync(path, text);
  if (!existsSync(path)) throw new Error(`${path} is missing: run with ORCHARD_UPDATE_GOLDEN=1 and review it`);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

describe('serving children', () => {
  it('builds the champion Deployment, Service and no autoscaler by default', () => {
    const model = registeredModel('salaries');
    expectGolden('deployment', buildScoringDeployment(model, version(2), undefined, defaults));
    expectGolden('service', buildScoringService(model));
    expect(buildScoringAutoscaler(model)).toBeUndefined();
  });

  it('loads the challenger into every scorer for a canary, with pod options from the spec', () => {
    const model = registeredModel('salaries', withCanary, withPodOptions);
    expectGolden('deployment-canary', buildScoringDeployment(model, version(2), version(3), defaults));
  });

  it('leaves replicas to the autoscaler', () => {
    const model = registeredModel('salaries', withAutoscaling);
    const deployment = buildScoringDeployment(model, version(2), undefined, defaults);
    expect(deployment.spec.replicas).toBeUndefined();
    expectGolden('autoscaler', buildScoringAutoscaler(model));
  });

  describe("with the operator's default autoscaling (the chart's scorer.autoscaling)", () => {
    const withDefault: ServingDefaults = { ...defaults, autoscaling: { minReplicas: 2, maxReplicas: 5, targetCPUUtilizationPercentage: 60 } };

    it('gives a model without serving.autoscaling an autoscaler, and leaves replicas to it', () => {
      const model = registeredModel('salaries');
      expect(buildScoringDeployment(model, version(2), undefined, withDefault).spec.replicas).toBeUndefined();
      expectGolden('autoscaler-default', buildScoringAutoscaler(model, withDefault));
    });

    it("lets the model's own autoscaling win whole: fields it leaves out take the API's defaults, not the operator's", () => {
      const model = registeredModel('salaries', withAutoscaling);
      expect(servingAutoscaling(model, withDefault)).toEqual({ minReplicas: 2, maxReplicas: 10, targetCPUUtilizationPercentage: 70 });
      // The same object as without the default: switching the default on or off changes nothing for this model.
      expect(buildScoringAutoscaler(model, withDefault)).toEqual(buildScoringAutoscaler(model));
      expect(buildScoringDeployment(model, version(2), undefined, withDefault)).toEqual(buildScoringDeployment(model, version(2), undefined, defaults));
    });

    it('applies to a model with serving.replicas too: the API server defaults that field, so set cannot be told from defaulted', () => {
      const model = registeredModel('salaries', (s) => (s.serving = { replicas: 3 }));
      expect(buildScoringAutoscaler(model, withDefault)?.spec).toMatchObject({ minReplicas: 2, maxReplicas: 5 });
      expect(buildScoringDeployment(model, version(2), undefined, withDefault).spec.replicas).toBeUndefined();
    });

    it('pins replicas with minReplicas = maxReplicas', () => {
      const model = registeredModel('salaries', (s) => (s.serving = { autoscaling: { minReplicas: 3, maxReplicas: 3 } }));
      expect(buildScoringAutoscaler(model, withDefault)?.spec).toMatchObject({ minReplicas: 3, maxReplicas: 3 });
    });

    it('leaves a model scaled to 0 at 0: no autoscaler, replicas 0', () => {
      const model = registeredModel('salaries', (s) => (s.serving = { replicas: 0 }));
      expect(buildScoringAutoscaler(model, withDefault)).toBeUndefined();
      expect(buildScoringDeployment(model, version(2), undefined, withDefault).spec.replicas).toBe(0);
    });

    it('changes nothing when the default is off', () => {
      const model = registeredModel('salaries', (s) => (s.serving = { replicas: 3 }));
      expect(buildScoringAutoscaler(model, defaults)).toBeUndefined();
      expect(buildScoringDeployment(model, version(2), undefined, defaults).spec.replicas).toBe(3);
    });
  });

  it("passes serving.extraFields to the scorer, and leaves the default out so an upgrade rolls no Deployment", () => {
    const scorerSpec = (d: any) => JSON.parse(d.spec.template.spec.containers[0].env.find((e: any) => e.name === 'ORCHARD_SERVING_SPEC').value);
    expect(scorerSpec(buildScoringDeployment(registeredModel('salaries'), version(2), undefined, defaults)).extraFields).toBeUndefined();
    const passThrough = registeredModel('salaries', (s) => (s.serving = { extraFields: { policy: 'PassThrough', passThrough: ['row_id'] } }));
    expect(scorerSpec(buildScoringDeployment(passThrough, version(2), undefined, defaults)).extraFields).toEqual({ policy: 'PassThrough', passThrough: ['row_id'] });
    const reject = registeredModel('salaries', (s) => (s.serving = { extraFields: { policy: 'Reject' } }));
    expect(scorerSpec(buildScoringDeployment(reject, version(2), undefined, defaults)).extraFields).toEqual({ policy: 'Reject' });
  });

  it('changes the input hash (and so rolls out) exactly when what serves changes', () => {
    const model = registeredModel('salaries');
    const hash = (d: any) => d.metadata.annotations[SPEC_HASH_ANNOTATION];
    const v2 = buildScoringDeployment(model, version(2), undefined, defaults);
    expect(hash(buildScoringDeployment(model, version(2), undefined, defaults))).toBe(hash(v2));
    expect(hash(buildScoringDeployment(model, version(3), undefined, defaults))).not.toBe(hash(v2));
    // A challenger without a canary is not loaded, so it changes nothing.
    expect(hash(buildScoringDeployment(model, version(2), version(3), defaults))).toBe(hash(v2));
    expect(hash(buildScoringDeployment(registeredModel('salaries', (s) => (s.serving = { replicas: 4 })), version(2), undefined, defaults))).not.toBe(hash(v2));
  });

  it.each([
    ['salaries', 'salaries-scorer'],
    ['team.salaries', 'm-team-salaries-6f0b3c3e-scorer'],
    ['2024-model', 'm-2024-model-4c9d0f0b-scorer'],
    ['a'.repeat(60), `${'a'.repeat(47)}-`],
  ])('names the children of %s as a valid DNS-1035 label', (model, expected) => {
    const name = servingName(model);
    expect(name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    expect(name.length).toBeLessThanOrEqual(63);
    if (expected.endsWith('-')) expect(name.startsWith(expected)).toBe(true);
    else expect(name.replace(/-[0-9a-f]{8}-/, '-HASH-')).toBe(expected.replace(/-[0-9a-f]{8}-/, '-HASH-'));
  });
});
