// fake-gcs-server (built by the set-up) on a free loopback port, in memory, for gs:// tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Storage } from '@google-cloud/storage';
import { makeStorage } from '../../operator/src/artifacts/gcs.js';
import { startProcess, tailOf } from '../../operator/src/local/process.js';
import { toolPath } from '../../operator/src/local/toolchain.js';
import { freePort } from './wait.js';

export interface FakeGcs {
  /** http://127.0.0.1:PORT, the value for STORAGE_EMULATOR_HOST. */
  url: string;
  /** A client for this server, made the way the operator makes one from STORAGE_EMULATOR_HOST. */
  storage: Storage;
  stop(): Promise<void>;
}

/** Up to this many ports: fake-gcs-server cannot listen on port 0, as it builds its own URLs from the port it was given. */
const portAttempts = 5;

export async function startFakeGcs(options: { buckets?: string[] } = {}): Promise<FakeGcs> {
  const dir = mkdtempSync(join(tmpdir(), 'orchard-fake-gcs-'));
  for (let attempt = 1; ; attempt++) {
    // Another worker can take the port between freePort() closing it and the server binding it: then try another.
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const logFile = join(dir, `fake-gcs-server-${attempt}.log`);
    const proc = startProcess(
      'fake-gcs-server',
      toolPath('fake-gcs-server'),
      // info: its 'server started' line, logged once it holds the port, tells this server from another on the same port.
      ['-scheme', 'http', '-host', '127.0.0.1', '-port', String(port), '-backend', 'memory', '-log-level', 'info'],
      logFile,
    );
    const stop = async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      let exited = false;
      let taken = false;
      void proc.exited.then(() => (exited = true));
      const deadline = Date.now() + 10_000;
      while (!(started(logFile) && (await answers(`${url}/_internal/healthcheck`)))) {
        if (exited && /address already in use/.test(tailOf(logFile)) && attempt < portAttempts) {
          taken = true;
          break;
        }
        if (exited || Date.now() > deadline) throw new Error(`fake-gcs-server did not answer on ${url} (attempt ${attempt}):\n${tailOf(proc.logFile)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      if (taken) continue;
      const storage = makeStorage({ STORAGE_EMULATOR_HOST: url });
      for (const bucket of options.buckets ?? []) await storage.createBucket(bucket);
      return { url, storage, stop };
    } catch (err) {
      await stop();
      throw err;
    }
  }
}

function started(logFile: string): boolean {
  return /server started at/.test(tailOf(logFile, 1000));
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false; // not listening yet
  }
}
