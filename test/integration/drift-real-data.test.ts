// Drift on real data: the salaries example's reference profile (its training rows, work_year up
// to 2023, as `orchard prepare` builds it) against the 2024 records, and against resamples of the
// training distribution. Rows are encoded by the same feature code serving uses.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSource } from '../../operator/src/artifacts/sources.js';
import { DriftCounter, mergeCounts } from '../../operator/src/drift/counts.js';
import { evaluateDrift, type DriftOptions, type DriftReport } from '../../operator/src/drift/evaluate.js';
import { parseReferenceProfile } from '../../operator/src/features/profile.js';
import { inputSchema } from '../../operator/src/features/schema.js';
import { recordEncoder, tableRowReader, type EncodedRow } from '../../operator/src/features/transform.js';
import { prepare } from '../../operator/src/training/prepare.js';
import { mulberry32 } from '../../operator/src/training/random.js';
import { readPreparedTsv } from '../../operator/src/training/tsv.js';
import { exampleTrainingRun } from '../support/examples.js';

const work = await mkdtemp(join(tmpdir(), 'orchard-drift-'));
afterAll(() => rm(work, { recursive: true, force: true }));

const spec = exampleTrainingRun('salaries.yaml');
const prepared = join(work, 'prepared');
await prepare({ spec, outDir: prepared });
const profile = parseReferenceProfile(JSON.parse(await readFile(join(prepared, 'reference-profile.json'), 'utf8')));
const schema = inputSchema.parse(JSON.parse(await readFile(join(prepared, 'input-schema.json'), 'utf8')));
const names = schema.inputs.map((i) => i.name);

const table = await readSource(spec.data.source);
const read = tableRowReader(table.columns);
const encode = recordEncoder(schema);
const records = (keep: (year: number) => boolean) => table.rows.map(read).filter((r) => keep(Number(r('work_year')))).map(encode);
const year2024 = records((y) => y === 2024);
/** What serving the training years would see: every record, duplicates included. */
const upTo2023 = records((y) => y <= 2023);
const trainRows = (await readPreparedTsv(join(prepared, 'train.tsv'), schema.inputs)).rows;

function counts(rows: EncodedRow[]) {
  const counter = new DriftCounter(profile, names);
  for (const row of rows) counter.add(row);
  return counter.counts();
}

const judge = (rows: EncodedRow[], options?: DriftOptions) => evaluateDrift(profile, counts(rows), options);
const drifted = (report: DriftReport) => report.features.filter((f) => f.drifted).map((f) => f.name);
const scores = (report: DriftReport) => Object.fromEntries(report.features.map((f) => [f.name, f.score]));

function bootstrap(rows: EncodedRow[], n: number, seed: number): EncodedRow[] {
  const next = mulberry32(seed);
  return Array.from({ length: n }, () => rows[Math.floor(next() * rows.length)]!);
}

describe('drift on the salaries data', () => {
  it('the reference is the deduplicated training split of 2020–2023', () => {
    expect(profile.rows).toBe(trainRows.length);
    expect(profile.rows).toBeGreaterThan(4000);
    expect(year2024).toHaveLength(62_229);
    expect(profile.inputs.work_year).toMatchObject({ type: 'Numeric', min: 2020, max: 2023, distinct: 4 });
  });

  it('2024 drifts: the years, job titles, countries, remote work and company sizes moved; seniority and contract types did not', () => {
    const report = judge(year2024);
    expect(report).toMatchObject({ rows: 62_229, driftedFeatures: 6, driftedShare: 0.75, datasetDrift: true });
    expect(drifted(report)).toEqual(['work_year', 'job_title', 'employee_residence', 'remote_ratio', 'company_location', 'company_size']);
    // More than 1000 training rows: Jensen–Shannon for categories and for numeric inputs with at most 5 values.
    expect(report.features.every((f) => f.test === 'JensenShannon' && f.threshold === 0.1)).toBe(true);
    const s = scores(report);
    // Every 2024 value lies above the training years: disjoint distributions, the largest distance.
    expect(s.work_year).toBeCloseTo(Math.sqrt(Math.LN2), 12);
    // Distances as measured; shares are training → 2024.
    const measured: Record<string, number> = {
      job_title: 0.366, // 111 titles → 251; the four commonest 69 % → 47 %
      remote_ratio: 0.196, // fully remote 39 % → 19 %
      employee_residence: 0.156, // US 78 % → 91 %
      company_location: 0.149,
      company_size: 0.136, // medium companies 89 % → 97 %
      experience_level: 0.065, // senior 60 % → 57 %: below the threshold
      employment_type: 0.026, // full-time 99 % in both
    };
    for (const [name, want] of Object.entries(measured)) expect([name, Math.abs(s[name]! - want) < 0.01]).toEqual([name, true]);
  });

  it('shards of 2024 merge to the same verdict as the whole', () => {
    const shards = [0, 1, 2, 3].map((k) => counts(year2024.filter((_, i) => i % 4 === k)));
    expect(evaluateDrift(profile, mergeCounts(shards))).toEqual(judge(year2024));
  });

  it('a 500-row window of 2024 already drifts, by distances and by p-value tests', () => {
    const window = bootstrap(year2024, 500, 1);
    expect(judge(window).datasetDrift).toBe(true);
    const byPValue = judge(window, { testChoiceBy: 'CurrentRows' });
    expect(byPValue.datasetDrift).toBe(true);
    expect(byPValue.features.find((f) => f.name === 'work_year')).toMatchObject({ test: 'ChiSquare', score: 0, drifted: true });
    expect(byPValue.features.find((f) => f.name === 'employment_type')).toMatchObject({ test: 'ChiSquare', drifted: false });
  });

  it('resamples of the training distribution do not drift: 100 seeded 5000-row windows each of the training rows and of all 2020–2023 records', () => {
    for (const pool of [trainRows, upTo2023]) {
      let calm = 0;
      for (let seed = 1; seed <= 100; seed++) if (!judge(bootstrap(pool, 5000, seed)).datasetDrift) calm++;
      expect(calm).toBeGreaterThanOrEqual(95);
    }
    // The training rows themselves: no input drifts at all.
    const report = judge(bootstrap(trainRows, 5000, 101));
    expect(drifted(report)).toEqual([]);
    for (const f of report.features) expect(f.score).toBeLessThan(0.06);
  });
});
