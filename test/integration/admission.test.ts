// The generated CRDs, installed in a real kube-apiserver: examples are accepted with their
// defaults filled in, invalid manifests are rejected with a message naming the field, and
// kubectl sees the columns, short names and category.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { apiErrorMessage, createObject, statusCode, type KubeObject } from '../../operator/src/kube/client.js';
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
