// A zip reader for data archives: central directory (with zip64), stored and deflated members,
// CRC-32 checked. Sizes come from the central directory, so members with data descriptors work.
import zlib from 'node:zlib';
import { DataError } from './errors.js';

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  encrypted: boolean;
}

const EOCD = 0x06054b50;
const ZIP64_EOCD_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL_HEADER = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;

/** Members of the archive (directories left out), in central-directory order. */
export function listZip(zip: Buffer, source: string): ZipEntry[] {
  try {
    return readCentralDirectory(zip, source);
  } catch (err) {
    // a length field that points outside the buffer
    if (err instanceof RangeError) throw new DataError(`${source}: a directory record points past the end: the file is truncated or not a zip archive`, { cause: err });
    throw err;
  }
}

function readCentralDirectory(zip: Buffer, source: string): ZipEntry[] {
  const bad = (what: string) => new DataError(`${source}: ${what}: the file is truncated or not a zip archive`);
  const eocd = findEocd(zip);
  if (eocd === -1) throw bad('no end-of-central-directory record');
  let count = zip.readUInt16LE(eocd + 10);
  let cdSize = zip.readUInt32LE(eocd + 12);
  let cdOffset = zip.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || zip.readUInt32LE(locator) !== ZIP64_EOCD_LOCATOR) throw bad('zip64 locator missing');
    const at = Number(zip.readBigUInt64LE(locator + 8));
    if (at + 56 > zip.length || zip.readUInt32LE(at) !== ZIP64_EOCD) throw bad('zip64 end-of-central-directory record missing');
    count = Number(zip.readBigUInt64LE(at + 32));
    cdSize = Number(zip.readBigUInt64LE(at + 40));
    cdOffset = Number(zip.readBigUInt64LE(at + 48));
  }
  if (cdOffset + cdSize > zip.length) throw bad('central directory past the end of the file');
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > zip.length || zip.readUInt32LE(p) !== CENTRAL_HEADER) throw bad(`central directory entry ${i + 1} is damaged`);
    const flags = zip.readUInt16LE(p + 8);
    const nameLength = zip.readUInt16LE(p + 28);
    const extraLength = zip.readUInt16LE(p + 30);
    const commentLength = zip.readUInt16LE(p + 32);
    const name = zip.toString(flags & 0x800 ? 'utf8' : 'latin1', p + 46, p + 46 + nameLength);
    const entry: ZipEntry = {
      name,
      method: zip.readUInt16LE(p + 10),
      crc32: zip.readUInt32LE(p + 16),
      compressedSize: zip.readUInt32LE(p + 20),
      size: zip.readUInt32LE(p + 24),
      localHeaderOffset: zip.readUInt32LE(p + 42),
      encrypted: (flags & 1) !== 0,
    };
    readZip64Extra(zip.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength), entry);
    if (!name.endsWith('/')) entries.push(entry);
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The bytes of one member, inflated and checked against its CRC-32. */
export function readZipEntry(zip: Buffer, entry: ZipEntry, source: string): Buffer {
  const where = `${source}!/${entry.name}`;
  if (entry.encrypted) throw new DataError(`${where} is encrypted: store the data unencrypted`);
  const at = entry.localHeaderOffset;
  if (at + 30 > zip.length || zip.readUInt32LE(at) !== LOCAL_HEADER) throw new DataError(`${where}: local header missing: the archive is damaged`);
  const start = at + 30 + zip.readUInt16LE(at + 26) + zip.readUInt16LE(at + 28);
  if (start + entry.compressedSize > zip.length) throw new DataError(`${where}: data past the end of the archive: the file is truncated`);
  const stored = zip.subarray(start, start + entry.compressedSize);
  let data: Buffer;
  if (entry.method === STORED) data = stored;
  else if (entry.method === DEFLATED) {
    try {
      data = zlib.inflateRawSync(stored);
    } catch (err) {
      throw new DataError(`${where}: cannot inflate (${(err as Error).message}): the archive is damaged`, { cause: err });
    }
  } else {
    throw new DataError(`${where} uses compression method ${entry.method}, which is not supported: re-create the archive with deflate (zip -Z deflate)`);
  }
  if (data.length !== entry.size) throw new DataError(`${where}: ${data.length} bytes, the directory says ${entry.size}: the archive is damaged`);
  const crc = crc32(data);
  if (crc !== entry.crc32) throw new DataError(`${where}: CRC-32 ${hex(crc)} does not match ${hex(entry.crc32)}: the archive is damaged`);
  return data;
}

function findEocd(zip: Buffer): number {
  const lowest = Math.max(0, zip.length - 22 - 0xffff);
  for (let p = zip.length - 22; p >= lowest; p--) {
    if (zip.readUInt32LE(p) === EOCD && p + 22 + zip.readUInt16LE(p + 20) <= zip.length) return p;
  }
  return -1;
}

/** The zip64 extra field holds, in order, whichever of size, compressed size, offset are 0xffffffff. */
function readZip64Extra(extra: Buffer, entry: ZipEntry): void {
  for (let p = 0; p + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(p);
    const length = extra.readUInt16LE(p + 2);
    if (id === 0x0001) {
      let q = p + 4;
      const next = (): number => {
        const v = Number(extra.readBigUInt64LE(q));
        q += 8;
        return v;
      };
      if (entry.size === 0xffffffff) entry.size = next();
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = next();
      if (entry.localHeaderOffset === 0xffffffff) entry.localHeaderOffset = next();
      return;
    }
    p += 4 + length;
  }
}

// zlib.crc32 arrived in Node 20.15 and 22.2; older runtimes get the table version.
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
let crcTable: Uint32Array | undefined;

export function crc32(data: Uint8Array): number {
  if (nativeCrc32) return nativeCrc32(data);
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const byte of data) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
