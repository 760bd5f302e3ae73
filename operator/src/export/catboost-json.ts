// The parts of CatBoost's JSON model format (`save_model(format="json", pool=...)`) the ONNX
// compiler reads. Written by catboost/libs/model/model_export/json_model_helpers.cpp.
import { z } from 'zod';

// CatBoost writes an empty list as null (an untouched NJson value), e.g. `"splits": null` for a
// tree without splits, so every list here reads null as empty.
const list = <T extends z.ZodTypeAny>(item: T) =>
  z
    .array(item)
    .nullish()
    .transform((v): z.infer<T>[] => v ?? []);

const floatFeature = z.object({
  feature_index: z.number().int(),
  flat_feature_index: z.number().int(),
  borders: list(z.number()),
  has_nans: z.boolean().optional(),
  nan_value_treatment: z.enum(['AsIs', 'AsFalse', 'AsTrue']).optional(),
});

const catFeature = z.object({
  feature_index: z.number().int(),
  flat_feature_index: z.number().int(),
  /** Hashes (signed i32) that one-hot splits test for, in bin order. */
  values: list(z.number().int()),
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
  elements: list(ctrElement),
  ctr_type: z.enum(ctrTypes),
  prior_numerator: z.number(),
  prior_denomerator: z.number(),
  shift: z.number(),
  scale: z.number(),
  target_border_idx: z.number().int(),
  borders: list(z.number()),
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
  model_info: z.record(z.string(), z.unknown()).nullish(),
  oblivious_trees: list(z.object({ splits: list(split), leaf_values: list(z.number()) })),
  trees: list(treeNode),
  features_info: z.object({
    float_features: list(floatFeature),
    categorical_features: list(catFeature),
    ctrs: list(ctr),
    cat_features_hash: list(z.object({ hash: z.number(), value: z.string() })),
  }),
  ctr_data: z
    .record(
      z.string(),
      z.object({
        /** Flat records of hash_stride cells: the u64 key as decimal text, then counts or (sum, count). */
        hash_map: list(z.union([z.string(), z.number()])),
        hash_stride: z.number().int(),
        counter_denominator: z.number().optional(),
      }),
    )
    .nullish(),
  scale_and_bias: z.tuple([z.number(), z.union([z.number(), list(z.number())])]).nullish(),
});
export type CatboostModel = z.infer<typeof catboostModel>;

/** Where and why a model.json does not parse, e.g. `oblivious_trees[3].splits: expected array, received string`. */
export function modelFormatError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'unknown error';
  const path = issue.path.reduce<string>((at, key) => (typeof key === 'number' ? `${at}[${key}]` : at ? `${at}.${String(key)}` : String(key)), '');
  return `${path || '(the top level)'}: ${issue.message}`;
}
