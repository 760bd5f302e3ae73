// Child processes that cannot outlive us: each runs under `setpriv --pdeathsig KILL`, so even a
// SIGKILLed parent takes its control plane with it, and each gets its own process group.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';

const SETPRIV = '/usr/bin/setpriv';
/** Process groups SIGKILLed when this process exits (short of its own SIGKILL, which pdeathsig covers). */
const groupsToKill = new Set<number>();
let exitHookInstalled = false;

export interface Managed {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Rejects if the process exits before stop() is called. */
  exited: Promise<number | null>;
  stop(timeoutMs?: number): Promise<void>;
}

export function startProcess(name: string, command: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): Managed {
  const log = createWriteStream(logFile, { flags: 'a' });
  const [file, argv] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
  const child = spawn(file, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const release = killGroupOnExit(child.pid);
  let stopping = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      release();
      resolve(code);
    });
    child.once('error', (err) => {
      release();
      log.write(`spawn failed: ${err.message}\n`);
      resolve(-1);
    });
  });
  const stop = async (timeoutMs = 5000): Promise<void> => {
    if (stopping || child.exitCode !== null || child.signalCode !== null) return;
    stopping = true;
    killGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    log.end();
  };
  return { name, child, logFile, exited, stop };
}

export function tailOf(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Signals a process group (a process spawned detached leads its own); nothing if it is gone. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid !== undefined) signalProcess(-pid, signal);
}

/** Signals one process (a negative pid: its group); nothing if it is gone. */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Kills the process group `pid` leads if this process exits first; the returned function forgets it. */
export function killGroupOnExit(pid: number | undefined): () => void {
  if (pid === undefined) return () => {};
  installExitHook();
  groupsToKill.add(pid);
  return () => void groupsToKill.delete(pid);
}

/** The pid a pid file names; undefined while the file is missing, empty or half-written. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid exists (EPERM: it does, but is not ours to signal). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of groupsToKill) killGroup(pid, 'SIGKILL');
  });
}
