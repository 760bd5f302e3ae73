// A Parquet writer for tests that need several row groups: text columns (BYTE_ARRAY, UTF8), no
// nulls, one uncompressed PLAIN data page (v1) per column chunk. The footer is Thrift compact protocol.
export function makeTextParquet(columns: string[], rows: string[][], rowsPerGroup: number): Buffer {
  const out: Buffer[] = [Buffer.from('PAR1')];
  let offset = 4;
  const groups: ThriftField[][] = [];
  for (let from = 0; from < rows.length; from += rowsPerGroup) {
    const group = rows.slice(from, from + rowsPerGroup);
    const start = offset;
    const chunks = columns.map((name, c): ThriftField[] => {
      const page = Buffer.concat(
        group.map((row) => {
          const text = Buffer.from(row[c]!);
          const length = Buffer.alloc(4);
          length.writeUInt32LE(text.length);
          return Buffer.concat([length, text]);
        }),
      );
      // Required columns: no definition levels, the page is the values alone.
      const header = thriftStruct([
        [1, 'i32', 0],
        [2, 'i32', page.length],
        [3, 'i32', page.length],
        [5, 'struct', [[1, 'i32', group.length], [2, 'i32', 0], [3, 'i32', 3], [4, 'i32', 3]]],
      ]);
      const at = offset;
      out.push(header, page);
      offset += header.length + page.length;
      return [
        [2, 'i64', at],
        [3, 'struct', [
          [1, 'i32', 6],
          [2, 'list-i32', [0]],
          [3, 'list-binary', [name]],
          [4, 'i32', 0],
          [5, 'i64', group.length],
          [6, 'i64', header.length + page.length],
          [7, 'i64', header.length + page.length],
          [9, 'i64', at],
        ]],
      ];
    });
    groups.push([[1, 'list-struct', chunks], [2, 'i64', offset - start], [3, 'i64', group.length]]);
  }
  const schema: ThriftField[][] = [
    [[4, 'binary', 'schema'], [5, 'i32', columns.length]],
    ...columns.map((name): ThriftField[] => [[1, 'i32', 6], [3, 'i32', 0], [4, 'binary', name], [6, 'i32', 0]]),
  ];
  const footer = thriftStruct([
    [1, 'i32', 1],
    [2, 'list-struct', schema],
    [3, 'i64', rows.length],
    [4, 'list-struct', groups],
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(footer.length);
  return Buffer.concat([...out, footer, length, Buffer.from('PAR1')]);
}

export type ThriftField =
  | [number, 'i32' | 'i64', number]
  | [number, 'binary', string]
  | [number, 'struct', ThriftField[]]
  | [number, 'list-i32', number[]]
  | [number, 'list-binary', string[]]
  | [number, 'list-struct', ThriftField[][]];

export function thriftStruct(fields: ThriftField[]): Buffer {
  const type = { i32: 5, i64: 6, binary: 8, 'list-i32': 9, 'list-binary': 9, 'list-struct': 9, struct: 12 };
  const zigzag = (n: number) => varint(n >= 0 ? n * 2 : -n * 2 - 1);
  const binary = (s: string) => Buffer.concat([varint(Buffer.byteLength(s)), Buffer.from(s)]);
  const list = (elementType: number, items: Buffer[]) =>
    Buffer.concat([items.length < 15 ? Buffer.from([(items.length << 4) | elementType]) : Buffer.concat([Buffer.from([0xf0 | elementType]), varint(items.length)]), ...items]);
  const parts: Buffer[] = [];
  let last = 0;
  for (const [id, kind, value] of fields) {
    parts.push(Buffer.from([((id - last) << 4) | type[kind]]));
    last = id;
    if (kind === 'i32' || kind === 'i64') parts.push(zigzag(value));
    else if (kind === 'binary') parts.push(binary(value));
    else if (kind === 'struct') parts.push(thriftStruct(value));
    else if (kind === 'list-i32') parts.push(list(5, value.map(zigzag)));
    else if (kind === 'list-binary') parts.push(list(8, value.map(binary)));
    else if (kind === 'list-struct') parts.push(list(12, value.map(thriftStruct)));
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export function varint(n: number): Buffer {
  const bytes: number[] = [];
  for (; n > 0x7f; n = Math.floor(n / 128)) bytes.push((n % 128) | 0x80);
  bytes.push(n);
  return Buffer.from(bytes);
}
