// Runs the Python trainer (images/trainer/orchard_trainer.py): the one step that is not TypeScript.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../local/toolchain.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface TrainerCommand {
  python: string;
  script: string;
}

/** ORCHARD_PYTHON / ORCHARD_TRAINER_SCRIPT in the image; the local toolchain's venv and this checkout otherwise. */
export function trainerCommand(env: NodeJS.ProcessEnv = process.env): TrainerCommand {
  const venv = join(cacheDir(env), 'venv', 'bin', 'python');
  return {
    python: env.ORCHARD_PYTHON ?? (existsSync(venv) ? venv : 'python3'),
    script: env.ORCHARD_TRAINER_SCRIPT ?? join(here, '..', '..', '..', 'images', 'trainer', 'orchard_trainer.py'),
  };
}

/** A trainer failure; `message` is the trainer's own one-line explanation. */
export class TrainerError extends Error {
  override name = 'TrainerError';
}

/** Runs the trainer with `args`, streaming its stdout lines to `log`; rejects with its stderr's last line on failure. */
export function runTrainer(args: string[], log: (line: string) => void = () => {}, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { python, script } = trainerCommand(env);
  return new Promise((resolve, reject) => {
    const child = spawn(python, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, PYTHONUNBUFFERED: '1' } });
    let stderr = '';
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (line) log(line);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-20000);
    });
    child.on('error', (err) => reject(new TrainerError(`cannot start the trainer (${python} ${script}): ${err.message}`)));
    child.on('close', (code, signal) => {
      if (pending) log(pending);
      if (code === 0) return resolve();
      const lines = stderr.trim().split('\n');
      const said = lines.findLast((l) => l.startsWith('orchard train:')) ?? lines.at(-1) ?? '';
      reject(new TrainerError(said.replace(/^orchard train: /, '') || `the trainer exited with ${signal ?? `code ${code}`}`));
    });
  });
}
