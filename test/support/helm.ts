// Rendering the chart with the helm the toolchain builds, for tests of what the chart installs.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { toolPath } from '../../operator/src/local/toolchain.js';
import { repoRoot } from './cluster.js';

const run = promisify(execFile);
export const chartDir = join(repoRoot, 'charts', 'orchard');

/** `--set`-style values as helm arguments: {'watch.mode': 'Namespaces'} → --set watch.mode=Namespaces. */
function setArgs(values: Record<string, string | number | boolean>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
}

export async function helm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(toolPath('helm'), args, { cwd: repoRoot, maxBuffer: 64 << 20, env: { ...process.env, HELM_CACHE_HOME: '/tmp/orchard-helm-cache', HELM_CONFIG_HOME: '/tmp/orchard-helm-config', HELM_DATA_HOME: '/tmp/orchard-helm-data' } });
}

export async function helmLint(values: Record<string, string | number | boolean> = {}): Promise<string> {
  const { stdout } = await helm(['lint', '--strict', chartDir, ...setArgs(values)]);
  return stdout;
}

/** The objects `helm template` renders (without the CRDs unless asked), in order. */
export async function helmTemplate(release: string, namespace: string, values: Record<string, string | number | boolean> = {}, options: { includeCrds?: boolean } = {}): Promise<any[]> {
  const { stdout } = await helm(['template', release, chartDir, '--namespace', namespace, ...(options.includeCrds ? ['--include-crds'] : []), ...setArgs(values)]);
  return parseAllDocuments(stdout)
    .map((d) => d.toJSON())
    .filter((o) => o && typeof o === 'object');
}
