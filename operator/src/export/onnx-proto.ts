// A minimal writer for the ONNX protobuf messages a compiled model needs (onnx/onnx.proto3):
// ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto and ValueInfoProto.
// Field numbers are ONNX's; everything is written, nothing is read.

export const DataType = { FLOAT: 1, UINT8: 2, INT64: 7, STRING: 8, BOOL: 9, DOUBLE: 11 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

export interface Tensor {
  name?: string;
  dims: number[];
  dataType: DataTypeCode;
  /** Typed data for numeric tensors; strings for STRING tensors. */
  data: Float32Array | Float64Array | BigInt64Array | Uint8Array | string[];
}

export type AttrValue =
  | { float: number }
  | { int: number | bigint }
  | { string: string }
  | { tensor: Tensor }
  | { floats: number[] | Float32Array }
  | { ints: (number | bigint)[] | BigInt64Array | Int32Array }
  | { strings: string[] };

export interface Node {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes?: Record<string, AttrValue>;
}

export interface ValueInfo {
  name: string;
  elemType: DataTypeCode;
  /** A number is a fixed size; a string names a symbolic dimension such as "N". */
  shape: (number | string)[];
}

export interface Model {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  graph: { name: string; nodes: Node[]; initializers: Tensor[]; inputs: ValueInfo[]; outputs: ValueInfo[] };
  metadata?: Record<string, string>;
}

const encoder = new TextEncoder();

class Writer {
  private buf = new Uint8Array(1024);
  private len = 0;

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  varint(value: number | bigint): void {
    // Negative int64 values are written as their 64-bit two's complement, 10 bytes.
    let v = typeof value === 'bigint' ? BigInt.asUintN(64, value) : value >= 0 && value <= 0xffffffff ? value : BigInt.asUintN(64, BigInt(value));
    this.ensure(10);
    if (typeof v === 'number') {
      while (v > 0x7f) {
        this.buf[this.len++] = (v & 0x7f) | 0x80;
        v = Math.floor(v / 128);
      }
      this.buf[this.len++] = v;
      return;
    }
    while (v > 0x7fn) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  string(field: number, text: string): void {
    this.bytes(field, encoder.encode(text));
  }

  int(field: number, value: number | bigint): void {
    this.tag(field, 0);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, value, true);
    this.len += 4;
  }

  message(field: number, write: (w: Writer) => void): void {
    const inner = new Writer();
    write(inner);
    this.bytes(field, inner.finish());
  }

  packedVarints(field: number, values: Iterable<number | bigint>): void {
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function littleEndian(data: Float32Array | Float64Array | BigInt64Array | Uint8Array): Uint8Array {
  // Typed arrays are little-endian on every platform Node supports for this (x64, arm64).
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function writeTensor(w: Writer, t: Tensor): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  if (t.name) w.string(8, t.name);
  if (Array.isArray(t.data)) {
    for (const s of t.data) w.string(6, s);
  } else {
    w.bytes(9, littleEndian(t.data));
  }
}

function writeAttribute(w: Writer, name: string, value: AttrValue): void {
  w.string(1, name);
  if ('float' in value) {
    w.float(2, value.float);
    w.int(20, AttrType.FLOAT);
  } else if ('int' in value) {
    w.int(3, value.int);
    w.int(20, AttrType.INT);
  } else if ('string' in value) {
    w.string(4, value.string);
    w.int(20, AttrType.STRING);
  } else if ('tensor' in value) {
    w.message(5, (m) => writeTensor(m, value.tensor));
    w.int(20, AttrType.TENSOR);
  } else if ('floats' in value) {
    const data = Float32Array.from(value.floats);
    w.bytes(7, littleEndian(data));
    w.int(20, AttrType.FLOATS);
  } else if ('ints' in value) {
    w.packedVarints(8, value.ints as Iterable<number | bigint>);
    w.int(20, AttrType.INTS);
  } else {
    for (const s of value.strings) w.string(9, s);
    w.int(20, AttrType.STRINGS);
  }
}

function writeValueInfo(w: Writer, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.elemType);
      tensor.message(2, (shape) => {
        for (const d of v.shape) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

function writeNode(w: Writer, n: Node): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [name, value] of Object.entries(n.attributes ?? {})) w.message(5, (a) => writeAttribute(a, name, value));
  if (n.domain) w.string(7, n.domain);
}

export function encodeModel(model: Model): Uint8Array {
  const w = new Writer();
  w.int(1, model.irVersion);
  w.string(2, model.producerName);
  w.string(3, model.producerVersion);
  w.message(7, (g) => {
    for (const n of model.graph.nodes) g.message(1, (m) => writeNode(m, n));
    g.string(2, model.graph.name);
    for (const t of model.graph.initializers) g.message(5, (m) => writeTensor(m, t));
    for (const i of model.graph.inputs) g.message(11, (m) => writeValueInfo(m, i));
    for (const o of model.graph.outputs) g.message(12, (m) => writeValueInfo(m, o));
  });
  for (const op of model.opsets) {
    w.message(8, (m) => {
      if (op.domain) m.string(1, op.domain);
      m.int(2, op.version);
    });
  }
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    w.message(14, (m) => {
      m.string(1, key);
      m.string(2, value);
    });
  }
  return w.finish();
}
