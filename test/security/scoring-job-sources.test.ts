// What a ScoringJob's author can make a shard Pod read and say: the same as a TrainingRun's. file://
// inputs stay under the roots the operator's Job allows, https:// inputs reach only its hosts, and the
// termination message (the ScoringJob's status) never carries the file it refused. A real model, a
// real `orchard score` process with the env the operator builds, real files, symlinks and servers.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { scoringJobSpec } from '../../operator/src/api/v1alpha1/scoring-job.js';
import { readManifest } from '../../operator/src/artifacts/store.js';
import { buildScoringJob, type ScoringDefaults } from '../../operator/src/controllers/scoring-job/desired.js';
import { rewriteValue } from '../../operator/src/local/node/rewrite.js';
import { repoRoot } from '../support/cluster.js';
import { startHttpsServer, type HttpsServer } from '../support/https-server.js';
import { trainExample } from '../support/models.js';
import { runOrchardCli, type CliRun } from '../support/orchard-cli.js';

// A service account token's shape: what a status must never carry.
const SECRET = `eyJhbGciOiJSUzI1NiIsImtpZCI6IkFCQyJ9.${'c2VjcmV0LXRva2VuLWJvZHk'.repeat(8)}.c2lnbmF0dXJl`;
const csv = readFileSync(join(repoRoot, 'data', 'ai-jobs-salaries', 'salaries.csv'));
const sha = createHash('sha256').update(csv).digest('hex');

let dir: string;
let dataRoot: string; // the image's /opt/orchard/data
let tokenPath: string; // the Pod's /var/run/secrets/kubernetes.io/serviceaccount/token
let modelUri: string;
let server: HttpsServer; // https://127.0.0.1:PORT, its certificate also good for localhost
let caFile: string;
const operatorDefaults: ScoringDefaults = { image: 'orchard:test', backoffLimit: 0 };

interface Run extends CliRun {
  outputUri: string;
}

/**
 * One shard of a ScoringJob reading `source`, run as `orchard score` with the container env of the
 * Job the operator builds (image paths mapped to this directory as the local node agent maps them).
 */
async function scoreWith(name: string, source: Record<string, unknown>, defaults: ScoringDefaults = operatorDefaults, outputUri = pathToFileURL(join(dir, 'scores', name)).href): Promise<Run> {
  const spec = scoringJobSpec.parse({ modelRef: { name: 'salaries' }, input: { sources: [source] }, output: { uri: outputUri, passthroughColumns: ['work_year'] } });
  const job = buildScoringJob({ metadata: { name, namespace: 'ml', uid: '7d2f9c1a-3b4e-4f5a-8c6d-9e0f1a2b3c4d' }, spec }, { model: { version: 1, artifactUri: modelUri, task: 'Regression' } }, defaults);
  const paths = { '/opt/orchard/data': dataRoot };
  const podEnv: Record<string, string> = Object.fromEntries(job.spec.template.spec.containers[0].env.map((e: any) => [e.name, rewriteValue(e.value, { paths })]));
  const run = await runOrchardCli(dir, name, ['score'], { ...podEnv, JOB_COMPLETION_INDEX: '0', NODE_EXTRA_CA_CERTS: caFile });
  return { ...run, outputUri };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'orchard-scoring-sources-'));
  dataRoot = join(dir, 'image', 'opt', 'orchard', 'data');
  mkdirSync(join(dataRoot, 'salaries'), { recursive: true });
  writeFileSync(join(dataRoot, 'salaries', 'salaries.csv'), csv);
  const secrets = join(dir, 'image', 'var', 'run', 'secrets', 'kubernetes.io', 'serviceaccount');
  mkdirSync(secrets, { recursive: true });
  tokenPath = join(secrets, 'token');
  writeFileSync(tokenPath, SECRET);
  symlinkSync(tokenPath, join(dataRoot, 'salaries', 'innocent.csv'));
  server = await startHttpsServer({
    '/salaries.csv': csv,
    // Refused before it is followed, so the port never matters.
    '/elsewhere.csv': { redirect: 'https://127.0.0.1:1/salaries.csv' },
  });
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, server.ca);
  modelUri = (await trainExample('salaries.yaml', join(dir, 'salaries'), { iterations: 20, earlyStoppingRounds: 10 })).uri;
}, 300_000);

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("a ScoringJob shard's file:// inputs", () => {
  it.each([
    ['the service account token itself', () => pathToFileURL(tokenPath).href],
    ['a path that climbs out of the data directory', () => `file:///opt/orchard/data/../../../var/run/secrets/kubernetes.io/serviceaccount/token`],
    ['a symlink inside the data directory that points out', () => 'file:///opt/orchard/data/salaries/innocent.csv'],
  ])('refuse %s, naming the roots and the fix, without the file in status', async (_title, uri) => {
    const run = await scoreWith('outside', { uri: uri(), format: 'Csv' });
    expect(run.code).toBe(2);
    expect(run.termination).not.toContain(SECRET.slice(0, 40));
    expect(run.stderr).not.toContain(SECRET.slice(40, 80));
    const shown = rewriteValue(uri(), { paths: { '/opt/orchard/data': dataRoot } });
    expect(run.termination).toBe(
      `orchard score: ${shown} is outside the directories this Pod may read: file:// sources must be under ${dataRoot}; copy the file there or use gs://`,
    );
  }, 60_000);

  it('read the image data and the roots the operator adds, and publish the predictions', async () => {
    const inside = await scoreWith('inside', { uri: 'file:///opt/orchard/data/salaries/salaries.csv' });
    expect({ code: inside.code, stderr: inside.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(inside.termination)).toMatchObject({ shard: 0, shards: 1, rejected: 0 });
    expect((await readManifest(`${inside.outputUri}/shard-00000-of-00001/`)).files.map((f) => f.name).sort()).toEqual(['predictions.csv', 'summary.json']);

    const mounted = join(dir, 'mnt', 'datasets');
    mkdirSync(mounted, { recursive: true });
    writeFileSync(join(mounted, 'salaries.csv'), csv);
    const uri = pathToFileURL(join(mounted, 'salaries.csv')).href;
    expect((await scoreWith('mounted-refused', { uri })).code).toBe(2);
    const allowed = await scoreWith('mounted', { uri }, { ...operatorDefaults, fileRoots: [mounted] });
    expect({ code: allowed.code, stderr: allowed.stderr }).toEqual({ code: 0, stderr: '' });
  }, 120_000);
});

describe("a ScoringJob shard's file:// output", () => {
  // Outputs are not confined to roots: publishing never replaces what exists, which this holds to.
  it('cannot overwrite a file the Pod can write, and adds only its own shard directory to one that exists', async () => {
    const input = { uri: 'file:///opt/orchard/data/salaries/salaries.csv' };
    const onToken = await scoreWith('onto-token', input, operatorDefaults, pathToFileURL(tokenPath).href);
    expect(onToken.code).toBe(2);
    expect(onToken.termination).toMatch(/^orchard score: cannot publish to file:\/\/.*\/token\/shard-00000-of-00001\/: .*; nothing was published$/);
    expect(readFileSync(tokenPath, 'utf8')).toBe(SECRET);

    const data = join(dataRoot, 'salaries');
    const before = readdirSync(data).sort();
    const intoData = await scoreWith('into-data', input, operatorDefaults, pathToFileURL(dataRoot).href);
    expect(intoData.code).toBe(0);
    expect(readdirSync(data).sort()).toEqual(before);
    expect(readdirSync(dataRoot).sort()).toEqual(['salaries', 'shard-00000-of-00001']);
    const again = await scoreWith('into-data-again', input, operatorDefaults, pathToFileURL(dataRoot).href);
    expect(again.code).toBe(2);
    expect(again.termination).toMatch(/shard-00000-of-00001\/ is already published \(it has manifest\.json\) and artifacts are never overwritten: publish to a new location$/);
    rmSync(join(dataRoot, 'shard-00000-of-00001'), { recursive: true });
  }, 60_000);
});

describe("a ScoringJob shard's rejected rows", () => {
  // Inside the roots: a file the cluster's admin allowed still reaches status only as rows' reasons.
  it('are reported without quoting a long cell, as a KEY=value secrets file read as data would be', async () => {
    const path = join(dataRoot, 'secrets.env');
    writeFileSync(path, Array.from({ length: 5 }, (_, i) => `${SECRET.slice(0, 60)}${i},KEY_${i}`).join('\n'));
    const source = { uri: 'file:///opt/orchard/data/secrets.env', format: 'Csv', csv: { delimiter: ',', header: 'Absent', columns: ['work_year', 'job_title'] } };
    const run = await scoreWith('cells', source);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.termination).not.toContain(SECRET.slice(0, 30));
    const summary = JSON.parse(run.termination);
    expect(summary).toMatchObject({ rows: 0, rejected: 5 });
    expect(summary.errors).toEqual([1, 2, 3].map((n) => `file://${dataRoot}/secrets.env row ${n}: work_year: <61 characters> is not a number (send a decimal number, or map the value with valueMap)`));
  }, 60_000);
});

describe("a ScoringJob shard's https:// inputs", () => {
  const hosts: ScoringDefaults = { ...operatorDefaults, sourceHosts: ['localhost'] };
  const localhost = () => `https://localhost:${new URL(server.url).port}`;

  it('refuse a host the operator does not allow before connecting to it, and a redirect to one', async () => {
    const before = server.requests.length;
    const other = await scoreWith('other-host', { uri: `${server.url}/salaries.csv`, sha256: sha }, hosts);
    expect(other.code).toBe(2);
    expect(other.termination).toBe(
      `orchard score: ${server.url}/salaries.csv: host 127.0.0.1 is not one of the hosts sources may use (localhost): copy the file to an allowed host or gs://, or ask the cluster's admin to allow 127.0.0.1`,
    );
    expect(server.requests.length).toBe(before);

    const redirected = await scoreWith('redirect-host', { uri: `${localhost()}/elsewhere.csv`, sha256: sha, format: 'Csv' }, hosts);
    expect(redirected.code).toBe(2);
    expect(redirected.termination).toMatch(/elsewhere\.csv \(redirected to https:\/\/127\.0\.0\.1:1\/salaries\.csv\): host 127\.0\.0\.1 is not one of the hosts sources may use/);
  }, 60_000);

  it('read from an allowed host', async () => {
    const allowed = await scoreWith('allowed-host', { uri: `${localhost()}/salaries.csv`, sha256: sha }, hosts);
    expect({ code: allowed.code, stderr: allowed.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(allowed.termination)).toMatchObject({ rejected: 0 });
  }, 60_000);
});
