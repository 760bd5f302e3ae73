import { describe, expect, it } from '@jest/globals';
import { inputSchema } from '../features/schema.js';
import { catboostModel } from './catboost-json.js';
import { catFeatureHash } from './cityhash.js';
import { calcHash, compileCatboostModel, ctrValue } from './compile.js';
import { createSession, runModel } from './onnx-runner.js';

const sext = (h: number) => BigInt.asUintN(64, BigInt(h));

describe('CTR keys and values', () => {
  // Table keys recorded in CatBoost's canon test model (python-package/ut/medium/canondata, export_to_python_with_cat_features).
  it('folds CalcHash over the sign-extended categorical hash, then binary conditions', () => {
    expect(calcHash(0n, sext(catFeatureHash('Private')))).toBe(8864790892067322495n);
    expect(calcHash(calcHash(0n, sext(catFeatureHash('Canada'))), 1n)).toBe(5942209973749353715n);
  });

  it('computes the CTR value in f32 with one rounding per operation', () => {
    const ctr = { prior_numerator: 0.5, prior_denomerator: 1, shift: 0, scale: 15 };
    // ((3 + 0.5) / (7 + 1) + 0) * 15 = 6.5625, exact in f32
    expect(ctrValue(ctr, 3, 7)).toBe(6.5625);
    // 1/3 rounds to f32 before the scale: not the f64 result.
    const third = ctrValue({ prior_numerator: 0, prior_denomerator: 0, shift: 0, scale: 3 }, 1, 3);
    expect(third).toBe(Math.fround(Math.fround(1 / 3) * 3));
    expect(Math.fround(third)).toBe(third);
  });
});

describe('models without splits', () => {
  const schema = inputSchema.parse({
    version: 1,
    task: 'Regression',
    features: { target: { column: 'y', transform: 'Log1p', estimate: 'Mean' }, columns: [{ name: 'city', type: 'Categorical' }] },
    inputs: [{ name: 'city', type: 'Categorical', feature: 'city' }],
    multiLabel: {},
  });
  const model = (trees: unknown[]) => catboostModel.parse({ features_info: { categorical_features: [{ feature_index: 0, flat_feature_index: 0 }] }, oblivious_trees: trees, scale_and_bias: [1, [0.5]] });
  const compile = (trees: unknown[], targetSmearing?: number) =>
    compileCatboostModel({ model: model(trees), schema, vocabulary: new Map([['city', ['a', 'b']]]), producerVersion: 'test', ...(targetSmearing ? { targetSmearing } : {}) });

  it('predicts the lone leaves’ sum plus the bias for every row, seen, unseen or empty, times the smearing factor', async () => {
    const { onnx, summary } = compile([{ leaf_values: [0.25], splits: null }, { leaf_values: [0.125], splits: null }], 1.5);
    expect(summary).toMatchObject({ trees: 2, nodes: 0 });
    const session = await createSession(onnx);
    const out = await runModel(session, schema.inputs, [['a'], ['never seen'], ['']]);
    await session.release();
    expect(Array.from(out.raw)).toEqual([0.875, 0.875, 0.875]);
    expect(Array.from(out.prediction!)).toEqual(new Array(3).fill(Math.exp(0.875) * 1.5 - 1));
  });

  it('refuses a model of no trees, which CatBoost cannot score either, and estimate Mean without a smearing factor', () => {
    expect(() => compile([], 1.5)).toThrow('the model has no trees (oblivious_trees and trees are empty), so CatBoost cannot score it either: retrain');
    expect(() => compile([{ leaf_values: [0.25], splits: null }])).toThrow(/estimate is Mean but the trained model has no targetSmearing in metrics.json: retrain/);
  });
});
