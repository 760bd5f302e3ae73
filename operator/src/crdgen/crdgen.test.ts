import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kinds } from '../api/v1alpha1/index.js';
import { buildCrd, crdFileName, renderCrdYaml } from './crdgen.js';

const crdsDir = join(dirname(fileURLToPath(import.meta.url)), '../../../crds');

type Node = { [k: string]: any };

/** Every schema node below spec and status, with its path. */
function walk(node: Node, path: string, visit: (node: Node, path: string) => void): void {
  visit(node, path);
  for (const [name, child] of Object.entries<Node>(node.properties ?? {})) walk(child, `${path}.${name}`, visit);
  if (node.items) walk(node.items, `${path}[]`, visit);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${path}{}`, visit);
}

describe.each(kinds.map((k) => [k.kind, k] as const))('%s CRD', (_kind, def) => {
  const crd = buildCrd(def) as { spec: { versions: { schema: { openAPIV3Schema: Node } }[] } };
  const root = crd.spec.versions[0]!.schema.openAPIV3Schema;

  it('matches crds/ (regenerate with `npm run gen:crds`)', () => {
    expect(readFileSync(join(crdsDir, crdFileName(def)), 'utf8')).toBe(renderCrdYaml(def));
  });

  it('describes every spec field, for kubectl explain', () => {
    const missing: string[] = [];
    walk(root.properties.spec, 'spec', (node, path) => {
      if (!node.description && !path.endsWith('[]') && !path.endsWith('{}')) missing.push(path);
    });
    expect(missing).toEqual([]);
  });

  it('has no OpenAPI pattern: the API server would print the regex, so formats are CEL rules with a sentence', () => {
    const found: string[] = [];
    walk(root.properties.spec, 'spec', (node, path) => {
      if (node.pattern) found.push(`${path}: ${node.pattern}`);
      for (const v of node['x-kubernetes-validations'] ?? []) {
        if (!/^[^^$]*\s[^^$]*\s/.test(v.message)) found.push(`${path}: message ${JSON.stringify(v.message)} is not a sentence`);
      }
    });
    expect(found).toEqual([]);
  });

  it('is structural: every node typed, anyOf only for int-or-string', () => {
    const problems: string[] = [];
    for (const part of ['spec', 'status']) {
      walk(root.properties[part], part, (node, path) => {
        if (node['x-kubernetes-int-or-string']) return;
        if (!node.type) problems.push(`${path}: no type`);
        if (node.anyOf || node.oneOf || node.allOf) problems.push(`${path}: anyOf/oneOf/allOf`);
        if (node.type === 'number') problems.push(`${path}: floats are kept out of the API`);
      });
    }
    expect(problems).toEqual([]);
  });
});
