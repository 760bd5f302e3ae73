// An https:// source must not work as a port scanner or a fetch-anything oracle: what reaches status
// is the same for a closed port, a plain-text port and a TLS port with a bad certificate; a
// mismatching body's digest stays out of it; and the hosts the operator allows are the only ones a
// source, or any redirect it takes, may reach. Real servers on loopback, a real `orchard prepare`.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { repoRoot } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { startHttpsServer, type HttpsServer } from '../support/https-server.js';
import { runOrchardCli, type CliRun } from '../support/orchard-cli.js';
import { closedPort as closedLoopbackPort } from '../support/wait.js';

let dir: string;
let trusted: HttpsServer; // its certificate is in NODE_EXTRA_CA_CERTS
let untrusted: HttpsServer; // a certificate the Pod does not trust
let plain: Server; // http only
let plainPort: number;
let closedPort: number;
let caFile: string;
const csv = readFileSync(join(repoRoot, 'data', 'ai-jobs-salaries', 'salaries.csv'));
const sha = createHash('sha256').update(csv).digest('hex');

type Run = CliRun;

async function prepareFrom(name: string, source: Record<string, unknown>, env: Record<string, string> = {}): Promise<Run> {
  const spec: any = exampleTrainingRun('salaries.yaml');
  spec.data.source = { format: 'Csv', sha256: sha, ...source };
  const specPath = join(dir, `${name}.yaml`);
  writeFileSync(specPath, stringify({ apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name }, spec }));
  return runOrchardCli(dir, name, ['prepare', '--spec', specPath, '--work', join(dir, `${name}-work`)], { NODE_EXTRA_CA_CERTS: caFile, ...env });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'orchard-https-sources-'));
  trusted = await startHttpsServer({
    '/salaries.csv': csv,
    // Refused before it is followed, so the port never matters.
    '/elsewhere.csv': { redirect: 'https://localhost:1/salaries.csv' },
  });
  untrusted = await startHttpsServer({ '/salaries.csv': csv });
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, trusted.ca);
  plain = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/csv' }).end(csv));
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  plainPort = (plain.address() as AddressInfo).port;
  // Not a port-0 port closed again: another test worker's port-0 bind could take it before the fetch.
  closedPort = await closedLoopbackPort();
});

afterAll(async () => {
  await trusted?.close();
  await untrusted?.close();
  await new Promise<void>((resolve) => (plain ? plain.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('an https:// source that cannot be fetched', () => {
  it('reads the same in status for a closed port, a plain-text port and an untrusted certificate', async () => {
    const targets = {
      closed: `https://127.0.0.1:${closedPort}/salaries.csv`,
      plain: `https://127.0.0.1:${plainPort}/salaries.csv`,
      untrusted: `${untrusted.url}/salaries.csv`,
    };
    const runs = await Promise.all(Object.entries(targets).map(async ([what, uri]) => [what, uri, await prepareFrom(`fetch-${what}`, { uri: `${uri}?sig=s3cret` })] as const));
    const statuses = runs.map(([, uri, run]) => {
      expect(run.code).toBe(2);
      return run.termination.replace(uri, 'URI');
    });
    expect(new Set(statuses)).toEqual(new Set(['orchard prepare: could not fetch URI: connection failed; details in the Pod log']));
    // The log keeps what an operator needs to tell them apart; status keeps no query string.
    const logs = Object.fromEntries(runs.map(([what, , run]) => [what, run.stderr]));
    expect(logs.closed).toMatch(/ECONNREFUSED/);
    expect(logs.plain).toMatch(/SSL|TLS|EPROTO|wrong version/i);
    expect(logs.untrusted).toMatch(/self-signed certificate/);
    for (const [, , run] of runs) expect(run.termination).not.toContain('s3cret');
  }, 60_000);

  it('names the expected digest on a mismatch but not the one it computed', async () => {
    const wrong = createHash('sha256').update('another file').digest('hex');
    const run = await prepareFrom('sha', { uri: `${trusted.url}/salaries.csv`, sha256: wrong });
    expect(run.code).toBe(2);
    expect(run.termination).toBe(
      `orchard prepare: ${trusted.url}/salaries.csv: the body's SHA-256 does not match the expected ${wrong}: update data.source.sha256 if the file changed upstream (the Pod log has the actual digest)`,
    );
    expect(run.termination).not.toContain(sha);
    expect(run.stderr).toContain(sha);
  }, 60_000);
});

describe('the hosts https:// sources may reach', () => {
  it('are any host when the operator sets none', async () => {
    const run = await prepareFrom('any-host', { uri: `${trusted.url}/salaries.csv` });
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  }, 60_000);

  it('refuse another host before connecting to it, and a redirect to one', async () => {
    const env = { ORCHARD_SOURCE_HOSTS: JSON.stringify(['127.0.0.1', '*.example.com']) };
    const before = untrusted.requests.length;
    const other = await prepareFrom('other-host', { uri: `https://localhost:${new URL(untrusted.url).port}/salaries.csv` }, env);
    expect(other.code).toBe(2);
    expect(other.termination).toMatch(/: host localhost is not one of the hosts sources may use \(127\.0\.0\.1, \*\.example\.com\): copy the file to an allowed host or gs:\/\/, or ask the cluster's admin to allow localhost$/);
    expect(untrusted.requests.length).toBe(before);

    const redirected = await prepareFrom('redirect-host', { uri: `${trusted.url}/elsewhere.csv` }, env);
    expect(redirected.code).toBe(2);
    expect(redirected.termination).toMatch(/elsewhere\.csv \(redirected to https:\/\/localhost:1\/salaries\.csv\): host localhost is not one of the hosts sources may use/);

    const allowed = await prepareFrom('allowed-host', { uri: `${trusted.url}/salaries.csv` }, env);
    expect({ code: allowed.code, stderr: allowed.stderr }).toEqual({ code: 0, stderr: '' });
  }, 60_000);
});
