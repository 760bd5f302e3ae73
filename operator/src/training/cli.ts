// `orchard prepare|train|export|publish|all`: what a TrainingRun's Pod runs, one step per container;
// `orchard score`: one shard of a ScoringJob; `orchard serve` and `orchard drift`: the scoring Pod's
// scorer and drift monitor (configured by ORCHARD_SERVING_SPEC and ORCHARD_DRIFT_SPEC).
// Each command's flags: `orchard <command> --help`, and docs/commands.md.
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
import { scoringJobSpec, type ScoringJobSpec } from '../api/v1alpha1/scoring-job.js';
import { trainingRunSpec, type TrainingRunSpec } from '../api/v1alpha1/training-run.js';
import { scoreShard, shardReadout } from '../batch/score.js';
import { DataError, makeStorage, type SourceLimits } from '../artifacts/sources.js';
import { ExportError } from '../export/compile.js';
import type { CompareWith } from './compare.js';
import { FeatureError } from '../features/transform.js';
import { PrepareError } from './prepare.js';
import { runPipeline, STEPS, type Step } from './pipeline.js';
import { TrainerError } from './trainer.js';

const IMAGE_DATA = 'file:///opt/orchard/data/';

/**
 * A run's spec from a manifest file (the first document of `kind`, else the first) or from the JSON in
 * the environment variable `env`. A file is a person's, so a typo is refused. The environment's JSON is
 * the operator's, from a spec the API server already pruned: a field this image does not know is
 * dropped, as admission drops it.
 */
async function loadManifestSpec<S extends z.ZodType>(schema: S, kind: string, env: string, file: string | undefined, missing: string): Promise<z.output<S>> {
  let raw: unknown;
  let where: string;
  if (file) {
    const docs = parseAllDocuments(await readFile(file, 'utf8')).map((d) => d.toJSON());
    const doc = docs.find((d) => d?.kind === kind) ?? docs[0];
    raw = doc?.spec ?? doc;
    where = file;
  } else if (process.env[env]) {
    raw = JSON.parse(process.env[env]);
    where = env;
  } else {
    throw new PrepareError(missing);
  }
  const parsed = parseStrict(schema, raw, 'spec', file ? 'Reject' : 'Drop');
  if (!parsed.success) throw new PrepareError(`${where}: ${parsed.message}`);
  return parsed.data;
}

function loadSpec(file: string | undefined): Promise<TrainingRunSpec> {
  return loadManifestSpec(trainingRunSpec, 'TrainingRun', 'ORCHARD_TRAINING_SPEC', file, 'no training spec: pass --spec FILE or set ORCHARD_TRAINING_SPEC');
}

function withDataRoot(spec: TrainingRunSpec, root: string | undefined): TrainingRunSpec {
  if (!root) return spec;
  const rewrite = <T extends { uri: string }>(s: T): T => (s.uri.startsWith(IMAGE_DATA) ? { ...s, uri: `file://${resolve(root)}/${s.uri.slice(IMAGE_DATA.length)}` } : s);
  return { ...spec, data: { ...spec.data, source: rewrite(spec.data.source), ...(spec.data.testSource ? { testSource: rewrite(spec.data.testSource) } : {}) } };
}

const USAGE = `usage: orchard <${STEPS.join('|')}|all> [flags] | orchard <score|serve|drift> [flags]   (orchard <command> --help: its flags)

  ${STEPS.join(', ')}, all   train a model from a TrainingRun spec, step by step or all at once
  score                     score files with a published model version (one shard of a ScoringJob)
  serve                     serve a published model version over HTTP
  drift                     the drift monitor beside a scorer
See docs/commands.md.
`;

const TRAIN_HELP = (step: string) => `usage: orchard ${step} [flags]

${step === 'all' ? `Runs ${STEPS.join(' → ')}` : `Runs the ${step} step`} of a TrainingRun, as its Pod does. Unknown fields in the spec are refused.

  --spec FILE              a TrainingRun manifest (YAML or JSON), or its spec; else ORCHARD_TRAINING_SPEC holds the spec as JSON
  --work DIR               the work directory shared by the steps (default ./orchard-work)
  --to URI                 publish: artifact location, file:///… or gs://… (default spec.artifactUri)
  --data-root DIR          read file:///opt/orchard/data/… from DIR instead (the examples outside the image)
  --compare-with URI       compare with the champion published at this artifact prefix
  --compare-version N      the champion's version, with --compare-with
  -h, --help               this text

ORCHARD_FILE_ROOTS and ORCHARD_SOURCE_HOSTS limit what a spec may read. See docs/commands.md.
`;

const SCORE_HELP = `usage: orchard score [flags]

Scores the files of a ScoringJob spec with a published model version and publishes the predictions
(and summary.json) under spec.output.uri, as one shard of the ScoringJob's Indexed Job does. Prints the
rows scored, the metrics against spec.input.labelColumn and the drift verdict, as the ScoringJob's status shows them.

  --spec FILE              a ScoringJob manifest (YAML or JSON), or its spec; else ORCHARD_SCORING_SPEC holds the spec as JSON
  --model-uri URI          the model version's artifact prefix, file:///… or gs://…; else ORCHARD_MODEL_URI
  --shard N                which shard of spec.shards to score (default 0); else JOB_COMPLETION_INDEX
  -h, --help               this text

spec.modelRef is not read: --model-uri names the version. ORCHARD_FILE_ROOTS and ORCHARD_SOURCE_HOSTS limit
what inputs may name. See docs/commands.md.
`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    // Asked for, it is the answer; run without a command, it is the error.
    (command === undefined ? process.stderr : process.stdout).write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === 'score') return score(argv.slice(1));
  if (command === 'serve' || command === 'drift') {
    // Loaded only here: training steps never pay for the HTTP stack.
    const server = await import('../serving/server.js');
    try {
      return await (command === 'serve' ? server.serveCommand(argv.slice(1)) : server.driftCommand(argv.slice(1)));
    } catch (err) {
      process.stderr.write(`orchard ${command}: ${err instanceof Error ? err.message : String(err)}\n`);
      return err instanceof server.UsageError ? 2 : 1;
    }
  }
  const steps: readonly Step[] | undefined = command === 'all' ? STEPS : STEPS.includes(command as Step) ? [command as Step] : undefined;
  if (!steps) {
    process.stderr.write(`orchard: unknown command "${command.slice(0, 40)}"\n${USAGE}`);
    return 2;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv.slice(1),
      options: {
        spec: { type: 'string' },
        work: { type: 'string' },
        to: { type: 'string' },
        'data-root': { type: 'string' },
        'compare-with': { type: 'string' },
        'compare-version': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`orchard ${command}: ${(err as Error).message}: see orchard ${command} --help\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(TRAIN_HELP(command));
    return 0;
  }
  const flag = (name: string) => (typeof values[name] === 'string' ? values[name] : undefined);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const spec = withDataRoot(await loadSpec(flag('spec')), flag('data-root'));
    const artifactUri = flag('to') ?? spec.artifactUri;
    const compareWith = compareWithOf(flag('compare-with'), flag('compare-version'));
    const needsGcs = [spec.data.source.uri, spec.data.testSource?.uri, artifactUri, compareWith?.uri].some((u) => u?.startsWith('gs://'));
    const { summary, seconds } = await runPipeline(
      {
        spec,
        workDir: resolve(flag('work') ?? 'orchard-work'),
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
async function score(argv: string[]): Promise<number> {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  try {
    let values: Record<string, string | boolean | undefined>;
    try {
      values = parseArgs({ args: argv, options: { spec: { type: 'string' }, 'model-uri': { type: 'string' }, shard: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values;
    } catch (err) {
      throw new PrepareError(`${(err as Error).message}: see orchard score --help`, { cause: err });
    }
    if (values.help) {
      process.stdout.write(SCORE_HELP);
      return 0;
    }
    const spec = await loadScoringSpec(typeof values.spec === 'string' ? values.spec : undefined);
    const modelUri = typeof values['model-uri'] === 'string' ? values['model-uri'] : process.env.ORCHARD_MODEL_URI;
    if (!modelUri) throw new PrepareError('no model: pass --model-uri file:///path/to/version/ (or gs://…), or set ORCHARD_MODEL_URI');
    const shardText = typeof values.shard === 'string' ? values.shard : (process.env.JOB_COMPLETION_INDEX ?? '0');
    const shard = Number(shardText);
    const shards = spec.shards ?? 1;
    if (!/^[0-9]+$/.test(shardText) || shard >= shards) throw new PrepareError(`--shard: "${shardText.slice(0, 40)}" is not a shard of ${shards}: pass 0 to ${shards - 1} (spec.shards)`);
    const needsGcs = [modelUri, spec.output.uri, ...spec.input.sources.map((s) => s.uri)].some((u) => u.startsWith('gs://'));
    const store = needsGcs ? { gcs: makeStorage() } : {};
    const summary = await scoreShard({ spec, modelUri, shard, log, limits: sourceLimits(process.env), ...store });
    // summary.json keeps the sums and counts the operator merges across shards; people get what status shows.
    await report(await shardReadout(summary, modelUri, store), log);
    return 0;
  } catch (err) {
    return fail('score', err);
  }
}

function loadScoringSpec(file: string | undefined): Promise<ScoringJobSpec> {
  return loadManifestSpec(scoringJobSpec, 'ScoringJob', 'ORCHARD_SCORING_SPEC', file, 'no scoring spec: pass --spec FILE (a ScoringJob manifest) or set ORCHARD_SCORING_SPEC');
}

process.exitCode = await main(process.argv.slice(2));
