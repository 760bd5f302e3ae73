// Reading a DataSource: fetch the bytes (file://, gs://, https://), check the checksum, unpack
// (gzip, zip) and parse (CSV, Parquet) into a Table.
import { createHash } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import https from 'node:https';
import { constants as bufferConstants } from 'node:buffer';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import type { Storage } from '@google-cloud/storage';
import type { DataSource } from '../api/v1alpha1/data.js';
import { parseCsv, type CsvReadOptions } from './csv.js';
import { DataError, previewFileNames } from './errors.js';
import { gcsStatus, makeStorage, parseGsUri } from './gcs.js';
import { parseParquet } from './parquet.js';
import type { Table } from './table.js';
import { listZip, readZipEntry } from './zip.js';

export { DataError } from './errors.js';
export { makeStorage } from './gcs.js';
export type { Table } from './table.js';

export type SourceFormat = NonNullable<DataSource['format']>;

/**
 * What sources may name. The operator sets both in its training Pods (ORCHARD_FILE_ROOTS,
 * ORCHARD_SOURCE_HOSTS): a TrainingRun's author must not read the Pod's own files (its service
 * account token) or probe hosts the Pod can reach. Unset, as for the CLI run by hand, means no limit.
 */
export interface SourceLimits {
  /** Directories a file:// source must resolve into, symlinks and `..` followed. */
  fileRoots?: readonly string[] | undefined;
  /** Hosts an https:// source and each of its redirects may reach; `*.example.com` matches subdomains. Empty: any. */
  hosts?: readonly string[] | undefined;
}

export interface FetchOptions extends SourceLimits {
  /** Expected SHA-256 (hex); required for https://. */
  sha256?: string | undefined;
  /** PEM CA certificate(s) trusted for https:// instead of the system's (tests). */
  ca?: string | undefined;
  gcs?: Storage | undefined;
  /** An https:// download fails after this long without data. */
  timeoutMs?: number | undefined;
  /** Where details that errors leave out go (the Pod log); stderr by default. */
  diagnostics?: ((line: string) => void) | undefined;
}

export interface ReadSourceOptions extends SourceLimits {
  gcs?: Storage | undefined;
  fetchCa?: string | undefined;
  diagnostics?: ((line: string) => void) | undefined;
  /** Told how many bytes were fetched (before unpacking): what a scoring shard reports reading. */
  onBytes?: ((bytes: number) => void) | undefined;
}

const MAX_REDIRECTS = 5;

export async function readSource(source: DataSource, options: ReadSourceOptions = {}): Promise<Table> {
  const { uri } = source;
  const { fetchCa, onBytes, ...rest } = options;
  const bytes = await fetchBytes(uri, { ...rest, sha256: source.sha256, ca: fetchCa });
  onBytes?.(bytes.length);
  const name = uri.startsWith('https://') ? new URL(uri).pathname : uri;
  const format = source.format ?? inferFormat(name);
  if (!format) throw new DataError(`cannot tell the format of ${uri} from its name: set data.source.format to Csv, CsvGzip, Parquet or Zip`);
  if (format !== 'Zip') return parseFile(bytes, format, name, uri, source.csv);

  const members = listZip(bytes, uri);
  const names = members.map((m) => m.name);
  if (!source.zipMember) throw new DataError(`${uri} is a zip archive: set data.source.zipMember to the file to read; it holds ${previewFileNames(names, 20)}`);
  const member = members.find((m) => m.name === source.zipMember);
  if (!member) throw new DataError(`${uri} has no member "${source.zipMember}": it holds ${previewFileNames(names, 20)}; fix data.source.zipMember`);
  // A member whose name says nothing (UCI's adult.data) is read as delimited text.
  const memberFormat = inferFormat(member.name) ?? 'Csv';
  if (memberFormat === 'Zip') throw new DataError(`${uri}!/${member.name} is a zip inside a zip: unpack the outer archive and point data.source.uri at the inner one`);
  return parseFile(readZipEntry(bytes, member, uri), memberFormat, member.name, `${uri}!/${member.name}`, source.csv);
}

/** The bytes at a file://, gs:// or https:// URI, checked against sha256 when one is given. */
export async function fetchBytes(uri: string, options: FetchOptions = {}): Promise<Buffer> {
  const diagnostics = options.diagnostics ?? ((line: string) => void process.stderr.write(`${line}\n`));
  let bytes: Buffer;
  if (uri.startsWith('file://')) bytes = await readLocal(uri, options.fileRoots);
  else if (uri.startsWith('gs://')) bytes = await readGcs(uri, options.gcs ?? makeStorage());
  else if (uri.startsWith('https://')) {
    if (!options.sha256) {
      throw new DataError(`${withoutQuery(uri)}: https:// sources need sha256: set data.source.sha256 to the file's SHA-256 (sha256sum FILE) so a changed download is caught`);
    }
    bytes = await download(uri, uri, { ca: options.ca, timeoutMs: options.timeoutMs ?? 30_000, hosts: options.hosts ?? [], diagnostics }, 0);
  } else {
    throw new DataError(`${uri}: unsupported location: use file:///path, gs://bucket/object or https://host/path`);
  }
  if (options.sha256) {
    const actual = createHash('sha256').update(bytes).digest('hex');
    const expected = options.sha256.toLowerCase();
    if (actual !== expected) {
      // The digest of what came back says something about a URL's answer, an oracle if it goes to status.
      diagnostics(`${withoutQuery(uri)}: the body's SHA-256 is ${actual}`);
      throw new DataError(`${withoutQuery(uri)}: the body's SHA-256 does not match the expected ${expected}: update data.source.sha256 if the file changed upstream (the Pod log has the actual digest)`);
    }
  }
  return bytes;
}

/** Format from a file name: .csv, .tsv, .csv.gz, .tsv.gz, .parquet, .zip. */
export function inferFormat(name: string): SourceFormat | undefined {
  const lower = name.toLowerCase();
  if (lower.endsWith('.csv.gz') || lower.endsWith('.tsv.gz')) return 'CsvGzip';
  if (lower.endsWith('.csv') || lower.endsWith('.tsv')) return 'Csv';
  if (lower.endsWith('.parquet')) return 'Parquet';
  if (lower.endsWith('.zip')) return 'Zip';
  return undefined;
}

async function parseFile(bytes: Buffer, format: Exclude<SourceFormat, 'Zip'>, name: string, where: string, csv: DataSource['csv']): Promise<Table> {
  if (format === 'Parquet') return parseParquet(bytes, where);
  let text = bytes;
  if (format === 'CsvGzip') {
    try {
      text = zlib.gunzipSync(bytes);
    } catch (err) {
      throw new DataError(`${where}: ${(err as Error).message}: the file is truncated or not gzip`, { cause: err });
    }
  }
  if (text.length > bufferConstants.MAX_STRING_LENGTH) {
    throw new DataError(`${where} holds ${text.length} bytes of text, more than the ${bufferConstants.MAX_STRING_LENGTH} one string can: split it or convert it to Parquet`);
  }
  return parseCsv(text.toString('utf8'), csvReadOptions(name, csv), where);
}

/** How a delimited file named `name` is read under a source's csv settings. */
export function csvReadOptions(name: string, csv: DataSource['csv']): CsvReadOptions {
  // csvOptions defaults delimiter to ",", so an unset delimiter looks like ","; a .tsv name then means tabs.
  const tsv = /\.tsv(\.gz)?$/i.test(name);
  const delimiter = tsv && (csv?.delimiter ?? ',') === ',' ? '\t' : (csv?.delimiter ?? ',');
  return { delimiter, header: csv?.header ?? 'Present', columns: csv?.columns, naValues: csv?.naValues, whitespace: csv?.whitespace ?? 'Keep', commentPrefix: csv?.commentPrefix };
}

/** The local path a file:// URI names, held to `roots` as readSource holds it, for readers that open the file themselves. */
export async function localSourcePath(uri: string, roots: readonly string[] | undefined): Promise<string> {
  let path: string;
  try {
    path = fileURLToPath(uri);
  } catch (err) {
    throw new DataError(`${uri} is not a local file URI: use file:///absolute/path`, { cause: err });
  }
  return roots ? confine(uri, path, roots) : path;
}

async function readLocal(uri: string, roots: readonly string[] | undefined): Promise<Buffer> {
  const path = await localSourcePath(uri, roots);
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(`${uri} does not exist: check the path`, { cause: err });
    if (code === 'EISDIR') throw new DataError(`${uri} is a directory: name a file`, { cause: err });
    throw new DataError(`${uri}: cannot read (${(err as Error).message})`, { cause: err });
  }
}

/**
 * The real path of `path` when, with symlinks and `..` followed, it lies under one of `roots`. A
 * path outside gets the same answer whether or not it exists, so the check is no file-finding oracle.
 */
async function confine(uri: string, path: string, roots: readonly string[]): Promise<string> {
  const refuse = () =>
    new DataError(
      roots.length === 0
        ? `${uri}: this Pod may not read file:// sources: use gs:// or https://`
        : `${uri} is outside the directories this Pod may read: file:// sources must be under ${roots.join(' or ')}; copy the file there or use gs://`,
    );
  const inside = (p: string, under: readonly string[]) =>
    under.some((root) => {
      const rel = relative(root, p);
      return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
    });
  const realRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => resolve(r))));
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    const missingInside = (err as NodeJS.ErrnoException).code === 'ENOENT' && inside(resolve(path), [...roots.map((r) => resolve(r)), ...realRoots]);
    if (missingInside) throw new DataError(`${uri} does not exist: check the path`, { cause: err });
    throw refuse();
  }
  if (!inside(real, realRoots)) throw refuse();
  return real;
}

async function readGcs(uri: string, gcs: Storage): Promise<Buffer> {
  const { bucket, object } = parseGsUri(uri);
  if (!object) throw new DataError(`${uri} names a bucket, not an object: use gs://bucket/path/to/file`);
  try {
    const [bytes] = await gcs.bucket(bucket).file(object).download();
    return bytes;
  } catch (err) {
    const status = gcsStatus(err);
    if (status === 404) throw new DataError(`${uri} does not exist: check the bucket and object name`, { cause: err });
    if (status === 401 || status === 403) {
      throw new DataError(`${uri}: access denied (HTTP ${status}): grant the workload's service account roles/storage.objectViewer on gs://${bucket}`, { cause: err });
    }
    throw new DataError(`${uri}: download failed (${(err as Error).message})`, { cause: err });
  }
}

interface DownloadOptions {
  ca: string | undefined;
  timeoutMs: number;
  hosts: readonly string[];
  diagnostics: (line: string) => void;
}

/**
 * GET over https, following up to MAX_REDIRECTS redirects (https only); `uri` is the one the user gave.
 * A connection or TLS failure gives one message whatever the cause, with the cause in the Pod log:
 * told apart in status, refused, plain-text and TLS ports would make the source a port scanner.
 */
function download(uri: string, url: string, options: DownloadOptions, redirects: number): Promise<Buffer> {
  const shown = withoutQuery(uri);
  const via = url === uri ? '' : ` (redirected to ${withoutQuery(url)})`;
  return new Promise<Buffer>((resolve, reject) => {
    const fail = (message: string, cause?: unknown) => reject(new DataError(`${shown}${via}: ${message}`, { cause }));
    const host = new URL(url).hostname;
    if (!hostAllowed(host, options.hosts)) {
      return fail(`host ${host} is not one of the hosts sources may use (${options.hosts.join(', ')}): copy the file to an allowed host or gs://, or ask the cluster's admin to allow ${host}`);
    }
    const request = https.get(url, { ...(options.ca ? { ca: options.ca } : {}), timeout: options.timeoutMs }, (response) => {
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if ([301, 302, 303, 307, 308].includes(status) && location) {
        response.resume();
        const next = new URL(location, url).toString();
        if (redirects >= MAX_REDIRECTS) return fail(`more than ${MAX_REDIRECTS} redirects: use the file's final URL`);
        if (!next.startsWith('https://')) return fail(`redirected to ${withoutQuery(next)}, which is not https://: use an https:// URL that serves the file`);
        return resolve(download(uri, next, options, redirects + 1));
      }
      if (status !== 200) {
        response.resume();
        return fail(`HTTP ${status} ${response.statusMessage ?? ''}`.trimEnd() + ': check the URL');
      }
      const chunks: Buffer[] = [];
      let received = 0;
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
      });
      response.on('error', (err) => fail(`download interrupted after ${received} bytes (${err.message}): the connection dropped; retry`, err));
      response.on('end', () => {
        const expected = Number(response.headers['content-length'] ?? NaN);
        if (response.complete && (Number.isNaN(expected) || expected === received)) resolve(Buffer.concat(chunks, received));
        else fail(`download ended after ${received} bytes${Number.isNaN(expected) ? '' : ` of ${expected}`}: the connection dropped; retry`);
      });
    });
    request.on('timeout', () => request.destroy(new Error(`no data for ${options.timeoutMs / 1000} s`)));
    request.on('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      options.diagnostics(`${shown}${via}: connection failed: ${code ? `${code}: ` : ''}${err.message}`);
      reject(new DataError(`could not fetch ${shown}: connection failed; details in the Pod log`, { cause: err }));
    });
  });
}

/** Exact host names, or `*.example.com` for any name under example.com; no patterns, any host. */
export function hostAllowed(host: string, patterns: readonly string[]): boolean {
  if (patterns.length === 0) return true;
  const name = host.toLowerCase().replace(/\.$/, '').replace(/^\[(.*)\]$/, '$1');
  return patterns.some((p) => {
    const pattern = p.toLowerCase().replace(/^\[(.*)\]$/, '$1');
    return pattern.startsWith('*.') ? name.endsWith(pattern.slice(1)) : name === pattern;
  });
}

/** A URL for messages: no query, fragment or credentials, which signed URLs and tokens live in. */
function withoutQuery(uri: string): string {
  try {
    const u = new URL(uri);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return uri.replace(/[?#].*$/, '');
  }
}
