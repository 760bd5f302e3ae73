import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './cluster.js';

export interface CliRun {
  code: number | null;
  stderr: string;
  /** What the kubelet puts in the container's status (FallbackToLogsOnError): the termination message, or the log's tail. */
  termination: string;
}

/**
 * The training image's CLI (`orchard <args>`) run in `dir` with `env` over this process's, its termination
 * message written to `<dir>/<name>.termination`.
 */
export function runOrchardCli(dir: string, name: string, args: string[], env: Record<string, string>): Promise<CliRun> {
  const termination = join(dir, `${name}.termination`);
  writeFileSync(termination, '');
  return new Promise((resolve, reject) => {
    const child = spawn(join(repoRoot, 'node_modules', '.bin', 'tsx'), [join(repoRoot, 'operator', 'src', 'training', 'cli.ts'), ...args], {
      cwd: dir,
      env: { ...process.env, ...env, ORCHARD_TERMINATION_MESSAGE_PATH: termination },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, termination: readFileSync(termination, 'utf8') || stderr.trimEnd().split('\n').at(-1)! }));
  });
}
