// The parts of CatBoost's JSON model format (`save_model(format="json", pool=...)`) the ONNX
// compiler reads. Written by catboost/libs/model/model_export/json_model_helpers.cpp.
import { z } from 'zod';

const floatFeature = z.object({
  feature_index: z.number().int(),
  flat_feature_index: z.number().int(),
  borders: z.array(z.number()).nullish(),
  has_nans: z.boolean().optional(),
  nan_value_treatment: z.enum(['AsIs', 'AsFalse', 'AsTrue']).optional(),
});

const catFeature = z.object({
  feature_index: z.number().int(),
  flat_feature_index: z.number().int(),
  /** Hashes (signed i32) that one-hot splits test for, in bin order. */
  values: z.array(z.number().int()).nullish(),
});

const ctrElement = z.discriminatedUnion('combination_element', [
  z.object({ combination_element: z.literal('cat_feature_value'), cat_feature_index: z.number().int() }),
  z.object({ combination_element: z.literal('float_feature'), float_feature_index: z.number().int(), border: z.number() }),
  z.object({ combination_element: z.literal('cat_feature_exact_value'), cat_feature_index: z.number().int(), value: z.number().int() }),
]);
export type CtrElement = z.infer<typeof ctrElement>;

export const ctrTypes = ['Borders', 'Buckets', 'BinarizedTargetMeanValue', 'FloatTargetMeanValue', 'Counter', 'FeatureFreq'] as const;
export type CtrType = (typeof ctrTypes)[number];

const ctr = z.object({
  identifier: z.string(),
  elements: z.array(ctrElement),
  ctr_type: z.enum(ctrTypes),
  prior_numerator: z.number(),
  prior_denomerator: z.number(),
  shift: z.number(),
  scale: z.number(),
  target_border_idx: z.number().int(),
  borders: z.array(z.number()),
});
export type Ctr = z.infer<typeof ctr>;

const split = z.object({
  split_type: z.enum(['FloatFeature', 'OneHotFeature', 'OnlineCtr']),
  split_index: z.number().int(),
  float_feature_index: z.number().int().optional(),
  cat_feature_index: z.number().int().optional(),
  border: z.number().optional(),
  value: z.number().int().optional(),
  ctr_target_border_idx: z.number().int().optional(),
});
export type Split = z.infer<typeof split>;

export type TreeNode = { split: Split; left: TreeNode; right: TreeNode } | { value: number | number[]; weight?: number };
const treeNode: z.ZodType<TreeNode> = z.lazy(() =>
  z.union([z.object({ split, left: treeNode, right: treeNode }), z.object({ value: z.union([z.number(), z.array(z.number())]), weight: z.number().optional() })]),
);

export const catboostModel = z.object({
  model_info: z.record(z.string(), z.unknown()).optional(),
  oblivious_trees: z.array(z.object({ splits: z.array(split), leaf_values: z.array(z.number()) })).optional(),
  trees: z.array(treeNode).optional(),
  features_info: z.object({
    float_features: z.array(floatFeature).nullish(),
    categorical_features: z.array(catFeature).nullish(),
    ctrs: z.array(ctr).nullish(),
    cat_features_hash: z.array(z.object({ hash: z.number(), value: z.string() })).nullish(),
  }),
  ctr_data: z
    .record(
      z.string(),
      z.object({
        /** Flat records of hash_stride cells: the u64 key as decimal text, then counts or (sum, count). */
        hash_map: z.array(z.union([z.string(), z.number()])),
        hash_stride: z.number().int(),
        counter_denominator: z.number().optional(),
      }),
    )
    .optional(),
  scale_and_bias: z.tuple([z.number(), z.union([z.array(z.number()), z.number()])]).optional(),
});
export type CatboostModel = z.infer<typeof catboostModel>;
