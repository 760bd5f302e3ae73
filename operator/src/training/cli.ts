// `orchard prepare|train|export|publish|all`: what a TrainingRun's Pod runs, one step per container;
// `orchard score`: one shard of a ScoringJob; `orchard serve` and `orchard drift`: the scoring Pod's
// scorer and drift monitor (configured by ORCHARD_SERVING_SPEC and ORCHARD_DRIFT_SPEC).
//
//   --spec FILE      a TrainingRun manifest (YAML or JSON); or ORCHARD_TRAINING_SPEC holding the spec as JSON
//   --work DIR       the work directory shared by the steps (default ./orchard-work)
//   --to URI         publish: artifact location, file:///… or gs://… (default spec.artifactUri)
//   --data-root DIR  read file:///opt/orchard/data/… from DIR instead (running the examples outside the image)
//
// In the operator's Pods (training and batch scoring), ORCHARD_FILE_ROOTS (directories file:// sources must lie under) and
// ORCHARD_SOURCE_HOSTS (hosts https:// sources may reach) limit what a spec may read: a JSON array
// or a comma-separated list each; unset, no limit.
import { existsSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { parseStrict } from '../api/v1alpha1/common.js';
import { scoringJobSpec } from '../api/v1alpha1/scoring-job.js';
import { trainingRunSpec, type TrainingRunSpec } from '../api/v1alpha1/training-run.js';
import { scoreShard } from '../batch/score.js';
import { DataError, makeStorage, type SourceLimits } from '../artifacts/sources.js';
import { ExportError } from '../export/compile.js';
import type { CompareWith } from './compare.js';
import { FeatureError } from '../features/transform.js';
import { PrepareError } from './prepare.js';
import { runPipeline, STEPS, type Step } from './pipeline.js';
import { TrainerError } from './trainer.js';

const IMAGE_DATA = 'file:///opt/orchard/data/';

async function loadSpec(file: string | undefined): Promise<TrainingRunSpec> {
  let raw: unknown;
  let where: string;
  if (file) {
    const docs = parseAllDocuments(await readFile(file, 'utf8')).map((d) => d.toJSON());
    const run = docs.find((d) => d?.kind === 'TrainingRun') ?? docs[0];
    raw = run?.spec ?? run;
    where = file;
  } else if (process.env.ORCHARD_TRAINING_SPEC) {
    raw = JSON.parse(process.env.ORCHARD_TRAINING_SPEC);
    where = 'ORCHARD_TRAINING_SPEC';
  } else {
    throw new PrepareError('no training spec: pass --spec FILE or set ORCHARD_TRAINING_SPEC');
  }
  const parsed = parseStrict(trainingRunSpec, raw);
  if (!parsed.success) throw new PrepareError(`${where}: ${parsed.message}`);
  return parsed.data;
}

function withDataRoot(spec: TrainingRunSpec, root: string | undefined): TrainingRunSpec {
  if (!root) return spec;
  const rewrite = <T extends { uri: string }>(s: T): T => (s.uri.startsWith(IMAGE_DATA) ? { ...s, uri: `file://${resolve(root)}/${s.uri.slice(IMAGE_DATA.length)}` } : s);
  return { ...spec, data: { ...spec.data, source: rewrite(spec.data.source), ...(spec.data.testSource ? { testSource: rewrite(spec.data.testSource) } : {}) } };
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      spec: { type: 'string' },
      work: { type: 'string' },
      to: { type: 'string' },
      'data-root': { type: 'string' },
      'compare-with': { type: 'string' },
      'compare-version': { type: 'string' },
    },
  });
  const command = positionals[0];
  if (command === 'score') return score();
  if (command === 'serve' || command === 'drift') {
    // Loaded only here: training steps never pay for the HTTP stack.
    const server = await import('../serving/server.js');
    try {
      return await (command === 'serve' ? server.serveCommand() : server.driftCommand());
    } catch (err) {
      process.stderr.write(`orchard ${command}: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
  }
  const steps: readonly Step[] | undefined = command === 'all' ? STEPS : STEPS.includes(command as Step) ? [command as Step] : undefined;
  if (!steps) {
    process.stderr.write(`usage: orchard <${STEPS.join('|')}|all> [--spec FILE] [--work DIR] [--to URI] [--data-root DIR] | orchard <score|serve|drift>\n`);
    return 2;
  }
  const log = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const spec = withDataRoot(await loadSpec(values.spec), values['data-root']);
    const artifactUri = values.to ?? spec.artifactUri;
    const compareWith = compareWithOf(values['compare-with'], values['compare-version']);
    const needsGcs = [spec.data.source.uri, spec.data.testSource?.uri, artifactUri, compareWith?.uri].some((u) => u?.startsWith('gs://'));
    const { summary, seconds } = await runPipeline(
      {
        spec,
        workDir: resolve(values.work ?? 'orchard-work'),
        ...(artifactUri ? { artifactUri } : {}),
        ...(needsGcs ? { gcs: makeStorage() } : {}),
        producerVersion: process.env.ORCHARD_VERSION ?? 'dev',
        limits: sourceLimits(process.env),
        ...(compareWith ? { compareWith } : {}),
        log,
      },
      steps,
    );
    log(`${steps.join(' → ')} finished in ${Object.values(seconds).reduce((a, b) => a + b, 0).toFixed(1)} s (${Object.entries(seconds).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')})`);
    if (summary) await report(summary, log);
    return 0;
  } catch (err) {
    return fail(steps.length === 1 ? steps[0]! : 'pipeline', err);
  }
}

function compareWithOf(uri: string | undefined, version: string | undefined): CompareWith | undefined {
  if (uri === undefined && version === undefined) return undefined;
  const v = Number(version);
  if (!uri || !/^(file:\/\/\/|gs:\/\/)/.test(uri)) throw new PrepareError(`--compare-with: "${uri ?? ''}" is not a file:/// or gs:// artifact prefix: pass the champion's artifactUri`);
  if (!Number.isInteger(v) || v < 1) throw new PrepareError(`--compare-version: "${version ?? ''}" is not a version number: pass the champion's version with --compare-with`);
  return { uri, version: v };
}

/**
 * ORCHARD_FILE_ROOTS and ORCHARD_SOURCE_HOSTS: a JSON array (what the operator writes, and what the
 * local node agent maps image paths in) or a comma-separated list. Set but empty allows no file:// at all.
 */
export function sourceLimits(env: NodeJS.ProcessEnv): SourceLimits {
  const list = (name: string): string[] | undefined => {
    const raw = env[name];
    if (raw === undefined) return undefined;
    let values: unknown = raw.split(',');
    if (raw.trim().startsWith('[')) {
      try {
        values = JSON.parse(raw);
      } catch (err) {
        throw new PrepareError(`${name}: ${(err as Error).message}: set it to a JSON array of strings or a comma-separated list`, { cause: err });
      }
    }
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) throw new PrepareError(`${name}: set it to a JSON array of strings or a comma-separated list`);
    return (values as string[]).map((v) => v.trim()).filter(Boolean);
  };
  const fileRoots = list('ORCHARD_FILE_ROOTS');
  const relativeRoot = fileRoots?.find((root) => !isAbsolute(root));
  if (relativeRoot !== undefined) throw new PrepareError(`ORCHARD_FILE_ROOTS: "${relativeRoot}" is not an absolute path: list directories such as /opt/orchard/data`);
  const hosts = list('ORCHARD_SOURCE_HOSTS');
  return { ...(fileRoots ? { fileRoots } : {}), ...(hosts ? { hosts } : {}) };
}

function terminationLogPath(): string | undefined {
  const path = process.env.ORCHARD_TERMINATION_MESSAGE_PATH ?? '/dev/termination-log';
  return process.env.ORCHARD_TERMINATION_MESSAGE_PATH || existsSync(path) ? path : undefined;
}

/** Prints the run's summary and leaves it as the container's termination message for the operator. */
async function report(summary: object, log: (line: string) => void): Promise<void> {
  const message = JSON.stringify(summary);
  log(message);
  const terminationLog = terminationLogPath();
  if (terminationLog) await writeFile(terminationLog, message);
}

/**
 * Bad input: one line and exit 2 (the training Job does not retry it). Anything else: the stack and exit 1.
 * The line is also the termination message, so status never falls back to the log's tail, which
 * holds details (connection errors, digests) kept out of status on purpose.
 */
function fail(step: string, err: unknown): number {
  const terminationLog = terminationLogPath();
  const leave = (line: string) => {
    if (terminationLog) writeFileSync(terminationLog, line);
  };
  if (err instanceof PrepareError || err instanceof DataError || err instanceof FeatureError || err instanceof TrainerError || err instanceof ExportError || err instanceof z.ZodError) {
    process.stderr.write(`orchard ${step}: ${err.message}\n`);
    leave(`orchard ${step}: ${err.message}`);
    return 2;
  }
  process.stderr.write(`orchard ${step}: unexpected failure: ${(err as Error).stack ?? err}\n`);
  // Only the error's kind: a message may quote what was being parsed.
  const kind = (err as NodeJS.ErrnoException | undefined)?.code ?? (err instanceof Error ? err.name : typeof err);
  leave(`orchard ${step}: unexpected failure (${kind}); details in the Pod log`);
  return 1;
}

/** `orchard score`: one shard of a ScoringJob; the operator passes the spec, the model's artifacts and the Job's completion index. */
async function score(): Promise<number> {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const raw = process.env.ORCHARD_SCORING_SPEC;
    const modelUri = process.env.ORCHARD_MODEL_URI;
    if (!raw || !modelUri) throw new PrepareError('orchard score needs ORCHARD_SCORING_SPEC and ORCHARD_MODEL_URI (set by the operator)');
    const parsed = parseStrict(scoringJobSpec, JSON.parse(raw));
    if (!parsed.success) throw new PrepareError(`ORCHARD_SCORING_SPEC: ${parsed.message}`);
    const spec = parsed.data;
    const shard = Number(process.env.JOB_COMPLETION_INDEX ?? '0');
    const needsGcs = [modelUri, spec.output.uri, ...spec.input.sources.map((s) => s.uri)].some((u) => u.startsWith('gs://'));
    await report(await scoreShard({ spec, modelUri, shard, log, limits: sourceLimits(process.env), ...(needsGcs ? { gcs: makeStorage() } : {}) }), log);
    return 0;
  } catch (err) {
    return fail('score', err);
  }
}

process.exitCode = await main(process.argv.slice(2));
