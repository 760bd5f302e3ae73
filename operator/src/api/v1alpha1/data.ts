// Where training and scoring data come from, and how training data is filtered and split.
import { z } from 'zod';
import { celIsDecimal, celIsFraction, columnName, decimal, fraction, isDecimal, isFraction, matching, withRules } from './common.js';

const sha256 = matching(z.string().max(64), '^[a-f0-9]{64}$', 'must be a SHA-256 digest: 64 lowercase hex digits, as `sha256sum` prints');

const CSV_DELIMITERS = [',', ';', '\t', '|', ' '];

export const csvOptions = withRules(
  z.object({
    delimiter: z.string().min(1).max(1).default(',').describe('Field separator: one of ",", ";", "\\t", "|" or " " (a space).'),
    header: z
      .enum(['Present', 'Absent'])
      .default('Present')
      .describe('Present: the first line names the columns. Absent: names come from columns.'),
    columns: z.array(columnName).max(4096).optional().describe('Column names, in file order; required when header is Absent.'),
    naValues: z
      .array(z.string().max(64))
      .max(64)
      .optional()
      .describe('Cell values read as missing (an empty cell always is), e.g. ["?", "NA"]. In a TrainingRun\'s data.source, also stored with the model (features.cells), so scoring reads them as missing too.'),
    whitespace: z
      .enum(['Keep', 'Trim'])
      .default('Keep')
      .describe('Trim: strip spaces around every cell (files written "a, b, c"). In a TrainingRun\'s data.source, also stored with the model (features.cells), so scoring trims too.'),
    commentPrefix: z.string().min(1).max(8).optional().describe('Lines starting with this are skipped, e.g. "|".'),
  }),
  [
    // Errors quote short cells, so a delimiter chosen to cut a secret line (a token, KEY=value) into
    // short pieces would bring it into status piece by piece: only the separators tables use.
    {
      rule: "self.delimiter in [',', ';', '\\t', '|', ' ']",
      message: 'delimiter must be one of ",", ";", "\\t", "|" or " " (a space): the separators tables use',
      fieldPath: '.delimiter',
      // A longer delimiter is refused by its length alone, as the API server does.
      check: (c) => c.delimiter.length !== 1 || CSV_DELIMITERS.includes(c.delimiter),
    },
  ],
).describe('How to read a delimited text file.');

export const dataSource = withRules(
  z.object({
    uri: matching(
      z.string().max(2048),
      '^(file:///|gs://|https://)',
      'must start with file:///, gs:// or https://, e.g. "gs://my-bucket/data/salaries.csv"',
    ).describe('Location of the data: file:///path, gs://bucket/object or https://host/path.'),
    sha256: sha256.optional().describe('Expected SHA-256 of the downloaded bytes; required for https:// sources.'),
    format: z
      .enum(['Csv', 'CsvGzip', 'Parquet', 'Zip'])
      .optional()
      .describe('File format; by default inferred from the extension (.csv, .csv.gz, .parquet, .zip).'),
    zipMember: z.string().min(1).max(1024).optional().describe('Path of the file to read inside a zip archive.'),
    csv: csvOptions.optional(),
  }),
  [
    {
      rule: "!self.uri.startsWith('https://') || has(self.sha256)",
      message: 'https:// sources need sha256: set sha256 to the SHA-256 of the file so a changed download is caught',
      fieldPath: '.sha256',
      check: (s) => !s.uri.startsWith('https://') || s.sha256 !== undefined,
    },
    {
      rule: "!has(self.csv) || self.csv.header == 'Present' || has(self.csv.columns)",
      message: 'csv.columns is required when csv.header is Absent: list the column names in file order',
      fieldPath: '.csv.columns',
      check: (s) => !s.csv || s.csv.header === 'Present' || s.csv.columns !== undefined,
    },
    {
      rule: "!has(self.format) || self.format != 'Zip' || has(self.zipMember)",
      message: 'zipMember is required for a Zip source: name the file inside the archive',
      fieldPath: '.zipMember',
      check: (s) => s.format !== 'Zip' || s.zipMember !== undefined,
    },
  ],
).describe('A data file: its location, optional checksum and how to parse it.');
export type DataSource = z.infer<typeof dataSource>;

export const rowFilter = withRules(
  z.object({
    column: columnName.describe('Source column the filter reads.'),
    min: decimal.optional().describe('Keep rows whose value is >= min (numeric columns).'),
    max: decimal.optional().describe('Keep rows whose value is <= max (numeric columns).'),
    in: z.array(z.string().max(256)).min(1).max(1024).optional().describe('Keep rows whose value is one of these.'),
    notIn: z.array(z.string().max(256)).min(1).max(1024).optional().describe('Drop rows whose value is one of these.'),
    percentileRange: withRules(
      z.object({
        low: fraction.describe('Lower percentile as a fraction, e.g. "0.02".'),
        high: fraction.describe('Upper percentile as a fraction, e.g. "0.98".'),
      }),
      [
        {
          rule: `!${celIsFraction('self.low')} || !${celIsFraction('self.high')} || double(self.low) < double(self.high)`,
          message: 'percentileRange.low must be below percentileRange.high',
          check: (p) => !isFraction(p.low) || !isFraction(p.high) || Number(p.low) < Number(p.high),
        },
      ],
    )
      .optional()
      .describe('Keep rows between two percentiles of this numeric column, computed after the other filters.'),
  }),
  [
    {
      rule: "[has(self.min) || has(self.max), has(self.__in__), has(self.notIn), has(self.percentileRange)].filter(x, x).size() == 1",
      message: 'a filter takes exactly one of min/max, in, notIn or percentileRange: split it into several filters',
      check: (f) => [f.min !== undefined || f.max !== undefined, f.in !== undefined, f.notIn !== undefined, f.percentileRange !== undefined].filter(Boolean).length === 1,
    },
    {
      rule: `!has(self.min) || !has(self.max) || !${celIsDecimal('self.min')} || !${celIsDecimal('self.max')} || double(self.min) <= double(self.max)`,
      message: 'min is above max, so the filter keeps no rows: swap them or fix the bound',
      fieldPath: '.max',
      check: (f) => f.min === undefined || f.max === undefined || !isDecimal(f.min) || !isDecimal(f.max) || Number(f.min) <= Number(f.max),
    },
  ],
).describe('A row filter; rows that fail any filter are dropped before splitting.');
export type RowFilter = z.infer<typeof rowFilter>;

export const split = withRules(
  z.object({
    strategy: z
      .enum(['Random', 'Group', 'Time'])
      .default('Random')
      .describe(
        'Random: seeded shuffle. Group: rows with equal groupColumns stay on one side (no leakage between near-duplicates). Time: the latest rows by orderColumn become test, then validation.',
      ),
    validationFraction: fraction.default('0.1').describe('Share of rows for early-stopping validation, e.g. "0.1".'),
    testFraction: fraction
      .optional()
      .describe('Share of rows held out for test metrics, e.g. "0.2". Omit when data.testSource supplies the test set.'),
    seed: z.int32().min(0).default(42).describe('Seed of the Random and Group splits.'),
    groupColumns: z.array(columnName).min(1).max(64).optional().describe('Columns that define a group (strategy Group).'),
    orderColumn: columnName.optional().describe('Column that orders rows in time (strategy Time); numbers or ISO dates.'),
  }),
  [
    {
      rule: `!has(self.testFraction) || !${celIsFraction('self.validationFraction')} || !${celIsFraction('self.testFraction')} || double(self.validationFraction) + double(self.testFraction) < 1.0`,
      message: 'validationFraction + testFraction must be below 1 so rows are left to train on',
      fieldPath: '.testFraction',
      check: (s) => s.testFraction === undefined || !isFraction(s.validationFraction) || !isFraction(s.testFraction) || Number(s.validationFraction) + Number(s.testFraction) < 1,
    },
    {
      rule: "self.strategy != 'Group' || has(self.groupColumns)",
      message: 'strategy Group needs groupColumns: name the columns that identify near-duplicate rows',
      fieldPath: '.groupColumns',
      check: (s) => s.strategy !== 'Group' || s.groupColumns !== undefined,
    },
    {
      rule: "self.strategy != 'Time' || has(self.orderColumn)",
      message: 'strategy Time needs orderColumn: name the column that orders rows in time',
      fieldPath: '.orderColumn',
      check: (s) => s.strategy !== 'Time' || s.orderColumn !== undefined,
    },
  ],
).describe('How rows are divided into train, validation and test.');

export const trainingData = withRules(
  z.object({
    source: dataSource.describe('The training data.'),
    testSource: dataSource.optional().describe('A separate test set (e.g. UCI Adult\'s adult.test); then split.testFraction must be unset.'),
    filters: z.array(rowFilter).max(64).optional().describe('Row filters, applied in order before splitting.'),
    dedupe: z
      .enum(['None', 'ExactRows'])
      .default('None')
      .describe('ExactRows: drop rows identical to an earlier one in every feature and the target.'),
    split: split.default({ strategy: 'Random', validationFraction: '0.1', seed: 42 }),
  }),
  [
    {
      rule: 'has(self.testSource) != has(self.split.testFraction)',
      message: 'give the test set exactly one way: data.testSource or data.split.testFraction',
      fieldPath: '.split.testFraction',
      check: (d) => (d.testSource !== undefined) !== (d.split.testFraction !== undefined),
    },
  ],
).describe('Training data: source, filters, de-duplication and split.');
export type TrainingData = z.infer<typeof trainingData>;
