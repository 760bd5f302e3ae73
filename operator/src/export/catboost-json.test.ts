// What CatBoost's JSON writer emits for empty parts of a model, and how a file that does not parse is reported.
import { describe, expect, it } from '@jest/globals';
import { catboostModel, modelFormatError } from './catboost-json.js';

// CatBoost writes an empty vector as null: a tree without splits, a model without categorical features.
const sparse = {
  features_info: { float_features: [{ feature_index: 0, flat_feature_index: 0, borders: null }], categorical_features: null, ctrs: null, cat_features_hash: null },
  oblivious_trees: [
    { leaf_values: [0.25], leaf_weights: [60], splits: null },
    { leaf_values: [0.5, -0.5], splits: [{ split_type: 'FloatFeature', split_index: 0, float_feature_index: 0, border: 0.5 }] },
  ],
  ctr_data: { t: { hash_map: null, hash_stride: 3, counter_denominator: 0 } },
  scale_and_bias: [1, null],
};

describe('CatBoost JSON model', () => {
  it('reads the nulls CatBoost writes for empty lists as empty lists', () => {
    const model = catboostModel.parse(sparse);
    expect(model.oblivious_trees.map((t) => t.splits.length)).toEqual([0, 1]);
    expect(model.features_info.float_features[0]!.borders).toEqual([]);
    expect(model.features_info.categorical_features).toEqual([]);
    expect(model.features_info.ctrs).toEqual([]);
    expect(model.features_info.cat_features_hash).toEqual([]);
    expect(model.ctr_data!['t']!.hash_map).toEqual([]);
    expect(model.scale_and_bias).toEqual([1, []]);
    expect(model.trees).toEqual([]);
  });

  it('names the JSON path of what does not parse', () => {
    const broken = { ...sparse, oblivious_trees: [...sparse.oblivious_trees, sparse.oblivious_trees[0], { leaf_values: [1], splits: 'none' }] };
    const result = catboostModel.safeParse(broken);
    expect(result.success).toBe(false);
    expect(modelFormatError(result.error!)).toBe('oblivious_trees[3].splits: Invalid input: expected array, received string');
    const top = catboostModel.safeParse([]);
    expect(modelFormatError(top.error!)).toMatch(/^\(the top level\): /);
  });
});
