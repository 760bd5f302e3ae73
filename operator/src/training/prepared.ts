// The contract between `orchard prepare` (TypeScript) and `orchard train` (Python, images/trainer):
// what a prepared data directory holds. Both sides read this one description.
//
//   <dir>/train.tsv, validation.tsv, test.tsv
//     UTF-8, tab-separated, one header line. Column 1 is the label (header "label"), then one column
//     per model input in dataset.json order (header = input name). Numeric cells are decimal text,
//     an empty cell is missing (NaN). Categorical cells are strings without tab, CR or LF (the
//     feature spec replaces those with spaces), read verbatim (no quoting, no NA parsing).
//     Labels: the transformed target for Regression; the class index (0-based, dataset.json
//     classNames order) for classification.
//   <dir>/dataset.json
//     The object below.
import { z } from 'zod';

export const PREPARED_VERSION = 1;

export const preparedDataset = z.object({
  version: z.literal(PREPARED_VERSION),
  task: z.enum(['Regression', 'BinaryClassification', 'MulticlassClassification']),
  features: z.array(z.object({ name: z.string(), type: z.enum(['Numeric', 'Categorical']) })),
  /** Classification: class label strings; index i is label i in the TSV files. Binary: [negative, positive]. */
  classNames: z.array(z.string()).optional(),
  target: z.object({
    column: z.string(),
    transform: z.enum(['None', 'Log', 'Log1p']),
    /** The raw target was divided by this before the transform. */
    scale: z.number(),
    /** Regression: Mean has the trainer estimate a smearing factor (targetSmearing in metrics.json); absent means Median. */
    estimate: z.enum(['Median', 'Mean']).optional(),
  }),
  rows: z.object({ train: z.number().int(), validation: z.number().int(), test: z.number().int() }),
  catboost: z.object({
    iterations: z.number().int(),
    learningRate: z.number().optional(),
    depth: z.number().int(),
    l2LeafReg: z.number().optional(),
    lossFunction: z.string().optional(),
    earlyStoppingRounds: z.number().int().optional(),
    randomSeed: z.number().int(),
    oneHotMaxSize: z.number().int().optional(),
    maxCtrComplexity: z.number().int().optional(),
    borderCount: z.number().int().optional(),
    growPolicy: z.enum(['SymmetricTree', 'Depthwise', 'Lossguide']).optional(),
    maxLeaves: z.number().int().optional(),
    autoClassWeights: z.enum(['None', 'Balanced', 'SqrtBalanced']).optional(),
    /** One weight per class, in classNames order. */
    classWeights: z.array(z.number()).optional(),
    evalMetric: z.string().optional(),
    bootstrapType: z.enum(['Bayesian', 'Bernoulli', 'MVS', 'No']).optional(),
    subsample: z.number().optional(),
    baggingTemperature: z.number().optional(),
    /** Further CatBoost parameters, passed as given (snake_case names). */
    extra: z.record(z.string(), z.string()).optional(),
  }),
  compute: z.object({ device: z.enum(['CPU', 'GPU']), gpus: z.number().int() }),
  evaluation: z.object({ primaryMetric: z.string().optional(), topFraction: z.number() }),
});
export type PreparedDataset = z.infer<typeof preparedDataset>;
