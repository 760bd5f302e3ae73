// A run's artifacts at file:///dir/ or gs://bucket/prefix/, published all or nothing: a reader
// sees a location only once its manifest.json exists, and that is written last (gs://) or
// appears with everything else in one rename (file://). Published artifacts are never overwritten.
import { createHash } from 'node:crypto';
import { constants as fsConstants, createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { File, Storage } from '@google-cloud/storage';
import { z } from 'zod';
import { DataError } from './errors.js';
import { gcsStatus, makeStorage, parseGsUri } from './gcs.js';

export const MANIFEST = 'manifest.json';

export interface ArtifactFile {
  /** A plain file name: letters, digits, '.', '_', '-'. */
  name: string;
  bytes: Buffer;
  contentType?: string | undefined;
}

/** An artifact written to a local file as it was produced (too large to hold), published by moving or uploading that file. */
export interface ArtifactFileOnDisk {
  name: string;
  path: string;
  contentType?: string | undefined;
}

type AnyArtifactFile = ArtifactFile | ArtifactFileOnDisk;

const manifestSchema = z.object({
  files: z.array(z.object({ name: z.string(), bytes: z.number().int(), sha256: z.string() })),
  createdTime: z.string(),
});
export type Manifest = z.infer<typeof manifestSchema>;

export interface StoreOptions {
  gcs?: Storage | undefined;
  /** Clock for the manifest's createdTime. */
  now?: (() => Date) | undefined;
}

type Location = { kind: 'file'; uri: string; dir: string } | { kind: 'gs'; uri: string; gcs: Storage; bucket: string; prefix: string };

export async function publishArtifacts(uri: string, files: AnyArtifactFile[], options: StoreOptions = {}): Promise<{ manifest: Manifest }> {
  const location = parseLocation(uri, options.gcs);
  checkNames(files);
  const manifest: Manifest = {
    files: await Promise.all(files.map(async (f) => ('bytes' in f ? { name: f.name, bytes: f.bytes.length, sha256: sha256(f.bytes) } : { name: f.name, ...(await fileDigest(f.path)) }))),
    createdTime: (options.now?.() ?? new Date()).toISOString(),
  };
  const all = [...files, { name: MANIFEST, bytes: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), contentType: 'application/json' }];
  if (location.kind === 'file') await publishLocal(location, all);
  else await publishGcs(location, all);
  return { manifest };
}

/** The manifest of a published location; a location without one is not published. */
export async function readManifest(uri: string, options: StoreOptions = {}): Promise<Manifest> {
  const location = parseLocation(uri, options.gcs);
  const bytes = await readObject(location, MANIFEST);
  if (!bytes) throw new DataError(`not published: ${location.uri} has no ${MANIFEST}; publishing did not finish there, or the URI is wrong`);
  const parsed = manifestSchema.safeParse(parseJson(bytes));
  if (!parsed.success) throw new DataError(`${location.uri}${MANIFEST} is not an artifact manifest: the location holds something else`);
  return parsed.data;
}

/** One published artifact, checked against the SHA-256 its manifest records. */
export async function readArtifact(uri: string, name: string, options: StoreOptions = {}): Promise<Buffer> {
  const manifest = await readManifest(uri, options);
  const location = parseLocation(uri, options.gcs);
  const entry = manifest.files.find((f) => f.name === name);
  if (!entry) throw new DataError(`${location.uri} has no artifact "${name}": its manifest lists ${manifest.files.map((f) => f.name).join(', ')}`);
  const bytes = await readObject(location, name);
  if (!bytes) throw new DataError(`${location.uri}${name} is in ${MANIFEST} but missing: the location was changed after publishing; publish the run again`);
  const actual = sha256(bytes);
  if (actual !== entry.sha256) {
    throw new DataError(`${location.uri}${name}: SHA-256 ${actual} does not match ${entry.sha256} in ${MANIFEST}: the artifact was changed after publishing; publish the run again`);
  }
  return bytes;
}

export async function readArtifactText(uri: string, name: string, options: StoreOptions = {}): Promise<string> {
  return (await readArtifact(uri, name, options)).toString('utf8');
}

function parseLocation(uri: string, gcs: Storage | undefined): Location {
  const normalized = uri.endsWith('/') ? uri : `${uri}/`;
  if (normalized.startsWith('file:///')) return { kind: 'file', uri: normalized, dir: resolve(fileURLToPath(normalized)) };
  if (normalized.startsWith('gs://')) {
    const { bucket, object } = parseGsUri(normalized);
    return { kind: 'gs', uri: normalized, gcs: gcs ?? makeStorage(), bucket, prefix: object };
  }
  throw new DataError(`${uri} is not an artifact location: use file:///dir/ or gs://bucket/prefix/`);
}

function checkNames(files: AnyArtifactFile[]): void {
  const seen = new Set<string>();
  for (const { name } of files) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(name) || name === MANIFEST || seen.has(name)) {
      throw new Error(`artifact name ${JSON.stringify(name)} is invalid, reserved or repeated: use distinct plain file names`);
    }
    seen.add(name);
  }
}

/** Everything goes into a sibling directory (same filesystem), which one rename then puts in place. */
async function publishLocal(location: Extract<Location, { kind: 'file' }>, files: AnyArtifactFile[]): Promise<void> {
  const { uri, dir } = location;
  if (existsSync(join(dir, MANIFEST))) throw alreadyPublished(uri);
  let staging: string;
  try {
    await mkdir(dirname(dir), { recursive: true });
    staging = await mkdtemp(`${dir}.publishing-`);
  } catch (err) {
    // A location under a file, or in a directory the Pod may not write, is the spec's to fix: no retry.
    throw new DataError(`cannot publish to ${uri}: ${(err as Error).message}; nothing was published`, { cause: err });
  }
  try {
    for (const file of files) await ('bytes' in file ? writeDurably(join(staging, file.name), file.bytes) : moveDurably(file.path, join(staging, file.name)));
    // rename(2) replaces an empty directory and fails on a non-empty one, so nothing is overwritten
    await rename(staging, dir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      if (existsSync(join(dir, MANIFEST))) throw alreadyPublished(uri);
      throw new DataError(`cannot publish to ${uri}: it exists, is not empty and has no ${MANIFEST}; remove it or publish to a new location`, { cause: err });
    }
    throw new DataError(`cannot publish to ${uri}: ${(err as Error).message}; nothing was published`, { cause: err });
  }
}

/** Every object is created with ifGenerationMatch: 0 (never overwrites), the manifest last; on failure the uploads are removed. */
async function publishGcs(location: Extract<Location, { kind: 'gs' }>, files: AnyArtifactFile[]): Promise<void> {
  const { uri, gcs, bucket, prefix } = location;
  if (await readObject(location, MANIFEST)) throw alreadyPublished(uri);
  const manifest = files.at(-1)!;
  const uploaded: File[] = [];
  const upload = async (f: AnyArtifactFile): Promise<void> => {
    const object = gcs.bucket(bucket).file(prefix + f.name);
    const settings = { contentType: f.contentType ?? 'application/octet-stream', preconditionOpts: { ifGenerationMatch: 0 } };
    // A file on disk streams up in a resumable upload: its size is not bounded by memory.
    if ('path' in f) await pipeline(createReadStream(f.path), object.createWriteStream({ ...settings, resumable: true }));
    else await object.save(f.bytes, { ...settings, resumable: false });
    uploaded.push(object);
  };
  const results = await Promise.allSettled(files.slice(0, -1).map(upload));
  let failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason as unknown;
  if (failure === undefined) {
    try {
      await upload(manifest);
      return;
    } catch (err) {
      failure = err;
    }
  }
  const removals = await Promise.allSettled(uploaded.map((o) => o.delete({ ifGenerationMatch: o.metadata.generation! })));
  const left = uploaded.filter((_, i) => removals[i]!.status === 'rejected').map((o) => `gs://${bucket}/${o.name}`);
  const cleanup = left.length ? `; ${left.length} uploaded objects could not be removed: delete ${left.join(', ')}` : '';
  if (gcsStatus(failure) === 412) {
    if (await readObject(location, MANIFEST)) throw alreadyPublished(uri);
    throw new DataError(`cannot publish to ${uri}: an object there already exists and artifacts are never overwritten; remove the leftover objects under ${uri} or publish to a new location${cleanup}`, { cause: failure });
  }
  throw new DataError(`cannot publish to ${uri}: ${(failure as Error).message}; nothing was published${cleanup}`, { cause: failure });
}

async function readObject(location: Location, name: string): Promise<Buffer | undefined> {
  try {
    if (location.kind === 'file') return await readFile(join(location.dir, name));
    const [bytes] = await location.gcs.bucket(location.bucket).file(location.prefix + name).download();
    return bytes;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || gcsStatus(err) === 404) return undefined;
    throw new DataError(`cannot read ${location.uri}${name}: ${(err as Error).message}`, { cause: err });
  }
}

async function writeDurably(path: string, bytes: Buffer): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Renames `from` to `to` (a copy when they are on different filesystems) and syncs it. */
async function moveDurably(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(from, to, fsConstants.COPYFILE_EXCL);
  }
  const handle = await open(to, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fileDigest(path: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

function alreadyPublished(uri: string): DataError {
  return new DataError(`${uri} is already published (it has ${MANIFEST}) and artifacts are never overwritten: publish to a new location`);
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined; // reported as "not an artifact manifest"
  }
}
