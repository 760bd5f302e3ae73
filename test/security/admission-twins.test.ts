// Each CEL rule has a zod twin the operator parses with; where they disagree, a spec is either
// admitted and then refused by the operator (InvalidSpec), or refused for no reason. Generated
// values, from a fixed seed, are sent to the real kube-apiserver (dry runs, one parallel batch) and
// to zod, and both must give the same verdict. Schedules are also held to the scheduler's parser.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { createObject, type KubeObject } from '../../operator/src/kube/client.js';
import { scoringJobSpec, trainingRunSpec } from '../../operator/src/api/v1alpha1/index.js';
import { parseCron } from '../../operator/src/controllers/scoring-job/cron.js';
import { exampleManifests, type Manifest } from '../fixtures/manifests.js';
import { createNamespace, testKubeConfig } from '../support/cluster.js';

const kc = testKubeConfig();

/** mulberry32: the same values on every run, so a disagreement is reproducible. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = random(20261204);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const many = (n: number, make: () => string): string[] => [...new Set(Array.from({ length: n }, make))];

const decimals = many(200, () => {
  const parts = [pick(['', '', '-', '+', ' ']), pick(['0', '1', '00', '12', '', '9999999999999999999999']), pick(['', '.', '.5', '.05', '.0', '..5']),
    pick(['', '', 'e5', 'E-2', 'e+99', 'e-99', 'e100', 'e999', 'e', 'e1.5']), pick(['', '', ' ', 'x'])];
  return rand() < 0.08 ? pick(['NaN', 'Infinity', '-Infinity', 'inf', '0x10', '1_000', '١']) : parts.join('');
});

const CRON_TOKENS = ['*', '?', '0', '5', '7', '07', '12', '13', '23', '24', '31', '32', '59', '60', '1-5', '5-1', '*/15', '*/0', '5/15', '1-30/5',
  '1,15', 'jan', 'DEC', 'mon-fri', 'FRI-MON', 'sun', 'jan-mar', 'x', '', '1-', '-1', '1--2', '1/2/3', 'L', '#'];
const schedules = many(300, () => {
  if (rand() < 0.08) return pick(['@daily', '@hourly', '@Daily', '@every 1h', '@reboot', '@weekly ', ' @yearly']);
  const fields = Array.from({ length: rand() < 0.1 ? pick([4, 6]) : 5 }, () => pick(CRON_TOKENS));
  return fields.join(pick([' ', ' ', '  ', '\t']));
});

const quantities = many(150, () =>
  rand() < 0.1
    ? pick(['1e999', '1e1001', '1e100', '1e-100', '9e18', 'Gi', '+', '.', 'e3', '-Gi', '1E', '1e', '1E3', '0.5Gi', '+1', '-0', '1.5e3m', '2 Gi', 'Gi', '1Kb', '1ki', '1e-3', '.5', '5.', '1e1.5'])
    : `${pick(['', '', '-', '+'])}${pick(['0', '1', '2', '1.5', '.5', '5.', '100', '0.001'])}${pick(['', 'm', 'k', 'Ki', 'Mi', 'Gi', 'M', 'G', 'E', 'Ei', 'n', 'u', 'e3', 'K', 'gi', 'mi'])}`,
);

const labelKeys = many(150, () =>
  `${pick(['', '', 'example.com/', 'Example.com/', 'a-/', '-a/', 'k8s.io/', '/', 'a.b.c/'])}${pick(['pool', 'node-pool', 'a', '', 'A_b.c', '-a', 'a-', 'a b', 'x'.repeat(63), 'x'.repeat(64)])}`,
);

const fractions = many(100, () => `${pick(['', '0', '00', '1', '-0', ' '])}${pick(['', '.', '.5', '.05', '.0', '.999', '.000'])}${pick(['', '', '1', 'e-1', ' '])}`);

const names = many(100, () => `${pick(['', 'a', '-', '.', 'A', '1', 'orchard'])}${pick(['', '-', '.', '_', 'b', 'B', ' ', '..'])}${pick(['', 'c', '-', '.', '9', 'x'.repeat(250)])}`);

const extraKeys = many(100, () => pick(['bootstrap_type', 'subsample', 'eta', 'Eta', 'learning_rate', 'learningRate', 'max_depth', 'depth', 'n_estimators', 'iterations',
  'num_trees', 'l2_leaf_reg', 'reg_lambda', 'objective', 'od_wait', 'od_type', 'task_type', 'devices', 'class_names', 'thread_count', 'a-b', '_a', 'a'.repeat(65), 'x9_']));

function example(kind: string, name: string): Manifest {
  return structuredClone(exampleManifests().find((e) => e.manifest.kind === kind && e.manifest.metadata.name === name)!.manifest);
}

interface Probe {
  what: string;
  value: string;
  manifest: Manifest;
  zodAccepts: boolean;
  apiAccepts?: boolean;
}

let serial = 0;
function probe(what: string, value: string, kind: 'TrainingRun' | 'ScoringJob', base: string, set: (spec: Record<string, any>) => void): Probe {
  const manifest = example(kind, base);
  manifest.metadata = { name: `twin-${++serial}` };
  set(manifest.spec);
  const schema = kind === 'TrainingRun' ? trainingRunSpec : scoringJobSpec;
  return { what, value, manifest, zodAccepts: schema.safeParse(manifest.spec).success };
}

const probes: Probe[] = [
  ...decimals.map((v) => probe('learningRate', v, 'TrainingRun', 'salaries-2023', (s) => (s.catboost.learningRate = v))),
  ...decimals.map((v) => probe('filter min', v, 'TrainingRun', 'salaries-2023', (s) => (s.data.filters[0] = { column: 'work_year', min: v, max: '2023' }))),
  ...schedules.map((v) => probe('schedule', v, 'ScoringJob', 'salaries-nightly', (s) => (s.schedule = v))),
  ...quantities.map((v) => probe('memory request', v, 'TrainingRun', 'salaries-gpu', (s) => (s.resources = { requests: { memory: v }, limits: { memory: '1Gi' } }))),
  ...labelKeys.map((v) => probe('node selector key', v, 'TrainingRun', 'salaries-gpu', (s) => (s.nodeSelector = { [v]: 'gpu' }))),
  ...fractions.map((v) => probe('testFraction', v, 'TrainingRun', 'salaries-2023', (s) => (s.data.split.testFraction = v))),
  ...names.map((v) => probe('serviceAccountName', v, 'TrainingRun', 'salaries-gpu', (s) => (s.serviceAccountName = v))),
  ...extraKeys.map((v) => probe('extra key', v, 'TrainingRun', 'salaries-2023', (s) => (s.catboost.extra = { [v]: '1' }))),
];

beforeAll(async () => {
  const namespace = await createNamespace(kc, 'admission-twins');
  await Promise.all(
    probes.map(async (p) => {
      const obj = { ...structuredClone(p.manifest), metadata: { ...p.manifest.metadata, namespace } } as KubeObject;
      p.apiAccepts = await createObject(kc, obj, { dryRun: true }).then(() => true, () => false);
    }),
  );
}, 60_000);

describe('CEL rules and their zod twins agree', () => {
  it.each(['learningRate', 'filter min', 'schedule', 'memory request', 'node selector key', 'testFraction', 'serviceAccountName', 'extra key'])('on generated values of %s', (what) => {
    const mine = probes.filter((p) => p.what === what);
    const disagreements = mine.filter((p) => p.apiAccepts !== p.zodAccepts).map((p) => `${JSON.stringify(p.value)}: API server ${p.apiAccepts ? 'accepts' : 'refuses'}, zod ${p.zodAccepts ? 'accepts' : 'refuses'}`);
    expect(disagreements).toEqual([]);
    // Both verdicts occur, or the generator proves nothing.
    expect(mine.some((p) => p.apiAccepts)).toBe(true);
    expect(mine.some((p) => !p.apiAccepts)).toBe(true);
  });
});

describe('every schedule admission accepts', () => {
  it('is one the scheduler parses (or knows never fires), and every one it refuses the scheduler refuses too', () => {
    const problems: string[] = [];
    for (const p of probes.filter((q) => q.what === 'schedule')) {
      let parsed: string | undefined;
      try {
        parseCron(p.value);
      } catch (err) {
        parsed = (err as Error).message;
      }
      if (p.apiAccepts && parsed !== undefined && !parsed.includes('never fires')) problems.push(`${JSON.stringify(p.value)} admitted, but the scheduler says: ${parsed}`);
      // Admission is as strict as the scheduler or stricter only where the API said so (no blanks around the expression).
      if (!p.apiAccepts && parsed === undefined && p.value.trim() === p.value) problems.push(`${JSON.stringify(p.value)} refused, but the scheduler runs it`);
    }
    expect(problems).toEqual([]);
  });
});
