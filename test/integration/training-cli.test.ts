// `orchard prepare|train|export|publish` as a training Pod runs it: a real process, real files,
// gs:// through fake-gcs-server, https through a loopback server, and bad input that must fail
// with one line naming the problem and publish nothing.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import { readArtifact, readManifest } from '../../operator/src/artifacts/store.js';
import { repoRoot } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs.js';
import { startHttpsServer, type HttpsServer } from '../support/https-server.js';
import { makeZip } from '../support/zip.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function orchard(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(repoRoot, 'node_modules', '.bin', 'tsx'), [join(repoRoot, 'operator', 'src', 'training', 'cli.ts'), ...args], {
      cwd: work,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let work: string;
let gcs: FakeGcs;
let https: HttpsServer;
const salariesCsv = () => readFile(join(repoRoot, 'data', 'ai-jobs-salaries', 'salaries.csv'));

/** The salaries example with test-sized settings, written as a TrainingRun manifest. */
async function specFile(name: string, change: (spec: any) => unknown = () => {}): Promise<string> {
  const spec: any = exampleTrainingRun('salaries.yaml');
  spec.catboost = { iterations: 60, learningRate: '0.3', depth: 4, randomSeed: 0, maxCtrComplexity: 2 };
  await change(spec);
  const path = join(work, `${name}.yaml`);
  await writeFile(path, stringify({ apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name }, spec }));
  return path;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'orchard-cli-'));
  gcs = await startFakeGcs({ buckets: ['orchard-data', 'orchard-artifacts'] });
  await gcs.storage.bucket('orchard-data').file('salaries/salaries.csv').save(await salariesCsv());
}, 60_000);

afterAll(async () => {
  await gcs?.stop();
  await https?.close();
  await rm(work, { recursive: true, force: true });
});

describe('the training pipeline', () => {
  it('reads gs://, trains, exports and publishes to gs://, and reports the run in the termination message', async () => {
    const spec = await specFile('gcs-run', (s) => (s.data.source.uri = 'gs://orchard-data/salaries/salaries.csv'));
    const terminationLog = join(work, 'termination-log');
    const to = 'gs://orchard-artifacts/runs/gcs-run/';
    const env = { STORAGE_EMULATOR_HOST: gcs.url, ORCHARD_TERMINATION_MESSAGE_PATH: terminationLog };
    const workDir = join(work, 'gcs-run');
    for (const step of ['prepare', 'train', 'export', 'publish']) {
      const run = await orchard([step, '--spec', spec, '--work', workDir, '--to', to], env);
      expect({ step, code: run.code, stderr: run.stderr }).toEqual({ step, code: 0, stderr: '' });
    }
    const summary = JSON.parse(await readFile(terminationLog, 'utf8'));
    expect(Buffer.byteLength(JSON.stringify(summary))).toBeLessThan(4096);
    expect(summary.artifactUri).toBe(to);
    expect(Object.keys(summary.metrics).sort()).toEqual(['MAE', 'R2', 'RMSE']);
    expect(summary.metrics.RMSE).toBeLessThan(summary.baseline.RMSE);
    expect(summary.topFeatures.length).toBeGreaterThan(0);
    expect(summary.parityMaxError).toBeLessThanOrEqual(1e-5);

    const manifest = await readManifest(to, { gcs: gcs.storage });
    expect(manifest.files.map((f) => f.name).sort()).toEqual(
      ['export.json', 'feature-importance.svg', 'input-schema.json', 'metrics.json', 'model.cbm', 'model.onnx', 'reference-profile.json', 'shap.json'].sort(),
    );
    // A regression has the importance chart only; the summary names it for status to link.
    expect(summary.plots).toEqual(['featureImportance']);
    const chart = (await readArtifact(to, 'feature-importance.svg', { gcs: gcs.storage })).toString();
    expect(chart).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(chart).toContain('>job_title<');
    const onnx = await readArtifact(to, 'model.onnx', { gcs: gcs.storage });
    expect(onnx.equals(await readFile(join(workDir, 'model', 'model.onnx')))).toBe(true);
    const profile = JSON.parse((await readArtifact(to, 'reference-profile.json', { gcs: gcs.storage })).toString());
    expect(Object.keys(profile.inputs)).toContain('job_title');
    expect(profile.target.type).toBe('Numeric');
    expect(profile.prediction.type).toBe('Numeric');
  }, 240_000);

  it("scores the champion on the run's test split when asked, with the trainer's metrics", async () => {
    // The champion is the run published by the test above.
    const champion = 'gs://orchard-artifacts/runs/gcs-run/';
    const env = { STORAGE_EMULATOR_HOST: gcs.url, ORCHARD_TERMINATION_MESSAGE_PATH: join(work, 'termination-compare') };
    const summaryOf = async () => JSON.parse(await readFile(join(work, 'termination-compare'), 'utf8'));

    // Compared with itself on its own test rows, the champion's metrics are the run's own metrics:
    // onnxruntime + TypeScript metrics agree with CatBoost + the trainer's.
    const self = join(work, 'gcs-run');
    const spec = join(work, 'gcs-run.yaml');
    for (const args of [['export', '--compare-with', champion, '--compare-version', '1'], ['publish', '--to', 'gs://orchard-artifacts/runs/gcs-run-self/']]) {
      const run = await orchard([...args, '--spec', spec, '--work', self], env);
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    }
    const own = await summaryOf();
    expect(own.comparison.version).toBe(1);
    for (const metric of ['RMSE', 'MAE', 'R2']) expect(Math.abs(own.comparison.metrics[metric] / own.metrics[metric] - 1)).toBeLessThan(1e-5);

    // A run on more recent data: the champion scored on that run's (different) test split.
    const recentSpec = await specFile('recent', (s) => {
      s.data.source.uri = 'gs://orchard-data/salaries/salaries.csv';
      s.data.filters = [{ column: 'work_year', min: '2023' }];
    });
    const recent = join(work, 'recent');
    for (const args of [['prepare'], ['train'], ['export', '--compare-with', champion, '--compare-version', '1'], ['publish', '--to', 'gs://orchard-artifacts/runs/recent/']]) {
      const run = await orchard([...args, '--spec', recentSpec, '--work', recent], env);
      expect({ step: args[0], code: run.code, stderr: run.stderr }).toEqual({ step: args[0], code: 0, stderr: '' });
    }
    const summary = await summaryOf();
    expect(summary.comparison.version).toBe(1);
    expect(summary.comparison.metrics.RMSE).toBeGreaterThan(0);
    expect(summary.comparison.metrics.RMSE).not.toBeCloseTo(own.comparison.metrics.RMSE, 0);

    const bad = await orchard(['export', '--compare-with', 'http://elsewhere/', '--compare-version', '1', '--spec', recentSpec, '--work', recent], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^orchard export: --compare-with: "http:\/\/elsewhere\/" is not a file:\/\/\/ or gs:\/\/ artifact prefix/);
  }, 240_000);

  it('reads a zip member over https after checking its SHA-256, like the Stack Overflow example', async () => {
    const csv = await salariesCsv();
    const zip = makeZip([
      { name: 'README_2023.txt', data: Buffer.from('survey\n'), method: 'stored' },
      { name: 'survey_results_public.csv', data: csv, method: 'deflate' },
    ]);
    https = await startHttpsServer({ '/files/survey.zip': zip });
    const sha256 = createHash('sha256').update(zip).digest('hex');
    const source = { uri: `${https.url}/files/survey.zip`, format: 'Zip', zipMember: 'survey_results_public.csv', sha256 };
    const caFile = join(work, 'ca.pem');
    await writeFile(caFile, https.ca);
    const env = { NODE_EXTRA_CA_CERTS: caFile };

    const ok = await orchard(['prepare', '--spec', await specFile('zip-run', (s) => (s.data.source = source)), '--work', join(work, 'zip-run')], env);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`read 74301 rows × 11 columns from ${source.uri}!/survey_results_public.csv`);

    const tampered = { ...source, sha256: createHash('sha256').update('another file').digest('hex') };
    const bad = await orchard(['prepare', '--spec', await specFile('zip-bad', (s) => (s.data.source = tampered)), '--work', join(work, 'zip-bad')], env);
    expect(bad.code).toBe(2);
    // The actual digest goes to the log only: in status it would tell what a URL answers.
    expect(bad.stderr).toBe(
      `${source.uri}: the body's SHA-256 is ${sha256}\n` +
        `orchard prepare: ${source.uri}: the body's SHA-256 does not match the expected ${tampered.sha256}: update data.source.sha256 if the file changed upstream (the Pod log has the actual digest)\n`,
    );
    expect(existsSync(join(work, 'zip-bad', 'prepared'))).toBe(false);
  }, 120_000);
});

describe('the Stack Overflow 2023 example', () => {
  it('prepares and trains from its zip member over https, with value maps and MultiLabel answers', async () => {
    // The official file cannot be fetched here: a survey-shaped stand-in with the same member and columns.
    const spec: any = exampleTrainingRun('stackoverflow-2023.yaml');
    let seed = 7;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)]!;
    const answers = ['Python', 'Go', 'SQL', 'Rust', 'C++', 'Java', 'Bash/Shell (all shells)'];
    const columns: string[] = [...new Set([spec.features.target.column, ...spec.features.columns.map((f: any) => f.column ?? f.name)])];
    const quote = (v: string) => (/[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
    const lines = [columns.map(quote).join(',')];
    for (let r = 0; r < 1500; r++) {
      const years = 1 + Math.floor(next() * 30);
      lines.push(columns.map((c) => {
        const f = spec.features.columns.find((x: any) => (x.column ?? x.name) === c);
        if (!f) return next() < 0.1 ? 'NA' : String(Math.round(20000 + years * 4000 * (0.5 + next())));
        if (next() < 0.08) return 'NA';
        if (f.type === 'Numeric') return pick(['Less than 1 year', 'More than 50 years', String(years), String(years + 2)]);
        if (f.type === 'MultiLabel') return answers.filter(() => next() < 0.4).join(';') || 'NA';
        return quote(pick(['Alpha, Inc.', 'Beta', 'Gamma "G"', 'Delta']));
      }).join(','));
    }
    const zip = makeZip([{ name: 'survey_results_public.csv', data: Buffer.from(`${lines.join('\n')}\n`), method: 'deflate' }]);
    const server = await startHttpsServer({ '/stack-overflow-developer-survey-2023.zip': zip });
    try {
      spec.data.source.uri = `${server.url}/stack-overflow-developer-survey-2023.zip`;
      spec.data.source.sha256 = createHash('sha256').update(zip).digest('hex');
      spec.catboost = { ...spec.catboost, iterations: 50 };
      const file = join(work, 'so.yaml');
      await writeFile(file, stringify({ apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name: 'so' }, spec }));
      const caFile = join(work, 'so-ca.pem');
      await writeFile(caFile, server.ca);
      const run = await orchard(['all', '--spec', file, '--work', join(work, 'so'), '--to', `file://${join(work, 'so-published')}/`], { NODE_EXTRA_CA_CERTS: caFile });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const schema = JSON.parse(await readFile(join(work, 'so', 'prepared', 'input-schema.json'), 'utf8'));
      expect(schema.inputs.map((i: any) => i.name)).toContain('LanguageHaveWorkedWith=Python');
      expect(schema.multiLabel.LanguageHaveWorkedWith).toHaveLength(answers.length);
      const train = await readFile(join(work, 'so', 'prepared', 'train.tsv'), 'utf8');
      expect(train).not.toContain('Less than 1 year');
      expect(run.stdout).toMatch(/filter ConvertedCompYearly within percentiles 0.02..0.98 dropped \d+/);
    } finally {
      await server.close();
    }
  }, 180_000);
});

describe('catboost.classWeights by class label', () => {
  const prepareWith = async (name: string, classWeights: Record<string, string>) => {
    const spec: any = exampleTrainingRun('salaries-experience.yaml');
    spec.catboost = { iterations: 10, depth: 4, randomSeed: 0, classWeights };
    const path = join(work, `${name}.yaml`);
    await writeFile(path, stringify({ apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name }, spec }));
    return { run: await orchard(['prepare', '--spec', path, '--work', join(work, name)]), dataset: join(work, name, 'prepared', 'dataset.json') };
  };

  it('become one weight per class in dataset.json, 1 where not listed', async () => {
    const { run, dataset } = await prepareWith('class-weights', { EX: '3', EN: '1.5' });
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const { classNames, catboost } = JSON.parse(await readFile(dataset, 'utf8'));
    expect(classNames).toEqual(['EN', 'EX', 'MI', 'SE']);
    expect(catboost.classWeights).toEqual([1.5, 3, 1, 1]);
  }, 60_000);

  it('naming a class the target does not have fails in one line that lists the classes', async () => {
    const { run, dataset } = await prepareWith('class-weights-typo', { Senior: '2' });
    expect(run.code).toBe(2);
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      'orchard prepare: catboost.classWeights names class "Senior", which the target column\'s training rows do not have; its classes are "EN", "EX", "MI", "SE": use those labels (after features.target.valueMap)',
    ]);
    expect(existsSync(dataset)).toBe(false);
  }, 60_000);
});

describe('bad input fails in one line, names the problem, and publishes nothing', () => {
  const cases: [string, (s: any) => Promise<void> | void, RegExp][] = [
    ['a missing column', (s) => void (s.features.columns[2].name = 'job_titel'), /^column "job_titel" \(features\.columns\[2\]\.name\) is not in file:\/\/.*salaries\.csv; its header has 11 columns: "work_year", "experience_level", .*Fix features\.columns\[2\]\.name or data\.source$/],
    ['a non-numeric target', (s) => void (s.features.target.column = 'salary_currency'), /^1 column has values the model cannot read: "salary_currency" in \d+ rows \(first: row \d+ of file:\/\/.*salaries\.csv: target column "salary_currency": "[A-Z]{3}" is not a number; Regression needs a numeric target/],
    ['an empty split', (s) => void (s.data.filters = [{ column: 'work_year', min: '2031' }]), /^the train split is empty \(0 rows after filters and dedupe\): loosen data\.filters/],
    ['an unknown feature type', (s) => void (s.features.columns[0].type = 'Ordinal'), /^.*bad-3\.yaml: spec\.features\.columns\[0\]\.type: .*"Numeric"\|"Categorical"\|"MultiLabel"/],
    [
      'a truncated file',
      async (s) => {
        const gz = gzipSync(await salariesCsv());
        const path = join(work, 'truncated.csv.gz');
        await writeFile(path, gz.subarray(0, gz.length >> 1));
        s.data.source.uri = `file://${path}`;
      },
      /^file:\/\/.*truncated\.csv\.gz: unexpected end of file: the file is truncated or not gzip$/,
    ],
    ['an unreadable file', (s) => void (s.data.source.uri = 'file:///nonexistent/salaries.csv'), /^file:\/\/\/nonexistent\/salaries\.csv/],
    ['a CatBoost parameter it rejects', (s) => void (s.catboost.extra = { nan_mode: 'Sideways' }), /nan_mode|Sideways/],
    [
      'an extra parameter that has a named field',
      (s) => void (s.catboost.extra = { grow_policy: 'Lossguide' }),
      /catboost\.extra\.grow_policy overrides catboost\.growPolicy: remove it from extra and set catboost\.growPolicy/,
    ],
    ['maxLeaves without growPolicy Lossguide', (s) => void (s.catboost.maxLeaves = 16), /spec\.catboost\.maxLeaves: maxLeaves applies only to growPolicy Lossguide/],
    [
      'a pattern that does not compile in JavaScript',
      (s) => void s.features.columns.push({ name: 'title_word', column: 'job_title', type: 'Categorical', pattern: { regex: '^([A-Za-z]+' } }),
      /spec\.features\.columns\[\d+\]\.pattern\.regex: does not compile: .*Unterminated group/,
    ],
    [
      'a range feature on cells that are not ranges',
      (s) => void s.features.columns.push({ name: 'title_range', column: 'job_title', type: 'Numeric', range: {} }),
      /^1 column has values the model cannot read: "job_title" in \d+ rows \(first: row \d+ of file:\/\/.*salaries\.csv: ".*" is not a number or a range such as "45-65": send one, or map the value with valueMap\)\. If a placeholder .* list it in features\.cells\.naValues/,
    ],
  ];

  it.each(cases.map((c, i) => [...c, i] as const))('%s', async (_title, change, message, i) => {
    const name = `bad-${i}`;
    const spec = await specFile(name, change);
    const to = `file://${join(work, 'published', name)}/`;
    const run = await orchard(['all', '--spec', spec, '--work', join(work, name), '--to', to]);
    expect(run.code).toBe(2);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^orchard pipeline: /);
    expect(lines[0]!.replace(/^orchard pipeline: /, '')).toMatch(message);
    expect(existsSync(join(work, 'published', name))).toBe(false);
  }, 120_000);
});
