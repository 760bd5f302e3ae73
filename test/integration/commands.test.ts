// The commands run by hand, outside a cluster, as docs/commands.md shows them: real processes, a
// model trained from the salaries example, loopback HTTP. Every command has --help; flags alone
// (no JSON in the environment) serve, monitor and score; a spec with a typo is refused with the fix.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { TrainingRunSpec } from '../../operator/src/api/v1alpha1/training-run.js';
import { runPipeline } from '../../operator/src/training/pipeline.js';
import { repoRoot } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { portOf, readyLine } from '../support/ready-line.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const cli = join(repoRoot, 'operator', 'src', 'training', 'cli.ts');
// The environment of a person's shell: none of the JSON the operator would set.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^ORCHARD_|^JOB_COMPLETION_INDEX$/.test(k)));

function start(args: string[]): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, done };
}
const orchard = (args: string[]) => start(args).done;

let work: string;
let modelUri: string;
let spec: TrainingRunSpec;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'orchard-commands-'));
  const base = exampleTrainingRun('salaries.yaml');
  spec = { ...base, catboost: { ...base.catboost, iterations: 40 } } as TrainingRunSpec;
  modelUri = `file://${join(work, 'model')}/`;
  await runPipeline({ spec, workDir: join(work, 'train'), artifactUri: modelUri, producerVersion: 'test' });
}, 240_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('--help', () => {
  it.each([
    [[], ['prepare', 'all', 'score', 'serve', 'drift', 'docs/commands.md']],
    [['all'], ['--spec', '--work', '--to', '--data-root', '--compare-with']],
    [['prepare'], ['--spec', '--work']],
    [['score'], ['--spec', '--model-uri', '--shard']],
    [['serve'], ['--model-uri', '--model', '--version', '--port', '--host', '--max-batch-rows', '--max-body-bytes', '--extra-fields', '--pass-through', '--drift-url']],
    [['drift'], ['--model-uri', '--port', '--ingest-port', '--window-rows', '--window-seconds', '--min-rows', '--drift-share']],
  ])('orchard %j --help exits 0 and lists the flags', async (command, flags) => {
    const run = await orchard([...command, '--help']);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    for (const flag of flags) expect(run.stdout).toContain(flag);
  });

  it('an unknown flag exits 2 and points at --help', async () => {
    const run = await orchard(['serve', '--modle-uri', modelUri]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^orchard serve: .*--modle-uri.*see --help\n$/);
  });
});

describe('a spec with a typo', () => {
  it('is refused before anything runs, naming the path and the field it likely meant', async () => {
    const file = join(work, 'typo.yaml');
    await writeFile(file, stringify({ apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name: 'typo' }, spec: { ...spec, catboost: { ...spec.catboost, learningrate: '0.1' } } }));
    const run = await orchard(['all', '--spec', file, '--work', join(work, 'typo')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `orchard pipeline: ${file}: spec.catboost.learningrate is not a field: did you mean learningRate? (fix or remove it: the API server would drop an unknown field, and the run would go ahead without it)\n`,
    );
    expect(existsSync(join(work, 'typo'))).toBe(false);
  });
});

describe('flags alone', () => {
  it('orchard serve --model-uri serves the model, and stops on SIGTERM', async () => {
    // Port 0 and the port from the ready line: a port picked here could be taken before the child binds it.
    const { child, done } = start(['serve', '--model-uri', modelUri, '--model', 'salaries', '--port', '0', '--host', '127.0.0.1']);
    try {
      const { port } = await readyLine(child, 'scorer ready');
      expect(port).not.toBe(8080); // --port 0 took effect
      const url = `http://127.0.0.1:${port}`;
      expect((await fetch(`${url}/v2/health/ready`)).status).toBe(200);
      const record = { work_year: 2023, experience_level: 'SE', employment_type: 'FT', job_title: 'Data Scientist', salary_in_usd: 150000, employee_residence: 'US', remote_ratio: 0, company_location: 'US', company_size: 'M' };
      const a = await fetch(`${url}/v1/models/salaries:predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [record] }) });
      const body = (await a.json()) as { model_version: string; predictions: number[] };
      expect(a.status).toBe(200);
      expect(body.model_version).toBe('1');
      expect(body.predictions[0]).toBeGreaterThan(10_000);
    } finally {
      child.kill('SIGTERM');
    }
    expect((await done).code).toBe(0);
  }, 90_000);

  it('orchard drift --model-uri runs the monitor on the ports given', async () => {
    const { child, done } = start(['drift', '--model-uri', modelUri, '--port', '0', '--ingest-port', '0', '--host', '127.0.0.1', '--min-rows', '30']);
    try {
      const ready = await readyLine(child, 'drift monitor ready');
      // --port 0 and --ingest-port 0 took effect: neither default port (9091, 9092) was bound.
      expect([ready.port, portOf(ready.ingest)].filter((p) => p === 9091 || p === 9092)).toEqual([]);
      expect((await fetch(`http://127.0.0.1:${ready.port}/healthz`)).status).toBe(200);
      const drift = await fetch(`http://127.0.0.1:${ready.port}/v1/drift`);
      expect(drift.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect((await done).code).toBe(0);
  }, 90_000);

  it('orchard score --spec --model-uri prints the metrics and drift verdict status shows, not sums', async () => {
    const file = join(work, 'scoring.yaml');
    const output = `file://${join(work, 'scores')}/`;
    await writeFile(
      file,
      stringify({
        apiVersion: 'orchard.dev/v1alpha1',
        kind: 'ScoringJob',
        metadata: { name: 'by-hand' },
        spec: { modelRef: { name: 'salaries' }, input: { sources: [{ uri: `file://${join(repoRoot, 'data', 'ai-jobs-salaries', 'salaries.csv')}` }], labelColumn: 'salary_in_usd' }, output: { uri: output, format: 'Csv' } },
      }),
    );
    const run = await orchard(['score', '--spec', file, '--model-uri', modelUri]);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const printed = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    expect(Object.keys(printed).sort()).toEqual(['drift', 'errors', 'labelledRows', 'metrics', 'outputUri', 'rejected', 'rows', 'seconds', 'shard', 'shards']);
    expect(Object.keys(printed.metrics).sort()).toEqual(['MAE', 'R2', 'RMSE']);
    for (const v of Object.values(printed.metrics)) expect(v).toMatch(/^-?[0-9.e+-]+$/);
    expect(Number(printed.metrics.R2)).toBeLessThan(1);
    expect(printed.drift).toEqual({ driftedShare: expect.stringMatching(/^[0-9.]+$/), drifted: expect.stringMatching(/^(True|False)$/), features: expect.any(Array) });
    expect(printed.drift.features.map((f: { name: string }) => f.name)).toContain('work_year');
    // summary.json keeps what shards merge: the sums and counts.
    const summary = JSON.parse(await readFile(join(work, 'scores', 'shard-00000-of-00001', 'summary.json'), 'utf8'));
    expect(Object.keys(summary.stats)).toEqual(expect.arrayContaining(['n', 'sse', 'sae']));
  }, 120_000);
});
