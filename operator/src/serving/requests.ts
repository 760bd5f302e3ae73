// Request validation: every request is checked against the model's input schema before it reaches
// the model, and every problem becomes a RequestError naming the field and what to send instead.
import { FeatureError, jsonRecordReader, type EncodedRow } from '../features/transform.js';
import type { ServedModel } from './model.js';

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
export function parseInstances(body: unknown, model: ServedModel, maxRows: number): EncodedRow[] {
  if (!isObject(body)) throw bad(`request body: expected a JSON object {"instances": [...]}, got ${describe(body)}`);
  checkKeys(body, ['instances'], '');
  const instances = body.instances;
  if (!Array.isArray(instances)) throw bad(`instances: expected an array of records, got ${describe(instances)}`);
  checkBatch(instances.length, maxRows, 'instances');
  const columns = model.columns;
  const rows: EncodedRow[] = new Array(instances.length);
  for (let i = 0; i < instances.length; i++) {
    const record: unknown = instances[i];
    if (!isObject(record)) throw bad(`instances[${i}]: expected a record {"column": value, ...}, got ${describe(record)}`);
    // The common case in one pass: exactly the model's columns, each its own. Anything else gets
    // the field-by-field check, which names what is wrong.
    let keys = 0;
    for (const _ in record) keys++;
    let exact = keys === columns.length;
    for (let c = 0; exact && c < columns.length; c++) exact = Object.hasOwn(record, columns[c]!);
    if (!exact) checkFields(record, i, model);
    try {
      rows[i] = model.encode(jsonRecordReader(record));
    } catch (err) {
      if (err instanceof FeatureError) throw bad(`instances[${i}].${err.message}`);
      throw err;
    }
  }
  return rows;
}

function checkFields(record: Record<string, unknown>, i: number, model: ServedModel): void {
  for (const key of Object.keys(record)) {
    if (!model.columns.includes(key)) throw bad(`instances[${i}].${key}: unknown field: the model reads ${model.columns.join(', ')}`);
  }
  for (const column of model.columns) {
    if (!(column in record)) throw bad(`instances[${i}].${column}: missing: every record carries every column the model reads (null for a missing value)`);
  }
}

/** Open Inference Protocol datatypes each model input accepts. */
const NUMERIC_TYPES = new Set(['FP16', 'FP32', 'FP64', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'BOOL']);

export interface InferRequest {
  id?: string;
  rows: EncodedRow[];
  /** Output tensors asked for; all when unset. */
  outputs?: string[];
}

/**
 * An Open Inference Protocol v2 request: one tensor per model input, shape [N, 1] or [N], the same
 * N for all; numbers for numeric inputs (null: missing), strings (BYTES) for categorical ones.
 */
export function parseInferRequest(body: unknown, model: ServedModel, maxRows: number, outputNames: string[]): InferRequest {
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
  for (const name of byName.keys()) {
    if (!expected.some((i) => i.name === name)) throw bad(`inputs: "${name}" is not an input of ${model.name} (inputs: ${expected.map((i) => i.name).join(', ')})`);
  }
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
    if (typeof tensor.datatype !== 'string' || (numeric ? !NUMERIC_TYPES.has(tensor.datatype) : tensor.datatype !== 'BYTES')) {
      throw bad(`${where}.datatype: expected ${numeric ? 'a numeric type such as FP32 or FP64' : 'BYTES'} for this ${numeric ? 'numeric' : 'categorical'} input, got ${JSON.stringify(tensor.datatype)?.slice(0, 40)}`);
    }
    const data = Array.isArray(tensor.data) ? (tensor.data.length && Array.isArray(tensor.data[0]) ? tensor.data.flat() : tensor.data) : undefined;
    if (!data) throw bad(`${where}.data: expected an array of ${n} values, got ${describe(tensor.data)}`);
    if (data.length !== n) throw bad(`${where}.data: ${data.length} values for shape [${n}, 1]`);
    return data.map((v, r) => {
      if (numeric) {
        if (v === null) return Number.NaN;
        if (typeof v === 'boolean') return v ? 1 : 0;
        if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${where}.data[${r}]: expected a finite number or null, got ${typeof v === 'number' ? v : describe(v)}`);
        return v;
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
  return { ...(typeof body.id === 'string' ? { id: body.id } : {}), rows, ...(outputs ? { outputs } : {}) };
}
