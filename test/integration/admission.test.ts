// The generated CRDs, installed in a real kube-apiserver: examples are accepted with their
// defaults filled in, invalid manifests are rejected with a message naming the field, and
// kubectl sees the columns, short names and category.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { apiErrorMessage, createObject, openRequest, statusCode, type KubeObject } from '../../operator/src/kube/client.js';
import { fieldPath, unknownFields } from '../../operator/src/api/v1alpha1/common.js';
import { registeredModelSpec } from '../../operator/src/api/v1alpha1/registered-model.js';
import { trainingRunSpec } from '../../operator/src/api/v1alpha1/training-run.js';
import { kinds } from '../../operator/src/api/v1alpha1/index.js';
import { exampleManifests, invalidManifests } from '../fixtures/manifests.js';
import { createNamespace, getAs, testKubeConfig } from '../support/cluster.js';

const kc = testKubeConfig();
let namespace: string;

beforeAll(async () => {
  namespace = await createNamespace(kc, 'admission');
});

const inNamespace = (m: object): KubeObject => {
  const obj = structuredClone(m) as KubeObject;
  obj.metadata = { ...obj.metadata, namespace };
  return obj;
};

describe('example manifests', () => {
  it.each(exampleManifests().map((e) => [`${e.file}: ${e.manifest.kind} ${e.manifest.metadata.name}`, e.manifest] as const))(
    '%s is accepted',
    async (_title, manifest) => {
      const created = await createObject(kc, inNamespace(manifest));
      expect(created.metadata?.uid).toBeTruthy();
    },
  );

  it('get the defaults the schema declares, applied by the API server', async () => {
    const run = exampleManifests().find((e) => e.manifest.metadata.name === 'salaries-experience-1')!.manifest;
    const created = (await createObject(kc, inNamespace({ ...run, metadata: { name: 'defaults-check' } }))) as any;
    expect(created.spec.compute).toEqual({ device: 'CPU', gpus: 0 });
    expect(created.spec.data.split).toMatchObject({ strategy: 'Group', validationFraction: '0.1', seed: 42 });
    expect(created.spec.evaluation.topFraction).toBe('0.1');
  });
});

describe('invalid manifests', () => {
  it.each(invalidManifests().map((c) => [`${c.manifest.kind}: ${c.title}`, c] as const))(
    '%s is rejected, naming the field',
    async (_title, c) => {
      let error: unknown;
      try {
        await createObject(kc, inNamespace(c.manifest), { dryRun: true });
      } catch (err) {
        error = err;
      }
      expect(statusCode(error)).toBe(422);
      expect(apiErrorMessage(error)).toContain(`${c.field}:`);
      expect(apiErrorMessage(error)).not.toContain('should match');
    },
  );
});

describe('unknown fields', () => {
  // What `kubectl apply` sends by default (1.27+) is fieldValidation=Warn; --validate=strict sends Strict.
  const withTypo = () => {
    const run = structuredClone(exampleManifests().find((e) => e.manifest.metadata.name === 'salaries-experience-1')!.manifest) as any;
    run.metadata = { name: `typo-${Math.random().toString(36).slice(2, 8)}`, namespace };
    run.spec.catboost.learningrate = '0.1';
    return run;
  };
  const post = async (obj: object, fieldValidation: 'Strict' | 'Warn') => {
    const body = JSON.stringify(obj);
    const res = await openRequest(kc, 'POST', `/apis/orchard.dev/v1alpha1/namespaces/${namespace}/trainingruns?fieldValidation=${fieldValidation}&dryRun=All`, {
      headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
      body,
    });
    let text = '';
    res.setEncoding('utf8');
    for await (const chunk of res) text += chunk;
    return { status: res.statusCode, warning: res.headers.warning, json: JSON.parse(text) };
  };

  it('are refused with fieldValidation=Strict, naming the field as the CLI does', async () => {
    const run = withTypo();
    const a = await post(run, 'Strict');
    expect(a.status).toBe(400);
    expect(a.json.message).toContain('unknown field "spec.catboost.learningrate"');
    expect(unknownFields(trainingRunSpec, run.spec).map((f) => f.path)).toEqual(['spec.catboost.learningrate']);
  });

  it('are dropped with a Warning header with fieldValidation=Warn, so the operator never sees them', async () => {
    const a = await post(withTypo(), 'Warn');
    expect(a.status).toBe(201);
    // A Warning header quotes its text: 299 - "unknown field \"spec.catboost.learningrate\"", as kubectl prints it.
    expect(a.warning).toMatch(/^299 - "unknown field \\"spec\.catboost\.learningrate\\""$/);
    expect(a.json.spec.catboost.learningrate).toBeUndefined();
    expect(unknownFields(trainingRunSpec, a.json.spec)).toEqual([]);
  });
});

describe('serving.extraFields', () => {
  it('refuses passThrough without policy PassThrough, as zod does', async () => {
    const model = structuredClone(exampleManifests().find((e) => e.manifest.kind === 'RegisteredModel')!.manifest) as any;
    model.metadata = { name: 'extra-fields-check' };
    model.spec.serving = { ...model.spec.serving, extraFields: { policy: 'Ignore', passThrough: ['row_id'] } };
    let error: unknown;
    try {
      await createObject(kc, inNamespace(model), { dryRun: true });
    } catch (err) {
      error = err;
    }
    expect(statusCode(error)).toBe(422);
    expect(apiErrorMessage(error)).toContain('spec.serving.extraFields.passThrough: Invalid value: "object": passThrough applies only to policy PassThrough');
    const parsed = registeredModelSpec.safeParse(model.spec);
    expect(parsed.error?.issues.map((i) => [fieldPath(i.path), i.message])).toEqual([['spec.serving.extraFields.passThrough', 'passThrough applies only to policy PassThrough: set policy PassThrough, or remove passThrough']]);
  });
});

describe('what kubectl shows', () => {
  it.each(kinds.map((k) => [k.kind, k] as const))('%s: printer columns, short names and the orchard category', async (_kind, def) => {
    const resources = await getAs(kc, '/apis/orchard.dev/v1alpha1', 'application/json');
    const resource = resources.resources.find((r: { name: string }) => r.name === def.plural);
    expect(resource.shortNames).toEqual(def.shortNames);
    expect(resource.categories).toEqual(['orchard']);

    const table = await getAs(kc, `/apis/orchard.dev/v1alpha1/namespaces/${namespace}/${def.plural}`, 'application/json;as=Table;v=v1;g=meta.k8s.io');
    expect(table.columnDefinitions.map((c: { name: string }) => c.name)).toEqual(['Name', ...def.printerColumns.map((c) => c.name)]);
    expect(table.rows.length).toBeGreaterThan(0);
  });
});
