// requestJson against loopback servers: one that never answers, one that answers an API error.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { apiErrorMessage, requestJson, statusCode } from './client.js';
import type { KubeConfig } from './kubeconfig.js';

let server: Server | undefined;

async function serve(handle: Parameters<typeof createServer>[1]): Promise<KubeConfig> {
  server = createServer(handle);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { getCurrentCluster: () => ({ server: url }), applyToHTTPSOptions: async () => {} } as unknown as KubeConfig;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

describe('requestJson', () => {
  it('gives up on a server that accepts the request and never answers, naming the request', async () => {
    const kc = await serve(() => {});
    const started = Date.now();
    const err = await requestJson(kc, 'GET', '/apis/batch/v1/namespaces/ns/jobs?limit=1', { timeoutMs: 300 }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('GET /apis/batch/v1/namespaces/ns/jobs: no answer within 0.3 s');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('gives up on an answer whose body stops half-way', async () => {
    const kc = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"items": [');
    });
    await expect(requestJson(kc, 'GET', '/api/v1/pods', { timeoutMs: 300 })).rejects.toThrow('GET /api/v1/pods: no answer within 0.3 s');
  });

  it("carries the API server's message, not just the code", async () => {
    const message = 'Job.batch "r1-train" is invalid: spec.template.spec.tolerations[0].key: Invalid value: "a b"';
    const kc = await serve((_req, res) => res.writeHead(422, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 422, reason: 'Invalid', message })));
    const err = await requestJson(kc, 'POST', '/apis/batch/v1/namespaces/ns/jobs', { body: {} }).catch((e: unknown) => e);
    expect(statusCode(err)).toBe(422);
    expect(apiErrorMessage(err)).toBe(message);
    expect((err as Error).message).toBe(`POST /apis/batch/v1/namespaces/ns/jobs: HTTP 422: ${message}`);
  });
});
