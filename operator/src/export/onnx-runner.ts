// Runs a compiled model with onnxruntime-node on encoded rows: the column-per-input feeds the
// scorer, batch scoring and the export check all build the same way.
import * as ort from 'onnxruntime-node';
import type { ModelInput } from '../features/schema.js';
import type { EncodedRow } from '../features/transform.js';

export function feedsFor(inputs: ModelInput[], rows: EncodedRow[]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  inputs.forEach((input, j) => {
    if (input.type === 'Numeric') {
      const data = new Float32Array(rows.length);
      for (let r = 0; r < rows.length; r++) data[r] = rows[r]![j] as number;
      feeds[input.name] = new ort.Tensor('float32', data, [rows.length, 1]);
    } else {
      feeds[input.name] = new ort.Tensor('string', rows.map((row) => row[j] as string), [rows.length, 1]);
    }
  });
  return feeds;
}

export interface ModelOutputs {
  /** [rows × D] raw scores. */
  raw: Float64Array;
  dimension: number;
  /** Regression: the prediction in target units. */
  prediction?: Float64Array;
  /** Classification: [rows × classes] probabilities. */
  probabilities?: Float64Array;
}

export async function createSession(onnx: Uint8Array, options: { threads?: number } = {}): Promise<ort.InferenceSession> {
  const threads = options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1, executionMode: 'sequential' as const } : {};
  return ort.InferenceSession.create(onnx, { graphOptimizationLevel: 'all', ...threads });
}

export async function runModel(session: ort.InferenceSession, inputs: ModelInput[], rows: EncodedRow[]): Promise<ModelOutputs> {
  const result = await session.run(feedsFor(inputs, rows));
  const raw = result.raw!;
  const out: ModelOutputs = { raw: raw.data as Float64Array, dimension: Number(raw.dims[1] ?? 1) };
  if (result.prediction) out.prediction = result.prediction.data as Float64Array;
  if (result.probabilities) out.probabilities = result.probabilities.data as Float64Array;
  return out;
}
