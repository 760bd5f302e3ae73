// Parquet → Table through hyparquet; every value becomes text as in a CSV file.
import zlib from 'node:zlib';
import { parquetMetadata, parquetRead, parquetSchema, type Compressors, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { DataError } from './errors.js';
import type { Table } from './table.js';

// hyparquet alone reads uncompressed and Snappy pages; the rest come from hyparquet-compressors
// (ZSTD, LZ4), with Node's zlib for GZIP and BROTLI because it is faster.
export const parquetCodecs: Compressors = {
  ...compressors,
  GZIP: (input) => zlib.gunzipSync(input),
  BROTLI: (input) => zlib.brotliDecompressSync(input),
};

export async function parseParquet(bytes: Buffer, source: string): Promise<Table> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let metadata: FileMetaData;
  try {
    metadata = parquetMetadata(file);
  } catch (err) {
    throw new DataError(`${source} is not a readable Parquet file (${(err as Error).message}): the file is truncated or not Parquet`, { cause: err });
  }
  const fields = parquetSchema(metadata).children.map((c) => c.element);
  const columns = fields.map((f) => f.name);
  const isDate = fields.map((f) => f.converted_type === 'DATE' || f.logical_type?.type === 'DATE');
  let values: unknown[][] = [];
  try {
    await parquetRead({ file, metadata, columns, compressors: parquetCodecs, rowFormat: 'array', onComplete: (rows) => (values = rows) });
  } catch (err) {
    throw new DataError(`${source}: cannot read its Parquet data (${(err as Error).message}): the file is damaged or uses an unsupported encoding`, {
      cause: err,
    });
  }
  const rows = values.map((row) => row.map((v, i) => parquetCell(v, isDate[i] === true)));
  return { columns, rows, source };
}

/** A Parquet value as text; NaN counts as missing, since pandas writes missing floats as NaN. */
export function parquetCell(value: unknown, isDate = false): string | null {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      return Number.isNaN(value) ? null : String(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return null;
  }
  if (value === null) return null;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return null;
    return isDate ? value.toISOString().slice(0, 10) : value.toISOString();
  }
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
