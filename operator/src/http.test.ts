import { describe, expect, it } from '@jest/globals';
import { createServer, type AddressInfo } from 'node:net';
import { startHttp } from './http.js';
import { OperatorMetrics } from './runtime/metrics.js';

describe('startHttp', () => {
  it('rejects when its port is taken, rather than running on with no probes', async () => {
    const held = createServer();
    await new Promise<void>((r) => held.listen(0, () => r()));
    try {
      const { port } = held.address() as AddressInfo;
      await expect(startHttp(port, new OperatorMetrics(), { ready: () => ({ ok: true, reason: 'test' }) })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      held.close();
    }
  });
});
