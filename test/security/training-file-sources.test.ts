// What a TrainingRun's author can make a training Pod read and say: file:// sources stay under the
// roots the operator's Job allows, and no error quotes a data file's raw text into status.
// A real `orchard prepare` process, real files and symlinks; the Job's env as the operator builds it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { dataSource } from '../../operator/src/api/v1alpha1/data.js';
import { readSource } from '../../operator/src/artifacts/sources.js';
import { buildTrainingJob } from '../../operator/src/controllers/training-run/desired.js';
import { rewriteValue } from '../../operator/src/local/node/rewrite.js';
import { repoRoot } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { runOrchardCli, type CliRun } from '../support/orchard-cli.js';

// A service account token's shape: what a status must never carry.
const SECRET = `eyJhbGciOiJSUzI1NiIsImtpZCI6IkFCQyJ9.${'c2VjcmV0LXRva2VuLWJvZHk'.repeat(8)}.c2lnbmF0dXJl`;

let dir: string;
let dataRoot: string; // the image's /opt/orchard/data
let tokenPath: string; // the Pod's /var/run/secrets/kubernetes.io/serviceaccount/token
let podEnv: Record<string, string>;

type Run = CliRun;

/** `orchard prepare` on the salaries example with its source (and csv options) replaced. */
async function prepareWith(name: string, source: Record<string, unknown>, env: Record<string, string>, change: (spec: any) => void = () => {}): Promise<Run> {
  const spec: any = exampleTrainingRun('salaries.yaml');
  spec.data.source = source;
  change(spec);
  const specPath = join(dir, `${name}.yaml`);
  writeFileSync(specPath, stringify({ apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name }, spec }));
  return runOrchardCli(dir, name, ['prepare', '--spec', specPath, '--work', join(dir, `${name}-work`)], env);
}

/** A spec that reads a two-column name,salary_in_usd file as far as its target. */
function readTargetOnly(spec: any): void {
  spec.features.columns = [{ name: 'name', type: 'Categorical' }];
  spec.data.filters = [];
  spec.data.dedupe = 'None';
  spec.data.split = { strategy: 'Random', validationFraction: '0.1', testFraction: '0.2', seed: 1 };
}

/** No 9-character stretch of `secret` in what reaches status or the log: short quoted pieces add up to the whole. */
function expectNoPieceOf(secret: string, run: Run): void {
  for (const text of [run.termination, run.stderr]) {
    const leaked = Array.from({ length: secret.length - 8 }, (_, i) => secret.slice(i, i + 9)).filter((piece) => text.includes(piece));
    expect(leaked).toEqual([]);
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'orchard-file-sources-'));
  dataRoot = join(dir, 'image', 'opt', 'orchard', 'data');
  mkdirSync(join(dataRoot, 'salaries'), { recursive: true });
  writeFileSync(join(dataRoot, 'salaries', 'salaries.csv'), readFileSync(join(repoRoot, 'data', 'ai-jobs-salaries', 'salaries.csv')));
  const secrets = join(dir, 'image', 'var', 'run', 'secrets', 'kubernetes.io', 'serviceaccount');
  mkdirSync(secrets, { recursive: true });
  tokenPath = join(secrets, 'token');
  writeFileSync(tokenPath, SECRET);
  symlinkSync(tokenPath, join(dataRoot, 'salaries', 'innocent.csv'));
  // The env the operator gives every training container, with the image's paths mapped to this
  // directory as the local node agent maps them.
  const job = buildTrainingJob(
    { metadata: { name: 'r', namespace: 'ml', uid: '0f3c2a9e-5d1b-4c8e-9a7f-1b2c3d4e5f60' }, spec: exampleTrainingRun('salaries.yaml') },
    { image: 'orchard:test', artifactRoot: 'gs://b/runs', backoffLimit: 0 },
  );
  const paths = { '/opt/orchard/data': dataRoot };
  podEnv = Object.fromEntries(
    job.spec.template.spec.containers[0].env.filter((e: any) => e.name.startsWith('ORCHARD_FILE_')).map((e: any) => [e.name, rewriteValue(e.value, { paths })]),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a training Pod's file:// sources", () => {
  it('carry the roots the operator sets in every training Job', () => {
    expect(podEnv).toEqual({ ORCHARD_FILE_ROOTS: JSON.stringify([dataRoot]) });
  });

  it.each([
    ['the service account token itself', () => pathToFileURL(tokenPath).href],
    ['a path that climbs out of the data directory', () => `file://${dataRoot}/../../../var/run/secrets/kubernetes.io/serviceaccount/token`],
    ['a symlink inside the data directory that points out', () => pathToFileURL(join(dataRoot, 'salaries', 'innocent.csv')).href],
  ])('refuse %s, naming the roots and the fix, without the file in status', async (_title, uri) => {
    const run = await prepareWith('outside', { uri: uri(), format: 'Csv' }, podEnv);
    expect(run.code).toBe(2);
    expect(run.termination).not.toContain(SECRET.slice(0, 40));
    expect(run.stderr).not.toContain(SECRET.slice(40, 80));
    expect(run.termination).toBe(
      `orchard prepare: ${uri()} is outside the directories this Pod may read: file:// sources must be under ${dataRoot}; copy the file there or use gs://`,
    );
  }, 60_000);

  it('read the image data as before', async () => {
    const run = await prepareWith('inside', { uri: `file://${dataRoot}/salaries/salaries.csv` }, podEnv);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  }, 60_000);

  it('are not limited outside a Pod (no ORCHARD_FILE_ROOTS), and a root reached through a symlink still counts', async () => {
    const source = dataSource.parse({ uri: `file://${dataRoot}/salaries/salaries.csv` });
    expect((await readSource(source)).rows.length).toBeGreaterThan(1000);
    const linkedRoot = join(dir, 'linked-data');
    symlinkSync(dataRoot, linkedRoot);
    expect((await readSource(dataSource.parse({ uri: `file://${linkedRoot}/salaries/salaries.csv` }), { fileRoots: [dataRoot] })).columns).toContain('salary_in_usd');
    expect((await readSource(source, { fileRoots: [linkedRoot] })).columns).toContain('salary_in_usd');
    await expect(readSource(source, { fileRoots: [] })).rejects.toThrow(/this Pod may not read file:\/\/ sources: use gs:\/\/ or https:\/\//);
    writeFileSync(join(dataRoot, '..dotted.csv'), 'a,b\n1,2\n');
    expect((await readSource(dataSource.parse({ uri: pathToFileURL(join(dataRoot, '..dotted.csv')).href }), { fileRoots: [dataRoot] })).columns).toEqual(['a', 'b']);
    // Missing inside a root is worth saying; outside, missing and present read the same.
    const missing = (path: string) => readSource(dataSource.parse({ uri: pathToFileURL(path).href, format: 'Csv' }), { fileRoots: [dataRoot] });
    await expect(missing(join(dataRoot, 'nope.csv'))).rejects.toThrow(/nope\.csv does not exist: check the path$/);
    await expect(missing(join(dir, 'image', 'etc', 'nope'))).rejects.toThrow(/is outside the directories this Pod may read/);
    await expect(missing(tokenPath)).rejects.toThrow(/is outside the directories this Pod may read/);
  });
});

describe('errors about a data file', () => {
  // No roots here: the file is readable, as a mounted secret the cluster's admin allowed would be.
  it('name a missing column without quoting the first line of a file that is one long string', async () => {
    const run = await prepareWith('one-line', { uri: pathToFileURL(tokenPath).href, format: 'Csv' }, {});
    expect(run.code).toBe(2);
    for (const text of [run.termination, run.stderr]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(SECRET.slice(0, 40));
    }
    expect(run.termination).toMatch(/^orchard prepare: column "salary_in_usd" \(features\.target\.column\) is not in file:\/\/.*\/token; its header has one column \(\d+ characters\): check csv\.delimiter/);
  }, 60_000);

  it('do not quote a long cell whole, as a KEY=value secrets file read as the target would', async () => {
    const path = join(dir, 'secrets.env');
    writeFileSync(path, Array.from({ length: 20 }, (_, i) => `KEY_${i},${SECRET.slice(0, 60)}${i}`).join('\n'));
    const source = { uri: pathToFileURL(path).href, format: 'Csv', csv: { delimiter: ',', header: 'Absent', columns: ['name', 'salary_in_usd'] } };
    const run = await prepareWith('cells', source, {}, readTargetOnly);
    expect(run.code).toBe(2);
    expectNoPieceOf(SECRET, run);
    expect(run.termination).toMatch(/target column "salary_in_usd": <6\d characters> is not a number; Regression needs a numeric target/);
  }, 60_000);

  it('refuse a delimiter that would cut a secret line into short quotable pieces, before reading the file', async () => {
    const path = join(dir, 'secrets-eq.env');
    // Each value is short enough to be quoted whole if it were read as a cell.
    writeFileSync(path, Array.from({ length: 20 }, (_, i) => `KEY_${i}=${SECRET.slice(i, i + 24)}`).join('\n'));
    for (const delimiter of ['=', ':', '.']) {
      const source = { uri: pathToFileURL(path).href, format: 'Csv', csv: { delimiter, header: 'Absent', columns: ['name', 'salary_in_usd'] } };
      const run = await prepareWith(`cut-${delimiter}`, source, {}, readTargetOnly);
      expect(run.code).not.toBe(0);
      expectNoPieceOf(SECRET, run);
      expect(run.termination).toMatch(/data\.source\.csv\.delimiter.*must be one of ",", ";", "\\t", "\|" or " "/);
    }
  }, 60_000);

  it('quote no piece of a token longer than 8 characters under any delimiter admission allows', async () => {
    for (const [i, delimiter] of [',', ';', '\t', '|', ' '].entries()) {
      const source = { uri: pathToFileURL(tokenPath).href, format: 'Csv', csv: { delimiter, header: 'Absent', columns: ['name', 'salary_in_usd'] } };
      const run = await prepareWith(`token-${i}`, source, {});
      expect(run.code).toBe(2);
      expectNoPieceOf(SECRET, run);
    }
  }, 120_000);

  it('never quote the one column of a short secret', async () => {
    const path = join(dir, 'password');
    writeFileSync(path, 'hunter2-but-longer\n');
    const run = await prepareWith('password', { uri: pathToFileURL(path).href, format: 'Csv' }, {});
    expect(run.code).toBe(2);
    expect(run.termination).not.toContain('hunter2');
    expect(run.termination).toMatch(/its header has one column \(18 characters\): check csv\.delimiter and that this is the data file\. Fix features\.target\.column or data\.source$/);
  }, 60_000);

  it('escape control characters and shorten long names in a header', async () => {
    const names = ['age', 'bell\u0007name', 'x'.repeat(500), ...Array.from({ length: 20 }, (_, i) => `c${i}`)];
    const path = join(dir, 'odd-header.csv');
    writeFileSync(path, `${names.join(',')}\n${names.map(() => '1').join(',')}\n`);
    const err = await prepareWith('odd-header', { uri: pathToFileURL(path).href }, {});
    expect(err.termination).not.toContain('x'.repeat(40));
    expect(err.termination).not.toContain('\u0007');
    expect(err.termination).toMatch(/its header has 23 columns: "age", "bell\\u0007name", <500 characters>, "c0", .*, "c8" and 11 more\. Fix /);
  }, 60_000);
});
