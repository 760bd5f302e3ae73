// Children that listen on port 0 and say where in their ready log line: a port picked by the test
// and closed before the child binds it can be taken meanwhile by any other test worker.
import type { ChildProcess } from 'node:child_process';

/**
 * The fields of the first JSON line on the child's stdout whose msg is `msg`. Rejects with the
 * output's tail when the child exits first or `timeoutMs` passes. Keeps reading both streams after,
 * so a child that logs a lot never blocks on a full pipe.
 */
export function readyLine(child: ChildProcess, msg: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  let tail = '';
  let pending = '';
  let found = false;
  child.stderr?.on('data', (c: Buffer) => (tail = (tail + c.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`${why} before logging ${JSON.stringify(msg)}: ${tail}`));
    };
    const timer = setTimeout(() => fail(`no ready line within ${timeoutMs} ms`), timeoutMs);
    const onExit = (code: number | null, signal: string | null) => fail(`the child exited (${signal ?? code})`);
    child.once('exit', onExit);
    child.stdout!.on('data', (c: Buffer) => {
      const text = c.toString();
      tail = (tail + text).slice(-4000);
      if (found) return;
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        let fields: unknown;
        try {
          fields = JSON.parse(line);
        } catch {
          continue; // not a log line: a warning, or tsx's own output
        }
        if (fields !== null && typeof fields === 'object' && (fields as { msg?: unknown }).msg === msg) {
          found = true;
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve(fields as Record<string, unknown>);
          return;
        }
      }
    });
  });
}

/** The port of a `host:port` address as the drift monitor logs its ingest listener. */
export function portOf(address: unknown): number {
  const port = Number(/:(\d+)$/.exec(String(address))?.[1]);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in ${JSON.stringify(address)}`);
  return port;
}
