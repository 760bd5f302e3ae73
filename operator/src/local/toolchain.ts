// Where the set-up (test/toolchain/setup.sh) leaves the binaries it builds.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type Tool = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'helm' | 'fake-gcs-server';

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ORCHARD_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'orchard');
}

export function toolPath(tool: Tool, env: NodeJS.ProcessEnv = process.env): string {
  const path = join(cacheDir(env), 'bin', tool);
  if (!existsSync(path)) throw new Error(`${tool} not found at ${path}: run \`npm run setup\` to build the local toolchain`);
  return path;
}

