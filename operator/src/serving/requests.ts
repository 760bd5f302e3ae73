// Request validation: every request is checked against the model's input schema before it reaches
// the model, and every problem becomes a RequestError naming the field and what to send instead.
import { FeatureError, jsonRecordReader, PatternBudget, type EncodedRow } from '../features/transform.js';
import { closestName } from '../api/v1alpha1/common.js';
import type { ServedModel } from './model.js';
import { DEFAULT_EXTRA_FIELDS, type ExtraFields } from './spec.js';

export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

const bad = (message: string) => new RequestError(400, message);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

function checkKeys(body: Record<string, unknown>, allowed: string[], where: string): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw bad(`${where}${key}: unknown field (allowed: ${allowed.join(', ')})`);
  }
}

function checkBatch(n: number, maxRows: number, field: string): void {
  if (n === 0) throw bad(`${field}: the batch is empty: send at least one row`);
  if (n > maxRows) throw bad(`${field}: ${n} rows is over the limit of ${maxRows} per request: split the batch`);
}

/** `{"instances": [{column: value, ...}, ...]}` → model input rows, through the shared feature spec. */
export function parseInstances(body: unknown, model: ServedModel, maxRows: number, extra: ExtraFields = DEFAULT_EXTRA_FIELDS): EncodedRow[] {
  if (!isObject(body)) throw bad(`request body: expected a JSON object {"instances": [...]}, got ${describe(body)}`);
  checkKeys(body, ['instances'], '');
  const instances = body.instances;
  if (!Array.isArray(instances)) throw bad(`instances: expected an array of records, got ${describe(instances)}`);
  checkBatch(instances.length, maxRows, 'instances');
  const columns = model.columns;
  const rows: EncodedRow[] = new Array(instances.length);
  const budget = new PatternBudget();
  for (let i = 0; i < instances.length; i++) {
    const record: unknown = instances[i];
    if (!isObject(record)) throw bad(`instances[${i}]: expected a record {"column": value, ...}, got ${describe(record)}`);
    // The common case in one pass: exactly the model's columns, each its own. Anything else gets
    // the field-by-field check, which names what is wrong.
    let keys = 0;
    for (const _ in record) keys++;
    let exact = keys === columns.length;
    for (let c = 0; exact && c < columns.length; c++) exact = Object.hasOwn(record, columns[c]!);
    if (!exact) checkFields(record, i, model, extra);
    try {
      rows[i] = model.encode.budgeted(jsonRecordReader(record), budget);
    } catch (err) {
      if (err instanceof FeatureError) throw bad(`instances[${i}].${err.message}`);
      throw err;
    }
  }
  return rows;
}

function checkFields(record: Record<string, unknown>, i: number, model: ServedModel, extra: ExtraFields): void {
  const unread = Object.keys(record).filter((key) => !model.columns.includes(key));
  if (extra.policy === 'Reject' && unread.length) {
    throw bad(`instances[${i}].${unread[0]}: unknown field: the model reads ${model.columns.join(', ')} (its serving.extraFields.policy is Reject: send only these, or set the policy to Ignore)`);
  }
  for (const column of model.columns) {
    if (Object.hasOwn(record, column)) continue;
    // An ignored field may be this one misspelt: say so, or the client hunts for it.
    const near = closestName(column, unread);
    throw bad(`instances[${i}].${column}: missing: every record carries every column the model reads (null for a missing value)${near ? `; the record has ${near}: is it misspelt?` : ''}`);
  }
}

/** PassThrough: each record's echoed fields (null where a record lacks one), in request order. */
export function passedThrough(body: unknown, model: ServedModel, extra: ExtraFields): Record<string, unknown>[] | undefined {
  if (extra.policy !== 'PassThrough') return undefined;
  const fields = extra.passThrough ?? model.schema.features.idColumns ?? [];
  const instances = (body as { instances: Record<string, unknown>[] }).instances;
  return instances.map((record) => Object.fromEntries(fields.map((f) => [f, Object.hasOwn(record, f) ? record[f] : null])));
}

/**
 * Open Inference Protocol datatypes a numeric model input accepts, with the values each can hold: a
 * value its type cannot hold (INT8 1e30, UINT8 -5, INT32 2022.7) is a client's encoding bug, not data.
 */
const NUMERIC_TYPES = new Map<string, { integer: boolean; min: number; max: number }>([
  ['FP16', { integer: false, min: -65504, max: 65504 }],
  ['FP32', { integer: false, min: -3.4028234663852886e38, max: 3.4028234663852886e38 }],
  ['FP64', { integer: false, min: -Number.MAX_VALUE, max: Number.MAX_VALUE }],
  ['INT8', { integer: true, min: -(2 ** 7), max: 2 ** 7 - 1 }],
  ['INT16', { integer: true, min: -(2 ** 15), max: 2 ** 15 - 1 }],
  ['INT32', { integer: true, min: -(2 ** 31), max: 2 ** 31 - 1 }],
  ['INT64', { integer: true, min: -(2 ** 63), max: 2 ** 63 - 1 }],
  ['UINT8', { integer: true, min: 0, max: 2 ** 8 - 1 }],
  ['UINT16', { integer: true, min: 0, max: 2 ** 16 - 1 }],
  ['UINT32', { integer: true, min: 0, max: 2 ** 32 - 1 }],
  ['UINT64', { integer: true, min: 0, max: 2 ** 64 - 1 }],
]);

/** A numeric tensor's value → the model's number (NaN: missing), or what is wrong with it. */
function numericCell(v: unknown, datatype: string): number | string {
  if (v === null) return Number.NaN;
  if (datatype === 'BOOL') return typeof v === 'boolean' ? (v ? 1 : 0) : `expected true, false or null for BOOL, got ${shown(v)}`;
  const range = NUMERIC_TYPES.get(datatype)!;
  if (typeof v !== 'number' || !Number.isFinite(v)) return `expected a finite number or null, got ${shown(v)}`;
  if (range.integer && !Number.isInteger(v)) return `${v} is not an integer: ${datatype} holds integers (send FP64 for fractions)`;
  if (v < range.min || v > range.max) return `${v} is out of ${datatype}'s range ${range.min}..${range.max}: send a wider datatype such as FP64`;
  return v;
}

const shown = (v: unknown) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : describe(v));

/**
 * A tensor's data in row order: flat (OIP's usual form) or nested as the shape says, one level per
 * dimension. Ragged or over-nested data is refused, not flattened into rows it never meant.
 */
function tensorData(data: unknown, shape: number[], where: string): unknown[] {
  if (!Array.isArray(data)) throw bad(`${where}.data: expected an array of ${shape[0]} values, got ${describe(data)}`);
  const n = shape[0]!;
  const nested = data.some(Array.isArray);
  if (!nested) {
    if (data.length !== n) throw bad(`${where}.data: ${data.length} values for shape ${JSON.stringify(shape)}: send ${n} values, one per row`);
    return data;
  }
  if (shape.length === 1) throw bad(`${where}.data: nested arrays for shape [${n}]: send a flat array of ${n} values`);
  if (data.length !== n) throw bad(`${where}.data: ${data.length} rows for shape ${JSON.stringify(shape)}: send ${n} rows of one value, or ${n} values flat`);
  return data.map((row, r) => {
    if (!Array.isArray(row) || row.length !== 1 || Array.isArray(row[0])) {
      throw bad(`${where}.data[${r}]: expected [value] as shape ${JSON.stringify(shape)} says, got ${Array.isArray(row) ? `an array of ${row.length}` : shown(row)}: the data is ragged`);
    }
    return row[0];
  });
}

export interface InferRequest {
  id?: string;
  rows: EncodedRow[];
  /** PassThrough: the tensors named in passThrough, answered as they came. */
  passedThrough?: Record<string, unknown>[];
  /** Output tensors asked for; all when unset. */
  outputs?: string[];
}

/**
 * An Open Inference Protocol v2 request: one tensor per model input, shape [N, 1] or [N], the same
 * N for all; numbers for numeric inputs (null: missing), strings (BYTES) for categorical ones.
 */
export function parseInferRequest(body: unknown, model: ServedModel, maxRows: number, outputNames: string[], extra: ExtraFields = DEFAULT_EXTRA_FIELDS): InferRequest {
  if (!isObject(body)) throw bad(`request body: expected a JSON object {"inputs": [...]}, got ${describe(body)}`);
  checkKeys(body, ['id', 'parameters', 'inputs', 'outputs'], '');
  if (body.id !== undefined && typeof body.id !== 'string') throw bad(`id: expected a string, got ${describe(body.id)}`);
  if (body.parameters !== undefined && !isObject(body.parameters)) throw bad(`parameters: expected an object, got ${describe(body.parameters)}`);
  const inputs = body.inputs;
  if (!Array.isArray(inputs)) throw bad(`inputs: expected an array of tensors, got ${describe(inputs)}`);
  const byName = new Map<string, { tensor: Record<string, unknown>; index: number }>();
  inputs.forEach((tensor, index) => {
    if (!isObject(tensor)) throw bad(`inputs[${index}]: expected a tensor {"name", "shape", "datatype", "data"}, got ${describe(tensor)}`);
    checkKeys(tensor, ['name', 'shape', 'datatype', 'data', 'parameters'], `inputs[${index}].`);
    if (typeof tensor.name !== 'string') throw bad(`inputs[${index}].name: expected a string, got ${describe(tensor.name)}`);
    if (byName.has(tensor.name)) throw bad(`inputs[${index}].name: "${tensor.name}" is given twice`);
    byName.set(tensor.name, { tensor, index });
  });
  const expected = model.schema.inputs;
  const unread = [...byName.keys()].filter((name) => !expected.some((i) => i.name === name));
  if (extra.policy === 'Reject' && unread.length) {
    throw bad(`inputs: "${unread[0]}" is not an input of ${model.name} (inputs: ${expected.map((i) => i.name).join(', ')}; its serving.extraFields.policy is Reject: send only these, or set the policy to Ignore)`);
  }
  const echoed = extra.policy === 'PassThrough' ? (extra.passThrough ?? model.schema.features.idColumns ?? []).filter((name) => unread.includes(name)) : [];
  let n: number | undefined;
  const columns = expected.map((input) => {
    const given = byName.get(input.name);
    if (!given) throw bad(`inputs: "${input.name}" is missing: the model needs every input (${expected.map((i) => i.name).join(', ')})`);
    const { tensor, index } = given;
    const where = `inputs[${index}] (${input.name})`;
    const shape = tensor.shape;
    if (!Array.isArray(shape) || shape.length < 1 || shape.length > 2 || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0) || (shape.length === 2 && shape[1] !== 1)) {
      throw bad(`${where}.shape: expected [N, 1] or [N], got ${JSON.stringify(shape)?.slice(0, 60)}`);
    }
    const rows = shape[0] as number;
    if (n === undefined) {
      n = rows;
      checkBatch(n, maxRows, `${where}.shape`);
    } else if (rows !== n) {
      throw bad(`${where}.shape: ${rows} rows, but other inputs have ${n}: every input carries the same rows`);
    }
    const numeric = input.type === 'Numeric';
    const datatype = tensor.datatype;
    if (typeof datatype !== 'string' || (numeric ? datatype !== 'BOOL' && !NUMERIC_TYPES.has(datatype) : datatype !== 'BYTES')) {
      throw bad(`${where}.datatype: expected ${numeric ? 'BOOL, UINT8..UINT64, INT8..INT64 or FP16/FP32/FP64' : 'BYTES'} for this ${numeric ? 'numeric' : 'categorical'} input, got ${JSON.stringify(datatype)?.slice(0, 40)}`);
    }
    const data = tensorData(tensor.data, shape as number[], where);
    return data.map((v, r) => {
      if (numeric) {
        const cell = numericCell(v, datatype);
        if (typeof cell === 'string') throw bad(`${where}.data[${r}]: ${cell}`);
        return cell;
      }
      if (typeof v !== 'string') throw bad(`${where}.data[${r}]: expected a string, got ${describe(v)}`);
      return /[\t\r\n]/.test(v) ? v.replace(/[\t\r\n]/g, ' ') : v;
    });
  });
  const rows: EncodedRow[] = Array.from({ length: n! }, (_, r) => columns.map((c) => c[r]!));
  let outputs: string[] | undefined;
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw bad(`outputs: expected an array of {"name"}, got ${describe(body.outputs)}`);
    outputs = body.outputs.map((o, i) => {
      if (!isObject(o) || typeof o.name !== 'string') throw bad(`outputs[${i}]: expected {"name": "..."}`);
      if (!outputNames.includes(o.name)) throw bad(`outputs[${i}].name: "${o.name}" is not an output of ${model.name} (outputs: ${outputNames.join(', ')})`);
      return o.name;
    });
  }
  const passed = echoed.map((name) => byName.get(name)!.tensor);
  return { ...(typeof body.id === 'string' ? { id: body.id } : {}), rows, ...(outputs ? { outputs } : {}), ...(passed.length ? { passedThrough: passed } : {}) };
}
