// /healthz (the process answers), /readyz (caches synced; leading when leader election is on) and /metrics.
import express from 'express';
import type { Server } from 'node:http';
import type { OperatorMetrics } from './runtime/metrics.js';

export interface Probes {
  ready(): { ok: boolean; reason: string };
}

export function startHttp(port: number, metrics: OperatorMetrics, probes: Probes): Promise<Server> {
  const app = express();
  app.get('/healthz', (_req, res) => void res.json({ ok: true }));
  app.get('/readyz', (_req, res) => {
    const { ok, reason } = probes.ready();
    res.status(ok ? 200 : 503).json({ ok, reason });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return new Promise((resolve, reject) => {
    // Express 5 calls this back with the listen error too (EADDRINUSE): without the check the operator ran on with no probes.
    const server = app.listen(port, (err?: Error) => (err ? reject(err) : resolve(server)));
  });
}
