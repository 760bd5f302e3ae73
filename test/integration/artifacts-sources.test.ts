// Reading data sources: CSV edge cases, gzip, Parquet, zip members, https with checksums, gs://.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { dataSource, type DataSource } from '../../operator/src/api/v1alpha1/data.js';
import { DataError, fetchBytes, makeStorage, readSource } from '../../operator/src/artifacts/sources.js';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs.js';
import { startHttpsServer, type HttpsServer } from '../support/https-server.js';
import { thriftStruct, varint, type ThriftField } from '../support/parquet-writer.js';
import { makeZip } from '../support/zip.js';

let dir: string;
let web: HttpsServer;
let gcs: FakeGcs;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const source = (input: Record<string, unknown>): DataSource => dataSource.parse(input);
const fileAt = (name: string, bytes: Buffer | string): string => {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return pathToFileURL(path).href;
};
const read = (name: string, bytes: Buffer | string, rest: Record<string, unknown> = {}) => readSource(source({ uri: fileAt(name, bytes), ...rest }));
const failure = async (promise: Promise<unknown>): Promise<DataError> => {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(DataError);
  expect((err as Error).message).not.toContain('\n');
  return err as DataError;
};

const adultCsv = 'age,workclass,income\n39, State-gov,<=50K\n50, ?,>50K\n';
const adultZip = () =>
  makeZip([
    { name: 'adult.names', data: Buffer.from('notes\n'), method: 'stored' },
    { name: 'adult.csv', data: Buffer.from(adultCsv), method: 'deflate' },
    { name: 'raw/adult.data', data: Buffer.from(adultCsv.split('\n').slice(1).join('\n')), method: 'stored' },
  ]);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'orchard-sources-'));
  const zip = adultZip();
  web = await startHttpsServer({
    '/data/adult.zip': zip,
    '/data/adult.zip?token=s3cret': zip,
    '/moved/adult.zip': { redirect: '/data/adult.zip' },
    '/loop': { redirect: '/loop' },
    '/insecure': { redirect: 'http://127.0.0.1:1/adult.zip' },
    '/gone.csv': { status: 404 },
  });
  gcs = await startFakeGcs({ buckets: ['orchard-data'] });
});

afterAll(async () => {
  await web?.close();
  await gcs?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('CSV', () => {
  it('reads RFC 4180 quotes, CRLF, a BOM, blank lines and NA values', async () => {
    const text = '\ufeffid,name,note\r\n1,"Smith, J.","said ""hi""\r\nthen left"\r\n\r\n2,,NA\r\n3,"",plain\r\n';
    const table = await read('quotes.csv', text, { csv: { naValues: ['NA'] } });
    expect(table.columns).toEqual(['id', 'name', 'note']);
    expect(table.rows).toEqual([
      ['1', 'Smith, J.', 'said "hi"\r\nthen left'],
      ['2', null, null],
      ['3', null, 'plain'],
    ]);
  });

  it('trims around cells before the NA check, keeps spaces inside quotes and skips comment lines', async () => {
    const text = '|1x3 Cross validator\nage, workclass, note\n39, State-gov , " quoted "\n|comment\n50,  ?  ,x\n';
    const table = await read('adult.test', text, { format: 'Csv', csv: { whitespace: 'Trim', naValues: ['?'], commentPrefix: '|' } });
    expect(table.columns).toEqual(['age', 'workclass', 'note']);
    expect(table.rows).toEqual([
      ['39', 'State-gov', ' quoted '],
      ['50', null, 'x'],
    ]);
  });

  it('takes column names from csv.columns when the header is absent, and tabs from a .tsv name', async () => {
    const table = await read('plain.tsv', 'a b\t1\nc\t2', { csv: { header: 'Absent', columns: ['name', 'n'] } });
    expect(table).toEqual({ columns: ['name', 'n'], rows: [['a b', '1'], ['c', '2']], source: expect.stringMatching(/plain\.tsv$/) });
    const err = await failure(read('wide.csv', '1,2,3\n', { csv: { header: 'Absent', columns: ['a', 'b'] } }));
    expect(err.message).toMatch(/wide\.csv: line 1 has 3 cells, expected 2: the file may be truncated or use another delimiter$/);
  });

  it('names the line of a row with too few cells, counting lines inside quotes', async () => {
    const err = await failure(read('short.csv', 'a,b,c\n1,"x\ny",3\n4,5\n'));
    expect(err.message).toMatch(/^file:\/\/\/.*short\.csv: line 4 has 2 cells, expected 3: the file may be truncated or use another delimiter$/);
  });

  it('reports an unterminated quote as truncation', async () => {
    const err = await failure(read('open.csv', 'a,b\n1,"never closed\n2,3\n'));
    expect(err.message).toMatch(/open\.csv: the quoted cell that starts on line 2 is never closed: the file is truncated/);
  });

  it('reads .csv.gz and names a truncated gzip file', async () => {
    const gz = zlib.gzipSync(adultCsv);
    const table = await read('adult.csv.gz', gz, { csv: { whitespace: 'Trim', naValues: ['?'] } });
    expect(table.rows).toEqual([
      ['39', 'State-gov', '<=50K'],
      ['50', null, '>50K'],
    ]);
    const err = await failure(read('cut.csv.gz', gz.subarray(0, gz.length - 12)));
    expect(err.message).toMatch(/cut\.csv\.gz: unexpected end of file: the file is truncated or not gzip$/);
  });

  it('asks for a format when the name does not tell it', async () => {
    const err = await failure(read('adult.data', adultCsv));
    expect(err.message).toMatch(/^cannot tell the format of file:\/\/\/.*adult\.data from its name: set data\.source\.format/);
  });
});

describe('Parquet', () => {
  it('reads every type as text: bigint, UTF-8 (gzip pages), double with NaN as missing, boolean, date', async () => {
    const parquet = makeParquet([
      { name: 'id', type: 'INT64', values: [1n, 2n, 9007199254740993n] },
      { name: 'name', type: 'BYTE_ARRAY', utf8: true, values: ['a', null, 'héllo'], codec: 'GZIP' },
      { name: 'score', type: 'DOUBLE', values: [1.5, Number.NaN, -0.25] },
      { name: 'flag', type: 'BOOLEAN', values: [true, false, true] },
      { name: 'day', type: 'INT32', date: true, values: [19723, 0, null] },
    ]);
    const table = await read('typed.parquet', parquet);
    expect(table.columns).toEqual(['id', 'name', 'score', 'flag', 'day']);
    expect(table.rows).toEqual([
      ['1', 'a', '1.5', 'true', '2024-01-01'],
      ['2', null, null, 'false', '1970-01-01'],
      ['9007199254740993', 'héllo', '-0.25', 'true', null],
    ]);
    const err = await failure(read('cut.parquet', parquet.subarray(0, parquet.length - 20)));
    expect(err.message).toMatch(/cut\.parquet is not a readable Parquet file .*: the file is truncated or not Parquet$/);
  });
});

describe('zip', () => {
  it('reads stored and deflated members, a gzip or Parquet member, and a zip64 archive with data descriptors', async () => {
    const csvOptions = { whitespace: 'Trim', naValues: ['?'] };
    const expected = [
      ['39', 'State-gov', '<=50K'],
      ['50', null, '>50K'],
    ];
    const zipUri = fileAt('adult.zip', adultZip());
    expect((await readSource(source({ uri: zipUri, zipMember: 'adult.csv', csv: csvOptions }))).rows).toEqual(expected);
    const raw = await readSource(source({ uri: zipUri, zipMember: 'raw/adult.data', csv: { ...csvOptions, header: 'Absent', columns: ['age', 'workclass', 'income'] } }));
    expect(raw).toEqual({ columns: ['age', 'workclass', 'income'], rows: expected, source: `${zipUri}!/raw/adult.data` });

    const zip64 = makeZip(
      [
        { name: 'nested/adult.csv.gz', data: zlib.gzipSync(adultCsv), method: 'stored' },
        { name: 'small.parquet', data: makeParquet([{ name: 'x', type: 'INT32', values: [7, null] }]), method: 'deflate' },
      ],
      { zip64: true, dataDescriptors: true },
    );
    const uri = fileAt('big.zip', zip64);
    expect((await readSource(source({ uri, zipMember: 'nested/adult.csv.gz', csv: csvOptions }))).rows).toEqual(expected);
    expect((await readSource(source({ uri, zipMember: 'small.parquet' }))).rows).toEqual([['7'], [null]]);
  });

  it('lists the members when the one asked for is missing, and catches a damaged member', async () => {
    const uri = fileAt('members.zip', adultZip());
    const err = await failure(readSource(source({ uri, zipMember: 'adult.data' })));
    expect(err.message).toBe(`${uri} has no member "adult.data": it holds "adult.names", "adult.csv", "raw/adult.data"; fix data.source.zipMember`);

    const many = makeZip(Array.from({ length: 25 }, (_, i) => ({ name: `part-${i}.csv`, data: Buffer.from('a\n1\n'), method: 'stored' as const })));
    const listed = await failure(readSource(source({ uri: fileAt('many.zip', many), zipMember: 'x.csv' })));
    expect(listed.message).toMatch(/it holds "part-0\.csv", .*, "part-19\.csv" and 5 more; fix data\.source\.zipMember$/);

    const damaged = adultZip();
    const first = 30 + 'adult.names'.length; // first byte of the stored member
    damaged.writeUInt8(damaged[first]! ^ 0xff, first);
    const crc = await failure(readSource(source({ uri: fileAt('damaged.zip', damaged), zipMember: 'adult.names', format: 'Zip' })));
    expect(crc.message).toMatch(/damaged\.zip!\/adult\.names: CRC-32 \w{8} does not match \w{8}: the archive is damaged$/);

    const notZip = await failure(readSource(source({ uri: fileAt('not.zip', adultCsv), zipMember: 'adult.csv' })));
    expect(notZip.message).toMatch(/not\.zip: no end-of-central-directory record: the file is truncated or not a zip archive$/);
  });
});

describe('https', () => {
  const zipSha = () => sha256(adultZip());

  it('downloads with the right sha256, follows a redirect and reads the zip member', async () => {
    const table = await readSource(source({ uri: `${web.url}/moved/adult.zip`, sha256: zipSha(), zipMember: 'adult.csv', csv: { whitespace: 'Trim' } }), { fetchCa: web.ca });
    expect(table.columns).toEqual(['age', 'workclass', 'income']);
    expect(table.rows[1]).toEqual(['50', '?', '>50K']);
    expect(table.source).toBe(`${web.url}/moved/adult.zip!/adult.csv`);
  });

  it('names the expected digest on a mismatch, and leaves the actual one to the log', async () => {
    const wrong = 'a'.repeat(64);
    const logged: string[] = [];
    const err = await failure(readSource(source({ uri: `${web.url}/data/adult.zip?token=s3cret`, sha256: wrong, zipMember: 'adult.csv' }), { fetchCa: web.ca, diagnostics: (l) => logged.push(l) }));
    expect(err.message).toBe(
      `${web.url}/data/adult.zip: the body's SHA-256 does not match the expected ${wrong}: update data.source.sha256 if the file changed upstream (the Pod log has the actual digest)`,
    );
    expect(err.message).not.toContain(zipSha());
    expect(logged).toEqual([`${web.url}/data/adult.zip: the body's SHA-256 is ${zipSha()}`]);
  });

  it('refuses a download without sha256 before making a request', async () => {
    const before = web.requests.length;
    const uri = `${web.url}/data/adult.zip`;
    const unchecked = { uri, zipMember: 'adult.csv' } as DataSource; // the schema itself rejects this
    const err = await failure(readSource(unchecked, { fetchCa: web.ca }));
    expect(err.message).toMatch(/https:\/\/ sources need sha256: set data\.source\.sha256/);
    await failure(fetchBytes(uri, { ca: web.ca }));
    expect(web.requests.length).toBe(before);
  });

  it('stops at redirect loops, plain-http redirects, HTTP errors and untrusted certificates', async () => {
    const options = { sha256: zipSha(), ca: web.ca };
    const before = web.requests.length;
    expect((await failure(fetchBytes(`${web.url}/loop`, options))).message).toBe(`${web.url}/loop: more than 5 redirects: use the file's final URL`);
    expect(web.requests.length - before).toBe(6);
    expect((await failure(fetchBytes(`${web.url}/insecure`, options))).message).toMatch(/which is not https:\/\//);
    expect((await failure(fetchBytes(`${web.url}/gone.csv`, options))).message).toBe(`${web.url}/gone.csv: HTTP 404 Not Found: check the URL`);
    const logged: string[] = [];
    const untrusted = await failure(fetchBytes(`${web.url}/data/adult.zip`, { sha256: zipSha(), diagnostics: (l) => logged.push(l) }));
    expect(untrusted.message).toBe(`could not fetch ${web.url}/data/adult.zip: connection failed; details in the Pod log`);
    expect(logged.join('\n')).toMatch(/self-signed certificate/);
  });
});

describe('gs://', () => {
  it('reads an object through the emulator and names a missing one', async () => {
    await gcs.storage.bucket('orchard-data').file('adult/adult.csv.gz').save(zlib.gzipSync(adultCsv), { resumable: false });
    const table = await readSource(source({ uri: 'gs://orchard-data/adult/adult.csv.gz', csv: { whitespace: 'Trim' } }), { gcs: gcs.storage });
    expect(table.rows).toEqual([
      ['39', 'State-gov', '<=50K'],
      ['50', '?', '>50K'],
    ]);
    const err = await failure(readSource(source({ uri: 'gs://orchard-data/adult/missing.csv' }), { gcs: gcs.storage }));
    expect(err.message).toBe('gs://orchard-data/adult/missing.csv does not exist: check the bucket and object name');
  });

  it('reaches the emulator from STORAGE_EMULATOR_HOST as host:port, URL or URL/storage/v1', async () => {
    const saved = process.env.STORAGE_EMULATOR_HOST;
    const forms = [gcs.url.replace('http://', ''), gcs.url, `${gcs.url}/storage/v1/`];
    try {
      for (const [i, form] of forms.entries()) {
        process.env.STORAGE_EMULATOR_HOST = form; // the client library reads it too
        const storage = makeStorage();
        await storage.bucket('orchard-data').file(`forms/${i}.csv`).save(`form\n${i}\n`); // a resumable upload
        expect((await fetchBytes(`gs://orchard-data/forms/${i}.csv`, { gcs: storage })).toString()).toBe(`form\n${i}\n`);
      }
    } finally {
      if (saved === undefined) delete process.env.STORAGE_EMULATOR_HOST;
      else process.env.STORAGE_EMULATOR_HOST = saved;
    }
  });
});

// A Parquet writer for the tests: one row group, one PLAIN data page (v1) per column, nullable columns,
// uncompressed or gzip pages. The footer is Thrift compact protocol.
interface ParquetColumn {
  name: string;
  type: 'BOOLEAN' | 'INT32' | 'INT64' | 'DOUBLE' | 'BYTE_ARRAY';
  utf8?: boolean;
  date?: boolean;
  codec?: 'UNCOMPRESSED' | 'GZIP';
  values: (boolean | number | bigint | string | null)[];
}

function makeParquet(columns: ParquetColumn[]): Buffer {
  const physical = { BOOLEAN: 0, INT32: 1, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 };
  const rows = columns[0]!.values.length;
  const out: Buffer[] = [Buffer.from('PAR1')];
  let offset = 4;
  const chunks: { column: ParquetColumn; offset: number; size: number; rawSize: number }[] = [];
  for (const column of columns) {
    const present = column.values.filter((v) => v !== null);
    const levels = Buffer.alloc(Math.ceil(rows / 8));
    column.values.forEach((v, i) => (levels[i >> 3]! |= v === null ? 0 : 1 << (i & 7)));
    const levelRun = Buffer.concat([varint(((levels.length) << 1) | 1), levels]); // one bit-packed run
    const lengthPrefix = Buffer.alloc(4);
    lengthPrefix.writeUInt32LE(levelRun.length);
    const page = Buffer.concat([lengthPrefix, levelRun, plain(column.type, present)]);
    const stored = column.codec === 'GZIP' ? zlib.gzipSync(page) : page;
    const header = thriftStruct([
      [1, 'i32', 0],
      [2, 'i32', page.length],
      [3, 'i32', stored.length],
      [5, 'struct', [[1, 'i32', rows], [2, 'i32', 0], [3, 'i32', 3], [4, 'i32', 3]]],
    ]);
    chunks.push({ column, offset, size: header.length + stored.length, rawSize: header.length + page.length });
    out.push(header, stored);
    offset += header.length + stored.length;
  }
  const schema: ThriftField[][] = [
    [[4, 'binary', 'schema'], [5, 'i32', columns.length]],
    ...columns.map((c): ThriftField[] => [
      [1, 'i32', physical[c.type]],
      [3, 'i32', 1],
      [4, 'binary', c.name],
      ...(c.utf8 ? [[6, 'i32', 0] as ThriftField] : c.date ? [[6, 'i32', 6] as ThriftField] : []),
    ]),
  ];
  const columnChunks = chunks.map(({ column, offset: at, size, rawSize }): ThriftField[] => [
    [2, 'i64', at],
    [3, 'struct', [
      [1, 'i32', physical[column.type]],
      [2, 'list-i32', [0, 3]],
      [3, 'list-binary', [column.name]],
      [4, 'i32', column.codec === 'GZIP' ? 2 : 0],
      [5, 'i64', rows],
      [6, 'i64', rawSize],
      [7, 'i64', size],
      [9, 'i64', at],
    ]],
  ]);
  const footer = thriftStruct([
    [1, 'i32', 1],
    [2, 'list-struct', schema],
    [3, 'i64', rows],
    [4, 'list-struct', [[[1, 'list-struct', columnChunks], [2, 'i64', offset - 4], [3, 'i64', rows]]]],
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(footer.length);
  return Buffer.concat([...out, footer, length, Buffer.from('PAR1')]);
}

function plain(type: ParquetColumn['type'], values: (boolean | number | bigint | string | null)[]): Buffer {
  if (type === 'BOOLEAN') {
    const bits = Buffer.alloc(Math.ceil(values.length / 8));
    values.forEach((v, i) => (bits[i >> 3]! |= v ? 1 << (i & 7) : 0));
    return bits;
  }
  return Buffer.concat(
    values.map((v) => {
      const b = Buffer.alloc(type === 'INT32' ? 4 : 8);
      if (type === 'INT32') b.writeInt32LE(v as number);
      else if (type === 'INT64') b.writeBigInt64LE(v as bigint);
      else if (type === 'DOUBLE') b.writeDoubleLE(v as number);
      else {
        const text = Buffer.from(v as string);
        b.writeUInt32LE(text.length);
        return Buffer.concat([b.subarray(0, 4), text]);
      }
      return b;
    }),
  );
}
