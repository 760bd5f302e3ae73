// The feature spec: how raw records become model inputs. One definition, used by training
// preparation, the online scorer and batch scoring alike, so training and serving cannot skew.
import { z } from 'zod';
import { celString, columnName, decimal, decimalString, featureName, withRules } from './common.js';

export const featureType = z
  .enum(['Numeric', 'Categorical', 'MultiLabel'])
  .describe('Numeric: a number. Categorical: a string category handled natively by CatBoost. MultiLabel: "a;b;c" answers, expanded into one 0/1 feature per frequent value.');

// Patterns run in the scorer on every request, on a backtracking engine. Admission allows only what
// JavaScript and the API server's RE2 both read (no lookaround, backreference, named group or flag),
// no repeated group (exponential backtracking), 3 quantifiers and 2 repeats at most. On the 128
// characters a pattern reads of a cell (PATTERN_MAX_CELL), three overlapping repeats cost 20 ms a
// cell and two cost 1 ms; alternations between them still reach about 100 ms, so the scorer also
// bounds a request's pattern time (PatternBudget).
const PATTERN_RULES: { pattern: string; message: string }[] = [
  { pattern: '[(][?][^:]', message: 'only (...) and (?:...) groups: lookarounds, named groups and flags are not read the same by JavaScript and RE2' },
  { pattern: '[\\\\][1-9k]', message: 'backreferences (\\1, \\k<name>) are not supported: match the text itself' },
  { pattern: '[)][*+{]', message: 'a group can be optional but not repeated, which can backtrack exponentially: repeat a character or class instead, e.g. [0-9]+' },
];
const QUANTIFIER = '[*+{]|[^(][?]';
const MAX_QUANTIFIERS = 3;
const quantifierRe = new RegExp(QUANTIFIER, 'g');
const REPEAT = '[*+{]';
const MAX_REPEATS = 2;
const repeatRe = new RegExp(REPEAT, 'g');
const patternRegex = withRules(
  z
    .string()
    .min(1)
    .max(128)
    // Compiling needs JavaScript's engine, which admission lacks: the operator refuses such a spec as InvalidSpec.
    .superRefine((s, ctx) => {
      const problem = s.length > 128 ? undefined : patternProblem(s);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  [
    ...PATTERN_RULES.map(({ pattern, message }) => {
      const re = new RegExp(pattern);
      // Past the length limit the string is refused anyway; the check is then skipped, not run on megabytes.
      return { rule: `!self.matches(${celString(pattern)})`, message, check: (s: string) => s.length > 128 || !re.test(s) };
    }),
    {
      rule: `self.findAll(${celString(QUANTIFIER)}).size() <= ${MAX_QUANTIFIERS}`,
      message: `at most ${MAX_QUANTIFIERS} quantifiers (*, +, ?, {n,m}): each one multiplies what a mismatching cell can cost; Trim cells instead of matching spaces`,
      check: (s: string) => s.length > 128 || (s.match(quantifierRe)?.length ?? 0) <= MAX_QUANTIFIERS,
    },
    {
      rule: `self.findAll(${celString(REPEAT)}).size() <= ${MAX_REPEATS}`,
      message: `at most ${MAX_REPEATS} repeats (*, +, {n,m}): three overlapping ones cost tens of milliseconds on one mismatching cell: repeat fewer parts of the pattern, or match a fixed text instead`,
      check: (s: string) => s.length > 128 || (s.match(repeatRe)?.length ?? 0) <= MAX_REPEATS,
    },
  ],
);

/** Why a pattern cannot extract a value, or undefined: it must compile (Unicode mode) and have exactly one capture group. */
export function patternProblem(regex: string): string | undefined {
  let re: RegExp;
  try {
    re = new RegExp(regex, 'u');
  } catch (err) {
    return `does not compile: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  const groups = new RegExp(`${re.source}|`, 'u').exec('')!.length - 1;
  return groups === 1 ? undefined : `has ${groups} capture groups, needs exactly one, around the part to keep (use (?:...) for other groups)`;
}

const cellPattern = z
  .object({
    regex: patternRegex.describe('A regular expression with one capture group, searched in the cell (anchor it with ^ and $ to match all of it); the capture is the value.'),
    noMatch: z
      .enum(['Reject', 'Missing'])
      .default('Reject')
      .describe('A cell the regex does not match: Reject refuses the row (training stops, scoring answers 400), Missing reads it as missing.'),
  })
  .describe('Extract part of a cell.');

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
    pattern: cellPattern
      .optional()
      .describe('Numeric or Categorical: extract part of each cell with a regular expression, after valueMap and before range, e.g. {regex: "^([0-9]+) rooms?$"} reads "3 rooms" as 3.'),
    range: z
      .object({
        separator: z.string().min(1).max(8).default('-').describe('Text between the two bounds, e.g. "-" for "45-65"; a leading "-" is read as a sign.'),
        value: z
          .enum(['Midpoint', 'Lower', 'Upper'])
          .default('Midpoint')
          .describe('The number a range becomes: the midpoint of its bounds, or one of them. A lone number is a range of one value.'),
      })
      .optional()
      .describe('Numeric only: cells such as "45-65" become one number; a cell that is neither a number nor a range is refused like any non-number.'),
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
    {
      rule: "self.type == 'Numeric' || !has(self.range)",
      message: 'range applies only to Numeric features, whose cells it turns into one number: remove it or change the type',
      fieldPath: '.range',
      check: (f) => f.type === 'Numeric' || f.range === undefined,
    },
    {
      rule: "self.type != 'MultiLabel' || !has(self.pattern)",
      message: 'pattern applies to Numeric and Categorical features, not MultiLabel (whose answers are split, not extracted): remove it or change the type',
      fieldPath: '.pattern',
      check: (f) => f.type !== 'MultiLabel' || f.pattern === undefined,
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

export const cellOptions = z
  .object({
    whitespace: z
      .enum(['Keep', 'Trim'])
      .default('Keep')
      .describe('Trim: strip spaces around every value, so " Centro" is "Centro" in training and in every request.'),
    naValues: z
      .array(z.string().max(64))
      .max(64)
      .optional()
      .describe('Values read as missing (after Trim), e.g. ["--", "?"]; a JSON number matches by its decimal text, e.g. "-1".'),
  })
  .describe(
    'How every raw value is read before any feature sees it: by training, the scorer and batch scoring alike, since it is stored with the model. ' +
      "data.source.csv's whitespace and naValues are added to it when the model is trained.",
  );
export type CellOptions = z.infer<typeof cellOptions>;

export const featureSpec = withRules(
  z.object({
    target,
    cells: cellOptions.optional(),
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
