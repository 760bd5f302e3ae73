// A loopback https server with a certificate made at test time (openssl), serving fixed paths.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a path answers: bytes (200), a redirect, or a status with no body. */
export type Route = Buffer | { redirect: string } | { status: number };

export interface HttpsServer {
  /** https://127.0.0.1:PORT */
  url: string;
  /** The self-signed certificate (PEM), to trust as the only CA. */
  ca: string;
  /** Paths requested so far, in order. */
  requests: string[];
  close(): Promise<void>;
}

export async function startHttpsServer(routes: Record<string, Route>): Promise<HttpsServer> {
  const { key, cert } = selfSignedCertificate();
  const requests: string[] = [];
  const server = createServer({ key, cert }, (req, res) => {
    const path = req.url ?? '/';
    requests.push(path);
    const route = routes[path];
    if (route === undefined) res.writeHead(404).end();
    else if (Buffer.isBuffer(route)) res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': route.length }).end(route);
    else if ('redirect' in route) res.writeHead(302, { location: route.redirect }).end();
    else res.writeHead(route.status).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    ca: cert,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'orchard-https-'));
  try {
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
        '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
