// The feature spec: how raw records become model inputs. One definition, used by training
// preparation, the online scorer and batch scoring alike, so training and serving cannot skew.
import { z } from 'zod';
import { columnName, decimal, decimalString, featureName, withRules } from './common.js';

export const featureType = z
  .enum(['Numeric', 'Categorical', 'MultiLabel'])
  .describe('Numeric: a number. Categorical: a string category handled natively by CatBoost. MultiLabel: "a;b;c" answers, expanded into one 0/1 feature per frequent value.');

export const feature = withRules(
  z.object({
    name: featureName.describe('Model input name; also the key in scoring requests.'),
    column: columnName.optional().describe('Source column, if different from name.'),
    type: featureType,
    valueMap: z
      .record(z.string().max(256), z.string().max(256))
      .optional()
      .describe('Raw value → value before typing, e.g. {"Less than 1 year": "0.5"} for a Numeric feature.'),
    missing: decimal
      .optional()
      .describe('Numeric only: value used for missing cells. Unset: missing stays missing (CatBoost treats it as the smallest value).'),
    multiLabel: z
      .object({
        separator: z.string().min(1).max(8).default(';').describe('Separator between answers.'),
        topK: z.int32().min(1).max(256).default(20).describe('Number of most frequent training values that get an indicator feature.'),
      })
      .optional()
      .describe('MultiLabel only: how answers are split and how many become features.'),
  }),
  [
    {
      rule: "self.type == 'MultiLabel' || !has(self.multiLabel)",
      message: 'multiLabel applies only to type MultiLabel: remove it or change the type',
      fieldPath: '.multiLabel',
      check: (f) => f.type === 'MultiLabel' || f.multiLabel === undefined,
    },
    {
      rule: "self.type == 'Numeric' || !has(self.missing)",
      message: 'missing applies only to Numeric features (a missing category is its own value)',
      fieldPath: '.missing',
      check: (f) => f.type === 'Numeric' || f.missing === undefined,
    },
  ],
).describe('One model input.');
export type Feature = z.infer<typeof feature>;

export const target = z
  .object({
    column: columnName.describe('Source column holding the label.'),
    transform: z
      .enum(['None', 'Log', 'Log1p'])
      .default('None')
      .describe('Regression only: train on log(y) or log(1+y); predictions are transformed back inside the ONNX graph.'),
    estimate: z
      .enum(['Median', 'Mean'])
      .optional()
      .describe(
        'Regression with transform Log or Log1p: what a prediction estimates; Median when unset. Median: exp of the predicted log, the median of y given the inputs (below its mean on skewed targets such as prices). ' +
          "Mean: the mean of y, by Duan's smearing: exp of the predicted log times the mean of exp(residual) on the training split (for Log1p, minus 1 after the multiply), compiled into the ONNX graph. No effect with transform None.",
      ),
    scale: decimalString({ above: 0, message: 'scale must be above 0 (the target is divided by it), e.g. "1000" for thousands' })
      .optional()
      .describe('Regression only: divide the target by this before training, e.g. "1000" for thousands; above 0.'),
    valueMap: z
      .record(z.string().max(256), z.string().max(256))
      .optional()
      .describe('Raw label → class, e.g. {">50K.": ">50K"} to merge spellings.'),
    positiveClass: z.string().max(256).optional().describe('Binary only: the class whose probability the model outputs.'),
  })
  .describe('The label to learn.');

export const featureSpec = withRules(
  z.object({
    target,
    columns: z
      .array(feature)
      .min(1)
      .max(512)
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
      .describe('Model inputs, in model order.'),
    idColumns: z
      .array(columnName)
      .max(16)
      .optional()
      .describe('Columns carried through batch scoring to the output untouched (e.g. a row id).'),
  }),
  [
    {
      rule: 'self.columns.all(c, (has(c.column) ? c.column : c.name) != self.target.column)',
      message: 'the target column cannot also be a feature: remove it from columns',
      fieldPath: '.columns',
      check: (s) => s.columns.every((c) => (c.column ?? c.name) !== s.target.column),
    },
  ],
)
  // The API server enforces unique names through the list's map type; this is the same check for zod.
  .superRefine((spec, ctx) => {
    const seen = new Set<string>();
    spec.columns.forEach((c, i) => {
      if (seen.has(c.name)) ctx.addIssue({ code: 'custom', message: `duplicate feature name "${c.name}"`, path: ['columns', i] });
      seen.add(c.name);
    });
  })
  .describe('How raw records become model inputs; stored with the model and applied again at scoring time.');
export type FeatureSpec = z.infer<typeof featureSpec>;
