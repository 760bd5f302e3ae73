// Containers as local process groups that cannot outlive the agent.
//
// Each container runs under a small POSIX sh supervisor, in a process group of its own (the
// supervisor's). The supervisor starts the container's command, forwards SIGTERM to it alone (as a
// container runtime signals PID 1), and when that process exits it records the exit code and
// kills the rest of the group, as a container's processes end with its PID 1 (the orchard CLI's
// Python trainer included). A watchdog in the same group reads the supervisor's stdin, a pipe from
// the agent: the kernel closes it when the agent dies however it dies (SIGKILL too), and the
// watchdog then kills the whole group. The supervisor's pid is also written to a file, so a new
// agent sweeps what an old one left if the watchdog could not run.
import { spawn, type ChildProcess } from 'node:child_process';
import { killGroup, killGroupOnExit, readPidFile, signalProcess } from '../process.js';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';

// $1: the exit-code file; the rest: the container's command line.
const SUPERVISOR = `# The supervisor of one container of the Orchard local node agent (operator/src/local/node/processes.ts).
exit_file=$1; shift
trap 'term=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM
exec 3<&0
(cat <&3 >/dev/null 2>&1; kill -KILL 0) >/dev/null 2>&1 &
"$@" 3<&- </dev/null &
child=$!
exec 3<&-
[ -n "$term" ] && kill -TERM "$child" 2>/dev/null
while :; do
  wait "$child"; code=$?
  kill -0 "$child" 2>/dev/null || break
done
echo "$code" > "$exit_file"
kill -KILL 0
`;

const SUPERVISOR_FILE = 'orchard-container.sh';
const PID_FILE = 'supervisor.pid';
const EXIT_FILE = 'exit-code';

export interface ContainerProcess {
  /** The supervisor's pid, which is also the container's process group. */
  pid: number;
  /** The container's exit code: its own, or 128 + the signal that ended it (137 for SIGKILL). */
  exited: Promise<number>;
  /** SIGTERM to the container's process, SIGKILL to its group after `graceMs`; resolves once it is gone. */
  terminate(graceMs: number): Promise<number>;
}


/** Writes the supervisor script into the agent's state directory (so `ps` shows its name, not its text); returns its path. */
export function installSupervisor(stateDir: string): string {
  const file = join(stateDir, SUPERVISOR_FILE);
  writeFileSync(file, SUPERVISOR, { mode: 0o644 });
  return file;
}

/** Starts a container's command; `dir` is the container's own directory (pid and exit-code files). */
export function startContainerProcess(options: { supervisor: string; argv: string[]; env: Record<string, string>; cwd: string; logFile: string; dir: string }): ContainerProcess {
  const exitFile = join(options.dir, EXIT_FILE);
  rmSync(exitFile, { force: true });
  const log = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn('/bin/sh', [options.supervisor, exitFile, ...options.argv], {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['pipe', log, log],
    });
  } finally {
    closeSync(log);
  }
  // Never written: the pipe only tells the watchdog the agent is alive.
  child.stdin?.on('error', () => {});
  const pid = child.pid;
  // A normal exit of the agent's process (not via stop()) still takes every container with it.
  const release = killGroupOnExit(pid);
  const exited = new Promise<number>((resolve) => {
    child.once('error', (err) => resolve(spawnFailure(options.logFile, err)));
    child.once('exit', (code, signal) => {
      if (pid !== undefined) {
        release();
        killGroup(pid, 'SIGKILL');
        rmSync(join(options.dir, PID_FILE), { force: true });
      }
      resolve(readExitCode(exitFile) ?? code ?? 128 + (signal ? constants.signals[signal] : 9));
    });
  });
  if (pid !== undefined) writeFileSync(join(options.dir, PID_FILE), String(pid));
  let killAt = Infinity;
  let timer: NodeJS.Timeout | undefined;
  return {
    pid: pid ?? -1,
    exited,
    terminate(graceMs) {
      if (pid === undefined) return exited;
      // A second call may only bring the SIGKILL forward, as a shorter deletion grace period does.
      if (killAt === Infinity) signalProcess(pid, 'SIGTERM');
      const at = Date.now() + Math.max(0, graceMs);
      if (at < killAt) {
        killAt = at;
        clearTimeout(timer);
        timer = setTimeout(() => killGroup(pid, 'SIGKILL'), Math.max(0, graceMs));
        void exited.then(() => clearTimeout(timer));
      }
      return exited;
    },
  };
}

function spawnFailure(logFile: string, err: Error): number {
  try {
    writeFileSync(logFile, `failed to start the container: ${err.message}\n`, { flag: 'a' });
  } catch {
    // the log is best effort here; the exit code says it failed
  }
  return 128;
}

function readExitCode(file: string): number | undefined {
  try {
    const code = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Kills the process groups of containers an earlier agent on `podsDir` left running, recognised by
 * their supervisor's command line (which names its own exit-code file, so a reused pid is never
 * taken for ours). Returns the pids it killed.
 */
export function sweepContainerProcesses(podsDir: string): number[] {
  const killed: number[] = [];
  if (!existsSync(podsDir)) return killed;
  for (const pod of readdirSync(podsDir)) {
    const containers = join(podsDir, pod, 'containers');
    if (!existsSync(containers)) continue;
    for (const name of readdirSync(containers)) {
      const dir = join(containers, name);
      const pidFile = join(dir, PID_FILE);
      if (!existsSync(pidFile) || !statSync(dir).isDirectory()) continue;
      const pid = readPidFile(pidFile);
      if (pid !== undefined && pid > 1 && commandLine(pid).includes(join(dir, EXIT_FILE))) {
        killGroup(pid, 'SIGKILL');
        killed.push(pid);
      }
      rmSync(pidFile, { force: true });
    }
  }
  return killed;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}
