// zod schemas → CustomResourceDefinitions (pure). zod's own JSON Schema output is normalised into a
// Kubernetes structural schema: int-or-string unions, integer formats, and no JSON-Schema-only keys.
import { stringify } from 'yaml';
import { z } from 'zod';
import { GROUP, VERSION, type KindDefinition } from '../api/v1alpha1/index.js';

type Schema = { [key: string]: unknown };

const INT32 = 2147483647;
const SAFE_INT = 9007199254740991;

/** The OpenAPI v3 structural schema of one zod schema. */
export function toOpenApi(schema: z.ZodType): Schema {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', reused: 'inline', unrepresentable: 'throw' }) as Schema;
  delete json.$schema;
  return normalise(json);
}

function normalise(node: Schema): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, normalise(v)]));
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = typeof value === 'object' && value !== null ? normalise(value as Schema) : value;
    } else if (key === 'anyOf' && node['x-kubernetes-int-or-string']) {
      // A quantity: the structural form is anyOf [integer, string] with the string's pattern hoisted.
      const stringBranch = (value as Schema[]).find((b) => b.type === 'string');
      out.anyOf = [{ type: 'integer' }, { type: 'string' }];
      if (stringBranch?.pattern) out.pattern = stringBranch.pattern;
      // Bounds the string for CEL's cost estimate, which would otherwise assume the largest request.
      if (stringBranch?.maxLength !== undefined) out.maxLength = stringBranch.maxLength;
    } else {
      out[key] = value;
    }
  }
  if (out.type === 'integer') {
    if (out.maximum === INT32 || out.minimum === -INT32 - 1) out.format = 'int32';
    if (out.maximum === SAFE_INT || out.minimum === -SAFE_INT) out.format = 'int64';
    if (out.maximum === INT32 || out.maximum === SAFE_INT) delete out.maximum;
    if (out.minimum === -INT32 - 1 || out.minimum === -SAFE_INT) delete out.minimum;
  }
  if (out.additionalProperties === false) delete out.additionalProperties;
  return out;
}

export function buildCrd(def: KindDefinition): Schema {
  const spec = toOpenApi(def.spec);
  const status = toOpenApi(def.status);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'orchard' } },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: ['orchard'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: def.description,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string', description: 'APIVersion of this object: orchard.dev/v1alpha1.' },
                kind: { type: 'string', description: `Kind of this object: ${def.kind}.` },
                metadata: { type: 'object' },
                spec,
                status,
              },
            },
          },
        },
      ],
    },
  };
}

export function crdFileName(def: KindDefinition): string {
  return `${GROUP}_${def.plural}.yaml`;
}

export function renderCrdYaml(def: KindDefinition): string {
  return (
    '# Generated from operator/src/api/v1alpha1 by `npm run gen:crds`. Do not edit by hand.\n' +
    stringify(buildCrd(def), { lineWidth: 0, aliasDuplicateObjects: false })
  );
}
