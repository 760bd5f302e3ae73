// What one ScoringJob shard reads: its share of the inputs, as batches of rows, without reading the
// rest. A plain CSV or Parquet file on file:// is split within the file: CSV by byte range, a shard
// owning the lines that start in its range (it skips the partial line it starts in and finishes the
// one it ends in); Parquet by row group, a shard owning the groups that start in its range. Anything
// else (CsvGzip, zip members, gs://, https://, or any source with a sha256 to check) cannot be read
// from the middle, so the whole file goes to one shard: the k-th such source to shard k mod shards.
import { open, type FileHandle } from 'node:fs/promises';
import { parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import type { DataSource } from '../api/v1alpha1/data.js';
import { parseCsv, type CsvReadOptions } from '../artifacts/csv.js';
import { DataError } from '../artifacts/errors.js';
import { parquetCell, parquetCodecs } from '../artifacts/parquet.js';
import { csvReadOptions, inferFormat, localSourcePath, readSource, type ReadSourceOptions } from '../artifacts/sources.js';

/** Bytes a CSV shard reads at a time; a shard reads at most one such block past its range. */
export const BLOCK_BYTES = 1 << 20;
/** Reads outside a shard's range (the header, the line it starts in, the one it finishes) go in steps this size. */
const SMALL_READ = 64 << 10;
/** The longest line a shard carries across blocks. */
const MAX_LINE_BYTES = 64 << 20;

export interface RowBatch {
  /** The file the rows come from, for messages. */
  source: string;
  columns: string[];
  rows: (string | null)[][];
  /** Where the batch's i-th row is, for error messages. */
  where: (i: number) => string;
}

export interface ShardInput {
  batches: AsyncGenerator<RowBatch>;
  /** Input bytes read so far: file bytes for split files, whole files for the rest. */
  bytesRead: () => number;
}

/** Sources read from the middle: plain files on local disk, whose bytes are not checked against a sha256. */
function splittable(source: DataSource): 'Csv' | 'Parquet' | undefined {
  if (!source.uri.startsWith('file://') || source.sha256) return undefined;
  const format = source.format ?? inferFormat(source.uri);
  return format === 'Csv' || format === 'Parquet' ? format : undefined;
}

export function readShardInput(sources: readonly DataSource[], shard: number, shards: number, options: ReadSourceOptions & { batchRows: number }): ShardInput {
  let bytes = 0;
  const count = (n: number) => void (bytes += n);
  async function* batches(): AsyncGenerator<RowBatch> {
    let whole = 0;
    for (const source of sources) {
      const format = splittable(source);
      if (format === 'Csv') yield* csvRange(source, await localSourcePath(source.uri, options.fileRoots), shard, shards, options.batchRows, count);
      else if (format === 'Parquet') yield* parquetGroups(source, await localSourcePath(source.uri, options.fileRoots), shard, shards, options.batchRows, count);
      else if (whole++ % shards === shard) {
        const table = await readSource(source, { ...options, onBytes: count });
        for (let i = 0; i < table.rows.length; i += options.batchRows) {
          const from = i;
          yield { source: table.source, columns: table.columns, rows: table.rows.slice(i, i + options.batchRows), where: (r) => `${table.source} row ${from + r + 1}` };
        }
      }
    }
  }
  return { batches: batches(), bytesRead: () => bytes };
}

async function openSource(uri: string, path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(`${uri} does not exist: check the path`, { cause: err });
    if (code === 'EISDIR') throw new DataError(`${uri} is a directory: name a file`, { cause: err });
    throw new DataError(`${uri}: cannot read (${(err as Error).message})`, { cause: err });
  }
}

/** The share [start, end) of `length` bytes from `origin` that shard `shard` of `shards` owns. */
export function byteRange(origin: number, length: number, shard: number, shards: number): [number, number] {
  return [origin + Math.floor((length * shard) / shards), origin + Math.floor((length * (shard + 1)) / shards)];
}

const LF = 10;

/**
 * The CSV lines whose first byte lies in this shard's range of the data (the bytes after the
 * header). One record per line when the file is split: a quoted cell with a line break is refused,
 * since a shard starting in the middle of a file cannot tell that it starts inside quotes. A shard
 * that owns the whole file starts outside quotes, so it cuts its blocks between records and takes
 * line breaks in quoted cells as the whole-file reader does.
 */
async function* csvRange(source: DataSource, path: string, shard: number, shards: number, batchRows: number, count: (n: number) => void): AsyncGenerator<RowBatch> {
  const options: CsvReadOptions = csvReadOptions(source.uri, source.csv);
  const handle = await openSource(source.uri, path);
  try {
    const size = (await handle.stat()).size;
    const read = (at: number, length: number): Promise<Buffer> => readSpan(handle, at, Math.min(length, size - at), count);
    const { columns, dataStart } = await csvHeader(source.uri, options, read, size);
    const [start, end] = byteRange(dataStart, size - dataStart, shard, shards);
    if (start >= end) return;
    // A shard starts at the first line that begins at or after `start`: one byte back tells whether `start` is a line start.
    let pos = start;
    if (start > dataStart) {
      // A line starting exactly at `start` is this shard's: the search for a line break starts one byte back.
      for (let at = start - 1; ; ) {
        const block = await read(at, Math.min(SMALL_READ, end - at));
        const lf = block.indexOf(LF);
        if (lf !== -1) {
          pos = at + lf + 1;
          break;
        }
        at += block.length;
        if (block.length === 0 || at >= end) return;
      }
      if (pos >= end) return;
    }
    const rangeNote = start === dataStart ? '' : ` from byte ${start}`;
    const wholeFile = start === dataStart && end === size;
    let rowsBefore = 0;
    let carry = Buffer.alloc(0);
    for (;;) {
      // Past the range, only the line that started inside it is finished, in small reads.
      const block = pos < size ? await read(pos, pos < end ? Math.min(BLOCK_BYTES, end - pos) : SMALL_READ) : Buffer.alloc(0);
      const textStart = pos - carry.length;
      pos += block.length;
      const text = carry.length ? Buffer.concat([carry, block]) : block;
      let cut: number;
      let done = false;
      if (pos >= end) {
        // The line that starts before `end` is this shard's to finish; one that starts at `end` is the next shard's.
        const lf = end - textStart - 1 < 0 ? -1 : text.indexOf(LF, end - textStart - 1);
        done = lf !== -1 || pos >= size;
        cut = lf !== -1 ? lf + 1 : done ? text.length : 0;
      } else cut = wholeFile ? lastRecordEnd(text) : text.lastIndexOf(LF) + 1;
      if (cut > 0) {
        for (const batch of parseBlock(text.subarray(0, cut), columns, options, source.uri, rangeNote, rowsBefore, batchRows, wholeFile)) {
          rowsBefore += batch.rows.length;
          yield batch;
        }
      }
      if (done) return;
      carry = Buffer.from(text.subarray(cut));
      if (carry.length > MAX_LINE_BYTES) throw new DataError(`${source.uri}: the line at byte ${textStart + cut} runs over ${MAX_LINE_BYTES} bytes: the file is not line-delimited text`);
    }
  } finally {
    await handle.close();
  }
}

function* parseBlock(text: Buffer, columns: string[], options: CsvReadOptions, uri: string, rangeNote: string, rowsBefore: number, batchRows: number, wholeFile: boolean): Generator<RowBatch> {
  const source = `${uri}${rangeNote ? ` (the shard's range${rangeNote})` : ''}`;
  const string = text.toString('utf8');
  let table;
  try {
    // The header was read once; every block parses as data under its names.
    table = parseCsv(string, { ...options, header: 'Absent', columns }, source);
  } catch (err) {
    if (err instanceof DataError && /is never closed/.test(err.message)) throw quotedLineBreak(source);
    throw err;
  }
  if (!wholeFile && string.includes('"')) {
    for (const row of table.rows) if (row.some((cell) => cell !== null && cell.includes('\n'))) throw quotedLineBreak(source);
  }
  for (let i = 0; i < table.rows.length; i += batchRows) {
    const from = rowsBefore + i;
    yield { source: uri, columns, rows: table.rows.slice(i, i + batchRows), where: (r) => `${uri} row ${from + r + 1}${rangeNote}` };
  }
}

const QUOTE = 34;

/** Where the last whole record of `text` ends, for text that starts outside quotes: after its last line break outside quotes (0 if none). */
function lastRecordEnd(text: Buffer): number {
  if (!text.includes(QUOTE)) return text.lastIndexOf(LF) + 1;
  let quoted = false;
  let end = 0;
  for (let i = 0; i < text.length; i++) {
    const byte = text[i];
    // A doubled quote inside a quoted cell toggles twice, so it leaves the state as it was.
    if (byte === QUOTE) quoted = !quoted;
    else if (byte === LF && !quoted) end = i + 1;
  }
  return end;
}

/** A shard in the middle of a file cannot tell that it starts inside quotes, so split files hold one record per line. */
function quotedLineBreak(source: string): DataError {
  return new DataError(`${source} has a line break inside a quoted cell: a CSV file that shards split by byte range must hold one record per line; remove the line breaks, score it with shards: 1, gzip the file (format CsvGzip is read whole by one shard) or convert it to Parquet`);
}

/** The column names and the byte where data starts: after the header line, or at 0 (after a BOM) without one. */
async function csvHeader(uri: string, options: CsvReadOptions, read: (at: number, length: number) => Promise<Buffer>, size: number): Promise<{ columns: string[]; dataStart: number }> {
  const head = await read(0, Math.min(size, 3));
  const bom = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  if (options.header === 'Absent') {
    if (!options.columns) throw new DataError(`${uri}: csv.header is Absent but csv.columns is unset: list the column names in file order`);
    return { columns: options.columns, dataStart: bom };
  }
  // Empty and comment lines before the header are skipped, as parseCsv skips them.
  let pos = bom;
  let text = Buffer.alloc(0);
  while (pos < size && text.length <= MAX_LINE_BYTES) {
    const block = await read(pos, SMALL_READ);
    pos += block.length;
    text = Buffer.concat([text, block]);
    let lineStart = 0;
    for (let lf = text.indexOf(LF); lf !== -1 || pos >= size; lf = text.indexOf(LF, lineStart)) {
      const lineEnd = lf === -1 ? text.length : lf + 1;
      const line = text.subarray(lineStart, lineEnd).toString('utf8');
      const blank = line.replace(/\r?\n$/, '') === '' || (options.commentPrefix !== undefined && line.startsWith(options.commentPrefix));
      if (!blank) return { columns: parseCsv(line, options, uri).columns, dataStart: bom + lineEnd };
      if (lf === -1) break;
      lineStart = lineEnd;
    }
  }
  throw new DataError(`${uri} is empty: expected a header line (set csv.header to Absent and list csv.columns if it has none)`);
}

/** Reads up to `length` bytes of an open file from `at` (fewer at its end) and counts what it read. */
async function readSpan(handle: FileHandle, at: number, length: number, count: (n: number) => void): Promise<Buffer> {
  const buffer = Buffer.alloc(Math.max(0, length));
  let got = 0;
  while (got < buffer.length) {
    const { bytesRead } = await handle.read(buffer, got, buffer.length - got, at + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  count(got);
  return buffer.subarray(0, got);
}

/** An AsyncBuffer over an open file that counts what it reads. */
function fileBuffer(handle: FileHandle, size: number, count: (n: number) => void): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      const bytes = await readSpan(handle, start, stop - start, count);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
    },
  };
}

/** The row groups whose first byte lies in this shard's share of the file, each read alone. */
async function* parquetGroups(source: DataSource, path: string, shard: number, shards: number, batchRows: number, count: (n: number) => void): AsyncGenerator<RowBatch> {
  const handle = await openSource(source.uri, path);
  try {
    const size = (await handle.stat()).size;
    const file = fileBuffer(handle, size, count);
    let metadata: FileMetaData;
    try {
      // The footer alone: the default first read (512 KiB) would count much of a small file.
      metadata = await parquetMetadataAsync(file, { initialFetchSize: 8 << 10 });
    } catch (err) {
      throw new DataError(`${source.uri} is not a readable Parquet file (${(err as Error).message}): the file is truncated or not Parquet`, { cause: err });
    }
    const fields = parquetSchema(metadata).children.map((c) => c.element);
    const columns = fields.map((f) => f.name);
    const isDate = fields.map((f) => f.converted_type === 'DATE' || f.logical_type?.type === 'DATE');
    // Shares are of the row groups' bytes (not the footer's), so equal groups split evenly.
    const spans = metadata.row_groups.map((group) => {
      const starts = group.columns.map((c) => Number(c.meta_data?.dictionary_page_offset ?? c.meta_data?.data_page_offset ?? c.file_offset));
      const ends = group.columns.map((c, i) => starts[i]! + Number(c.meta_data?.total_compressed_size ?? 0));
      return { first: Math.min(...starts), last: Math.max(...ends) };
    });
    const dataStart = Math.min(...spans.map((s) => s.first));
    const dataEnd = Math.max(...spans.map((s) => s.last));
    const [start, end] = byteRange(dataStart, dataEnd - dataStart, shard, shards);
    let rowStart = 0;
    for (const [g, group] of metadata.row_groups.entries()) {
      const rows = Number(group.num_rows);
      const from = rowStart;
      rowStart += rows;
      if (spans[g]!.first < start || spans[g]!.first >= end) continue;
      let values: unknown[][] = [];
      try {
        await parquetRead({ file, metadata, columns, rowStart: from, rowEnd: from + rows, compressors: parquetCodecs, rowFormat: 'array', onComplete: (r) => (values = r) });
      } catch (err) {
        throw new DataError(`${source.uri}: cannot read its Parquet data (${(err as Error).message}): the file is damaged or uses an unsupported encoding`, { cause: err });
      }
      for (let i = 0; i < values.length; i += batchRows) {
        const offset = from + i;
        const batch = values.slice(i, i + batchRows).map((row) => row.map((v, c) => parquetCell(v, isDate[c] === true)));
        yield { source: source.uri, columns, rows: batch, where: (r) => `${source.uri} row ${offset + r + 1}` };
      }
      values = [];
    }
  } finally {
    await handle.close();
  }
}
