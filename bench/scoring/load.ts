// Closed-loop HTTP/1.1 load on raw sockets, for the serving benchmark.
import { connect } from 'node:net';

export interface Result {
  requests: number;
  rows: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
}

/**
 * Closed loop: `connections` keep-alive connections, each sending the next request when the last
 * answer is complete. Raw sockets with pre-built requests: a full HTTP client would cost the load
 * generator's core about as much per request as the server spends, and measure itself.
 */
export async function load(url: string, bodies: string[], rowsPer: number, connections: number, seconds: number, warmupSeconds = 1.5): Promise<Result> {
  const { hostname, port, pathname } = new URL(url);
  const requests = bodies.map((b) => Buffer.from(`POST ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`));
  const latencies: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  // A server that closes after each answer (Connection: close) gets a new connection per request.
  const client = (c: number) =>
    new Promise<void>((resolve) => {
      let k = c;
      let started = 0;
      const open = () => {
        const socket = connect({ host: hostname, port: Number(port) });
        socket.setNoDelay(true);
        let buffer = Buffer.alloc(0);
        let answered = false;
        const send = () => {
          started = performance.now();
          answered = false;
          socket.write(requests[k++ % requests.length]!);
        };
        socket.on('connect', () => (stop ? socket.end() : send()));
        socket.on('error', () => {
          if (measuring) errors++;
        });
        socket.on('close', () => {
          if (stop) return resolve();
          if (!answered && measuring) errors++;
          open();
        });
        socket.on('data', (chunk) => {
          buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
          for (;;) {
            const head = buffer.indexOf('\r\n\r\n');
            if (head < 0) return;
            const headers = buffer.subarray(0, head).toString('latin1');
            const length = Number(/content-length: *(\d+)/i.exec(headers)?.[1] ?? 0);
            if (buffer.length < head + 4 + length) return;
            buffer = buffer.subarray(head + 4 + length);
            answered = true;
            if (measuring) {
              if (headers.startsWith('HTTP/1.1 200')) latencies.push(performance.now() - started);
              else errors++;
            }
            if (stop) return void socket.end();
            if (/\r\nconnection: *close/i.test(headers)) return; // 'close' opens the next connection
            send();
          }
        });
      };
      open();
    });
  const clients = Array.from({ length: connections }, (_, c) => client(c));
  await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  stop = true;
  await Promise.all(clients);
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { requests: latencies.length, rows: latencies.length * rowsPer, seconds: elapsed, p50: q(0.5), p99: q(0.99), errors };
}

