// The images the local node agent can run, each as the processes its real image would start: the
// image's ENTRYPOINT, ENV and WORKDIR written in the image's own paths, plus where those paths are
// in this checkout. Containers then see the same command lines and environment as in the image,
// with every image path mapped to a local one (./rewrite.ts).
import { join } from 'node:path';
import { cacheDir } from '../toolchain.js';

export interface LocalImage {
  /** Says which images it stands for, in messages. */
  description: string;
  /** True for the image references (registry/name:tag@digest) it stands for. */
  matches(image: string): boolean;
  /** The image's ENTRYPOINT and CMD, in image paths. */
  entrypoint: string[];
  cmd: string[];
  /** The image's WORKDIR. */
  workingDir: string;
  /** The image's ENV, in image paths (mapped like the Pod's own env). */
  env: Record<string, string>;
  /** Directories of the image filesystem and where they are here: '/app' → the checkout. */
  paths: Record<string, string>;
  /**
   * The executables a container may name in `command`, by their path in the image, as the local
   * argv that runs them (in image paths). A bare name is looked up in `searchPath`, as the image's
   * PATH would.
   */
  executables: Record<string, string[]>;
  searchPath: string[];
  /** The variable through which the image's servers learn the address to listen on (the Pod's own). */
  listenAddressEnv?: string;
}

/** The last path element of an image reference, without tag or digest: `ghcr.io/orchard/orchard:1.0.0` → `orchard`. */
export function imageName(image: string): string {
  const withoutDigest = image.split('@')[0]!;
  const last = withoutDigest.split('/').at(-1)!;
  return last.split(':')[0]!;
}

/**
 * images/runtime/Dockerfile (the `orchard` CLI: prepare, train, export, publish, score, serve,
 * drift), by any registry and tag: `ghcr.io/orchard/orchard:1.0.0` (the chart's default),
 * `orchard-runtime` (skaffold), `orchard:local` (npm start).
 */
export function orchardRuntimeImage(repoRoot: string, env: NodeJS.ProcessEnv = process.env): LocalImage {
  const names = new Set(['orchard', 'orchard-runtime']);
  return {
    description: 'the Orchard runtime image (images/runtime: any registry and tag of orchard or orchard-runtime)',
    matches: (image) => names.has(imageName(image)),
    entrypoint: ['/usr/local/bin/orchard'],
    cmd: [],
    workingDir: '/app',
    env: {
      NODE_ENV: 'production',
      HOME: '/tmp',
      MPLCONFIGDIR: '/tmp/matplotlib',
      ORCHARD_PYTHON: '/opt/venv/bin/python',
      ORCHARD_TRAINER_SCRIPT: '/app/images/trainer/orchard_trainer.py',
    },
    paths: {
      '/app': repoRoot,
      '/opt/orchard/data': join(repoRoot, 'data'),
      '/opt/venv': join(cacheDir(env), 'venv'),
    },
    executables: {
      // images/runtime/orchard, the image's ENTRYPOINT.
      '/usr/local/bin/orchard': ['/usr/local/bin/node', '--import', '/app/node_modules/tsx/dist/loader.mjs', '/app/operator/src/training/cli.ts'],
      '/usr/local/bin/node': [process.execPath],
      '/bin/sh': ['/bin/sh'],
      '/usr/bin/python3': ['/usr/bin/python3'],
      '/opt/venv/bin/python': ['/opt/venv/bin/python'],
    },
    searchPath: ['/usr/local/bin', '/usr/bin', '/bin'],
    listenAddressEnv: 'ORCHARD_LISTEN_ADDRESS',
  };
}

export function findImage(table: LocalImage[], image: string): LocalImage | undefined {
  return table.find((entry) => entry.matches(image));
}

/**
 * The argv that runs a command's first word, as the image's PATH resolves it, with wrappers
 * followed (`orchard` → node → this Node.js); in image paths. Undefined when the image has no such
 * executable.
 */
export function resolveExecutable(entry: LocalImage, name: string): string[] | undefined {
  const path = name.includes('/') ? name : entry.searchPath.map((dir) => `${dir}/${name}`).find((p) => p in entry.executables);
  const argv = path === undefined ? undefined : entry.executables[path];
  if (!argv) return undefined;
  const [first, ...rest] = argv;
  if (first === path || !(first! in entry.executables)) return argv;
  const inner = resolveExecutable(entry, first!);
  return inner && [...inner, ...rest];
}
