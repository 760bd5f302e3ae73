// The Dockerfiles in images/ (no container engine needed): every file they copy exists in the build
// context and is not excluded by .dockerignore, base images are pinned, the final user is a numeric
// non-root UID, and what each image runs (its entrypoint, the `orchard` wrapper, the trainer) is there.
import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { buildScoringDeployment } from '../../operator/src/controllers/registered-model/serving.js';
import { buildTrainingJob } from '../../operator/src/controllers/training-run/desired.js';
import { registeredModelSpec } from '../../operator/src/api/v1alpha1/registered-model.js';
import { repoRoot } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';

interface Copy { from?: string; sources: string[]; dest: string }
interface Stage { name?: string; base: string; workdir: string; copies: Copy[]; runs: string[]; env: Record<string, string>; user?: string; entrypoint?: string[] }

/** Instructions with line continuations joined and comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  const joined = text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').replace(/\\\n/g, ' ');
  return joined.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const [op, ...rest] = l.split(/\s+/);
    return { op: op!.toUpperCase(), args: rest.join(' ') };
  });
}

export function parseDockerfile(text: string): Stage[] {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const expand = (s: string) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args[a ?? b] ?? '');
  for (const { op, args: rest } of instructions(text)) {
    const stage = stages.at(-1);
    if (op === 'ARG' && !stage) {
      const [k, v] = rest.split('=');
      args[k!] = v ?? '';
    } else if (op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      const base = expand(m[1]!);
      const parent = stages.find((s) => s.name === base);
      stages.push({ ...(m[2] ? { name: m[2] } : {}), base, workdir: parent?.workdir ?? '/', copies: [], runs: [], env: { ...(parent?.env ?? {}) } });
    } else if (!stage) {
      throw new Error(`${op} before FROM`);
    } else if (op === 'WORKDIR') {
      stage.workdir = posix.resolve(stage.workdir, rest);
    } else if (op === 'COPY') {
      const words = rest.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      const dest = posix.resolve(stage.workdir, paths.at(-1)!);
      stage.copies.push({ ...(from ? { from } : {}), sources: paths.slice(0, -1), dest });
    } else if (op === 'RUN') {
      stage.runs.push(rest);
    } else if (op === 'ENV') {
      for (const m of rest.matchAll(/(\w+)=(\S+)/g)) stage.env[m[1]!] = m[2]!;
    } else if (op === 'USER') {
      stage.user = rest;
    } else if (op === 'ENTRYPOINT' || op === 'CMD') {
      stage.entrypoint = JSON.parse(rest);
    }
  }
  return stages;
}

/** .dockerignore semantics for our patterns: the last matching pattern wins, `!` re-includes. */
function ignored(path: string, patterns: string[]): boolean {
  let out = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const glob = negate ? raw.slice(1) : raw;
    const re = new RegExp(`^${glob.replace(/[.+^$()|[\]{}]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\u0000/g, '.*')}(/.*)?$`);
    if (re.test(path)) out = !negate;
  }
  return out;
}
const dockerignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

/**
 * Where a path of the image comes from: a file of the repository (checked to exist), something a
 * RUN of that stage builds (npm ci's node_modules are checked against this checkout's), or the base image.
 */
function origin(stages: Stage[], stage: Stage, path: string): string {
  for (const copy of [...stage.copies].reverse()) {
    const single = copy.sources.length === 1;
    for (const source of copy.sources) {
      const target = single ? copy.dest : posix.join(copy.dest, posix.basename(source));
      if (path !== target && !path.startsWith(`${target}/`)) continue;
      const rest = path.slice(target.length);
      if (copy.from) {
        const from = stages.find((s) => s.name === copy.from);
        if (!from) return `image ${copy.from}`;
        return origin(stages, from, posix.resolve(from.workdir, source) + rest);
      }
      const file = join(repoRoot, source, rest);
      if (!existsSync(file)) throw new Error(`${path} comes from ${source}${rest}, which does not exist`);
      return `repo ${posix.join(source, rest)}`;
    }
  }
  const nodeModules = posix.join(stage.workdir, 'node_modules');
  if (path.startsWith(`${nodeModules}/`) && stage.runs.some((r) => /\bnpm ci\b/.test(r))) {
    const rest = path.slice(nodeModules.length + 1);
    if (!existsSync(join(repoRoot, 'node_modules', rest))) throw new Error(`${path}: npm ci installs no node_modules/${rest}`);
    return `npm ci ${rest}`;
  }
  const built = stage.runs.find((r) => r.split(/\s+/).some((w) => w.length > 1 && w.startsWith('/') && (path === w || path.startsWith(`${w}/`))));
  if (built) return `built by RUN ${built.slice(0, 40)}`;
  const parent = stages.find((s) => s.name === stage.base);
  if (parent) return origin(stages, parent, path);
  if (path === '/usr/local/bin/node' && /^node:/.test(stage.base)) return `base ${stage.base}`;
  throw new Error(`${path} is neither copied into the image nor built in it`);
}

const IMAGES = ['operator', 'runtime', 'runtime-gpu'];
const load = (image: string) => parseDockerfile(readFileSync(join(repoRoot, 'images', image, 'Dockerfile'), 'utf8'));

describe.each(IMAGES)('images/%s/Dockerfile', (image) => {
  const stages = load(image);
  const final = stages.at(-1)!;

  it('copies only files that exist and that .dockerignore lets into the context', () => {
    const sources = stages.flatMap((s) => s.copies.filter((c) => !c.from).flatMap((c) => c.sources));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect([source, existsSync(join(repoRoot, source))]).toEqual([source, true]);
      expect([source, ignored(source.replace(/\/$/, ''), dockerignore)]).toEqual([source, false]);
    }
  });

  it('is multi-stage on base images pinned to an exact tag or digest', () => {
    expect(stages.length).toBeGreaterThan(1);
    for (const stage of stages) {
      if (stages.some((s) => s.name === stage.base)) continue;
      expect(stage.base).toMatch(/(@sha256:[0-9a-f]{64}|:\d+\.\d+\.\d+[\w.-]*)$/);
    }
  });

  it('runs as a numeric non-root user', () => {
    expect(final.user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(final.user!.split(':')[0])).toBeGreaterThan(0);
  });

  it('has everything its entrypoint names', () => {
    expect(final.entrypoint?.length).toBeGreaterThan(0);
    const paths = final.entrypoint!.filter((a) => a.startsWith('/'));
    expect(paths.length).toBeGreaterThan(0);
    for (const path of paths) origin(stages, final, path);
    // `node` itself, when the entrypoint names it.
    if (final.entrypoint![0] === 'node') origin(stages, final, '/usr/local/bin/node');
  });
});

describe('the runtime images', () => {
  const wrapper = readFileSync(join(repoRoot, 'images', 'runtime', 'orchard'), 'utf8');

  it.each(['runtime', 'runtime-gpu'])('%s puts orchard on PATH, with what it runs and the Python trainer', (image) => {
    const stages = load(image);
    const final = stages.at(-1)!;
    expect(origin(stages, final, '/usr/local/bin/orchard')).toBe('repo images/runtime/orchard');
    for (const path of wrapper.match(/\/app\/\S+/g)!) origin(stages, final, path);
    origin(stages, final, '/usr/local/bin/node');
    expect(origin(stages, final, final.env.ORCHARD_TRAINER_SCRIPT!)).toBe('repo images/trainer/orchard_trainer.py');
    expect(origin(stages, final, final.env.ORCHARD_PYTHON!)).toMatch(/^built by RUN python3 -m venv \/opt\/venv/);
    // The venv installs the trainer's pinned requirements.
    const python = stages.find((s) => s.name === 'python')!;
    expect(python.copies.map((c) => c.sources).flat()).toContain('images/trainer/requirements.txt');
    // The shipped examples read file:///opt/orchard/data/…
    expect(origin(stages, final, '/opt/orchard/data/examples/salaries.yaml')).toBe('repo data/examples/salaries.yaml');
  });

  it('run what the operator puts in training and scoring Pods: command orchard', () => {
    const job = buildTrainingJob({ metadata: { name: 'r', namespace: 'n', uid: 'u' }, spec: exampleTrainingRun('salaries.yaml') }, { image: 'i', artifactRoot: 'gs://b/r', backoffLimit: 1 });
    const model = { metadata: { name: 'm', namespace: 'n', uid: 'u' }, spec: registeredModelSpec.parse({ task: 'Regression' }) };
    const version = { version: 1, trainingRun: 'r', createdTime: '2026-11-23T10:00:00Z', task: 'Regression' as const, metrics: {}, artifactUri: 'gs://b/r/' };
    const deployment = buildScoringDeployment(model, version as any, undefined, { image: 'i' });
    const pods = [job.spec.template.spec, deployment.spec.template.spec];
    const commands = new Set(pods.flatMap((p) => [...(p.initContainers ?? []), ...p.containers].map((c: any) => c.command.join(' '))));
    expect([...commands]).toEqual(['orchard']);
  });

  it("orchard's wrapper starts the CLI (with /app as this checkout)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orchard-wrapper-'));
    const local = join(dir, 'orchard');
    writeFileSync(local, wrapper.replaceAll('/app/', `${repoRoot}/`));
    chmodSync(local, 0o755);
    // Without a step it prints its usage and exits 2 (bad input).
    const err: any = await promisify(execFile)(local, [], { cwd: dir }).then(() => ({ code: 0 }), (e) => e);
    expect(err.code).toBe(2);
    expect(`${err.stdout}${err.stderr}`).toMatch(/^usage: orchard <prepare\|train\|export\|publish\|all>.*<score\|serve\|drift>/);
  });
});

describe('the operator image and the chart', () => {
  it('the chart runs the image entrypoint (sets no command) and probes its HTTP port', () => {
    const deployment = readFileSync(join(repoRoot, 'charts', 'orchard', 'templates', 'deployment.yaml'), 'utf8');
    expect(deployment).not.toMatch(/^\s*command:/m);
    expect(load('operator').at(-1)!.entrypoint).toEqual(['node', '--import', '/app/node_modules/tsx/dist/loader.mjs', '/app/operator/src/main.ts']);
  });
});
