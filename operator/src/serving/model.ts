// A model version as the scorer holds it: the ONNX session, its input schema and the shared
// feature-spec encoder, loaded from the version's artifacts and warmed up before it serves.
import type { Storage } from '@google-cloud/storage';
import type * as ort from 'onnxruntime-node';
import { readArtifact } from '../artifacts/store.js';
import { createSession, runModel, type ModelOutputs } from '../export/onnx-runner.js';
import { parseReferenceProfile, type ReferenceProfile } from '../features/profile.js';
import { inputSchema, type InputSchema } from '../features/schema.js';
import { MISSING_CATEGORY, recordEncoder, sourceColumn, type EncodedRow, type RecordEncoder, type RecordReader } from '../features/transform.js';
import { MicroBatcher } from './batcher.js';

export interface ServedModel {
  name: string;
  version: number;
  uri: string;
  schema: InputSchema;
  /** Raw record → model inputs, exactly as training encoded them. */
  encode: RecordEncoder;
  /** Source columns a raw record must carry (null for a missing value). */
  columns: string[];
  profile?: ReferenceProfile;
  /** Scores rows, coalescing concurrent calls into one onnxruntime run. */
  score: (rows: EncodedRow[]) => Promise<ModelOutputs>;
  batcher: MicroBatcher;
  release(): Promise<void>;
}

export interface LoadOptions {
  gcs?: Storage;
  /** Largest number of rows coalesced into one run. */
  maxBatchRows?: number;
  /** onnxruntime intra-op threads; 1 suits a scorer per core. */
  threads?: number;
}

export async function loadServedModel(name: string, version: number, uri: string, options: LoadOptions = {}): Promise<ServedModel> {
  const store = options.gcs ? { gcs: options.gcs } : {};
  const [schemaBytes, onnx, profileBytes] = await Promise.all([
    readArtifact(uri, 'input-schema.json', store),
    readArtifact(uri, 'model.onnx', store),
    readArtifact(uri, 'reference-profile.json', store).catch(() => undefined),
  ]);
  const schema = inputSchema.parse(JSON.parse(schemaBytes.toString('utf8')));
  const session: ort.InferenceSession = await createSession(onnx, { threads: options.threads ?? 1 });
  const batcher = new MicroBatcher((rows) => runModel(session, schema.inputs, rows), options.maxBatchRows ?? 1024);
  const model: ServedModel = {
    name,
    version,
    uri,
    schema,
    encode: recordEncoder(schema),
    columns: [...new Set(schema.features.columns.map(sourceColumn))],
    ...(profileBytes ? { profile: parseReferenceProfile(JSON.parse(profileBytes.toString('utf8')), `${uri}reference-profile.json`) } : {}),
    score: (rows) => batcher.submit(rows),
    batcher,
    release: () => session.release(),
  };
  // The first run allocates and plans; do it before reporting ready, not on a user's request.
  const blank: EncodedRow = schema.inputs.map((i) => (i.type === 'Numeric' ? Number.NaN : MISSING_CATEGORY));
  for (let i = 0; i < 3; i++) await model.score([blank]);
  return model;
}
