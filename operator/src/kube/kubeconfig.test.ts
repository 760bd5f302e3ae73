import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { inClusterConfig, kubeConfigFromFiles, loadKubeConfig, type KubeConfig } from './kubeconfig.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'orchard-kubeconfig-'));
}

function kubeconfig(cluster: object, user: object | undefined, context = 'ctx'): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: user ? [{ name: 'u', user }] : [],
    contexts: [{ name: context, context: { cluster: 'c', ...(user ? { user: 'u' } : {}) } }],
    'current-context': context,
  });
}

async function optionsOf(kc: KubeConfig): Promise<RequestOptions & { headers: Record<string, string> }> {
  const options: RequestOptions = { headers: { accept: 'application/json' } };
  await kc.applyToHTTPSOptions(options);
  return options as RequestOptions & { headers: Record<string, string> };
}

describe('kubeconfig files', () => {
  it('reads the server, inline CA, client certificate files relative to the file, and a token', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'pki'));
    writeFileSync(join(dir, 'pki', 'client.crt'), 'CLIENT CERT');
    writeFileSync(join(dir, 'pki', 'client.key'), 'CLIENT KEY');
    const file = join(dir, 'config');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: ${b64('THE CA')}
users:
- name: u
  user:
    client-certificate: pki/client.crt
    client-key: pki/client.key
    token: abc123
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: ns}
current-context: ctx
`,
    );
    const kc = loadKubeConfig(file);
    expect(kc.getCurrentCluster()).toEqual({ server: 'https://10.0.0.1:6443' });
    const options = await optionsOf(kc);
    expect(options.ca?.toString()).toBe('THE CA');
    expect(options.cert?.toString()).toBe('CLIENT CERT');
    expect(options.key?.toString()).toBe('CLIENT KEY');
    expect(options.headers).toEqual({ accept: 'application/json', authorization: 'Bearer abc123' });
    expect(options.rejectUnauthorized).toBeUndefined();
  });

  it('reads inline client certificates, a CA file, insecure-skip-tls-verify and tls-server-name', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'ca.crt'), 'CA FILE');
    const file = join(dir, 'config');
    writeFileSync(
      file,
      kubeconfig(
        { server: 'https://api.example', 'certificate-authority': 'ca.crt', 'insecure-skip-tls-verify': true, 'tls-server-name': 'kubernetes' },
        { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
      ),
    );
    const options = await optionsOf(loadKubeConfig(file));
    expect(options.ca?.toString()).toBe('CA FILE');
    expect(options.cert?.toString()).toBe('CERT');
    expect(options.key?.toString()).toBe('KEY');
    expect(options.rejectUnauthorized).toBe(false);
    expect(options.servername).toBe('kubernetes');
    expect(options.headers.authorization).toBeUndefined();
  });

  it('re-reads a tokenFile once a minute, so a rotated token is used', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'token'), 'first\n');
    const file = join(dir, 'config');
    writeFileSync(file, kubeconfig({ server: 'https://api.example' }, { tokenFile: 'token', token: 'ignored' }));
    let now = 1_000_000;
    const kc = kubeConfigFromFiles([file], () => now);
    expect((await optionsOf(kc)).headers.authorization).toBe('Bearer first');
    writeFileSync(join(dir, 'token'), 'second\n');
    now += 30_000;
    expect((await optionsOf(kc)).headers.authorization).toBe('Bearer first');
    now += 30_000;
    expect((await optionsOf(kc)).headers.authorization).toBe('Bearer second');
  });

  it('merges a KUBECONFIG list as kubectl does: the first current-context and the first definition of a name win', async () => {
    const dir = tempDir();
    const first = join(dir, 'first');
    const second = join(dir, 'second');
    writeFileSync(first, JSON.stringify({ clusters: [{ name: 'c', cluster: { server: 'https://first' } }], 'current-context': 'two' }));
    writeFileSync(
      second,
      JSON.stringify({
        clusters: [{ name: 'c', cluster: { server: 'https://second' } }],
        users: [{ name: 'u', user: { token: 't' } }],
        contexts: [{ name: 'two', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'other',
      }),
    );
    const kc = loadKubeConfig(undefined, { KUBECONFIG: [first, second].join(delimiter) });
    expect(kc.getCurrentCluster()?.server).toBe('https://first');
    expect((await optionsOf(kc)).headers.authorization).toBe('Bearer t');
  });

  it('names what is missing', () => {
    const dir = tempDir();
    const noContext = join(dir, 'a');
    writeFileSync(noContext, kubeconfig({ server: 'https://x' }, undefined).replace('"current-context":"ctx"', '"current-context":""'));
    expect(() => loadKubeConfig(noContext)).toThrow(/current-context is not set/);
    const unknownUser = join(dir, 'b');
    writeFileSync(unknownUser, JSON.stringify({ clusters: [{ name: 'c', cluster: { server: 'https://x' } }], contexts: [{ name: 'x', context: { cluster: 'c', user: 'nobody' } }], 'current-context': 'x' }));
    expect(() => loadKubeConfig(unknownUser)).toThrow(/user nobody of context x is not defined/);
    const noServer = join(dir, 'c');
    writeFileSync(noServer, kubeconfig({}, undefined));
    expect(() => loadKubeConfig(noServer)).toThrow(/cluster c of context ctx has no server/);
  });
});

describe('credentials only client-node implements', () => {
  it('runs an exec plugin through client-node, loaded on the first request', async () => {
    const dir = tempDir();
    const file = join(dir, 'config');
    const credential = { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'from-the-plugin' } };
    writeFileSync(
      file,
      kubeconfig(
        { server: 'https://gke.example', 'certificate-authority-data': b64('GKE CA') },
        { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: ['-e', `process.stdout.write(${JSON.stringify(JSON.stringify(credential))})`], interactiveMode: 'Never' } },
      ),
    );
    const kc = loadKubeConfig(file);
    expect(kc.getCurrentCluster()).toEqual({ server: 'https://gke.example' });
    const options = await optionsOf(kc);
    expect(options.headers.Authorization ?? options.headers.authorization).toBe('Bearer from-the-plugin');
    expect(options.ca?.toString()).toBe('GKE CA');
  });

  it('hands proxies to client-node and reports the proxy with the cluster', async () => {
    const dir = tempDir();
    const file = join(dir, 'config');
    writeFileSync(file, kubeconfig({ server: 'https://api.example', 'proxy-url': 'http://proxy.example:3128' }, { token: 't' }));
    const kc = loadKubeConfig(file);
    expect(kc.getCurrentCluster()).toEqual({ server: 'https://api.example', proxyUrl: 'http://proxy.example:3128' });
    const options = await optionsOf(kc);
    // client-node's proxy agent carries the connection.
    expect(options.agent?.constructor.name).toBe('HttpsProxyAgent');
    expect(options.headers.Authorization ?? options.headers.authorization).toBe('Bearer t');
  });
});

describe('in-cluster configuration', () => {
  it('uses KUBERNETES_SERVICE_HOST/PORT, the CA file and the token file, re-read as it rotates', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'ca.crt'), 'CLUSTER CA');
    writeFileSync(join(dir, 'token'), 'token-1');
    let now = 0;
    const kc = inClusterConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir, () => now);
    expect(kc.getCurrentCluster()).toEqual({ server: 'https://10.96.0.1:443' });
    const options = await optionsOf(kc);
    expect(options.ca?.toString()).toBe('CLUSTER CA');
    expect(options.headers.authorization).toBe('Bearer token-1');
    writeFileSync(join(dir, 'token'), 'token-2');
    now += 60_000;
    expect((await optionsOf(kc)).headers.authorization).toBe('Bearer token-2');
  });

  it('keeps the last token when a re-read fails', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'ca.crt'), 'CA');
    writeFileSync(join(dir, 'token'), 'token-1');
    let now = 0;
    const kc = inClusterConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, dir, () => now);
    expect(kc.getCurrentCluster()?.server).toBe('https://[fd00::1]:6443');
    expect((await optionsOf(kc)).headers.authorization).toBe('Bearer token-1');
    rmSync(join(dir, 'token'));
    now += 60_000;
    expect((await optionsOf(kc)).headers.authorization).toBe('Bearer token-1');
  });

  it('needs the service environment', () => {
    expect(() => inClusterConfig({}, tempDir())).toThrow(/KUBERNETES_SERVICE_HOST/);
  });
});
