// Feature patterns at admission: the real kube-apiserver (RE2, CEL) refuses what JavaScript and RE2
// read differently and what can backtrack badly, with the same verdict as zod; a pattern that only
// JavaScript can tell does not compile is admitted and refused when the operator parses the spec.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { apiErrorMessage, createObject, statusCode, type KubeObject } from '../../operator/src/kube/client.js';
import { trainingRunSpec } from '../../operator/src/api/v1alpha1/training-run.js';
import { exampleManifests } from '../fixtures/manifests.js';
import { createNamespace, testKubeConfig } from '../support/cluster.js';

const kc = testKubeConfig();
let namespace: string;

beforeAll(async () => {
  namespace = await createNamespace(kc, 'cell-patterns');
});

function runWith(column: object, name: string): KubeObject {
  const run = structuredClone(exampleManifests().find((e) => e.manifest.kind === 'TrainingRun')!.manifest) as any;
  run.metadata = { name, namespace };
  run.spec.features.columns.push(column);
  return run;
}

const source = () => (exampleManifests().find((e) => e.manifest.kind === 'TrainingRun')!.manifest as any).spec.features.columns[0].column
  ?? (exampleManifests().find((e) => e.manifest.kind === 'TrainingRun')!.manifest as any).spec.features.columns[0].name;

async function admitted(obj: KubeObject): Promise<string | undefined> {
  try {
    await createObject(kc, obj, { dryRun: true });
    return undefined;
  } catch (err) {
    expect(statusCode(err)).toBe(422);
    return apiErrorMessage(err);
  }
}

// [regex, what admission says (undefined: admitted), whether the operator parses it]
const cases: [string, RegExp | undefined, boolean][] = [
  ['^([0-9]+) rooms?$', undefined, true],
  ['([0-9]+(?:[.][0-9]+)?)', undefined, true],
  ['^([A-Z])-', undefined, true],
  ['(?<n>[0-9]+)', /only \(\.\.\.\) and \(\?:\.\.\.\) groups/, false],
  ['([0-9])(?=x)', /only \(\.\.\.\) and \(\?:\.\.\.\) groups/, false],
  ['(?i)(a)', /only \(\.\.\.\) and \(\?:\.\.\.\) groups/, false],
  ['(a)\\1', /backreferences/, false],
  ['((a+)+)b', /a group can be optional but not repeated/, false],
  ['(a|aa){2,}', /a group can be optional but not repeated/, false],
  ['([0-9]*[0-9]*[0-9]*[0-9]*)x', /at most 3 quantifiers/, false],
  ['x'.repeat(129), /Too long|at most 128/, false],
  // Only JavaScript tells these: admitted, then InvalidSpec.
  ['([0-9]+', undefined, false],
  ['[0-9]+', undefined, false],
];

describe('pattern.regex at admission', () => {
  it.each(cases.map(([regex, refused, parses], i) => [regex.slice(0, 40), regex, refused, parses, i] as const))(
    '%s',
    async (_title, regex, refused, parses, i) => {
      const column = { name: 'probe', column: source(), type: 'Categorical', pattern: { regex } };
      const message = await admitted(runWith(column, `pattern-${i}`));
      if (refused === undefined) expect(message).toBeUndefined();
      else expect(message).toMatch(refused);
      if (message) expect(message).toContain('pattern.regex');
      const run = runWith(column, `pattern-${i}`) as any;
      expect(trainingRunSpec.safeParse(run.spec).success).toBe(parses);
    },
  );
});
