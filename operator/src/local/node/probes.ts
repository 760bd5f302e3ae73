// Startup, readiness and liveness probes, as the kubelet runs them: httpGet and tcpSocket against
// the Pod's address, every periodSeconds after initialDelaySeconds, with success and failure
// thresholds. exec and gRPC probes are refused at admission (./pod-spec.ts).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { k8s } from '../../kube/client.js';

export type Probe = k8s.V1Probe;
export interface ProbeResult {
  ok: boolean;
  message?: string;
}

/** The port a probe names: a number, or the name of one of the container's ports. */
export function probePort(port: number | string | undefined, ports: k8s.V1ContainerPort[] | undefined): number | undefined {
  if (typeof port === 'number') return port;
  if (port === undefined) return undefined;
  if (/^\d+$/.test(port)) return Number(port);
  return ports?.find((p) => p.name === port)?.containerPort;
}

export async function runProbe(probe: Probe, host: string, ports: k8s.V1ContainerPort[] | undefined): Promise<ProbeResult> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const get = probe.httpGet;
    const port = probePort(get.port as number | string, ports);
    if (port === undefined) return { ok: false, message: `port ${String(get.port)} is not a port of the container` };
    const scheme = (get.scheme ?? 'HTTP').toLowerCase();
    const url = `${scheme}://${get.host || host}:${port}${get.path ?? '/'}`;
    const headers = Object.fromEntries((get.httpHeaders ?? []).map((h) => [h.name, h.value]));
    return httpProbe(url, headers, timeoutMs);
  }
  if (probe.tcpSocket) {
    const port = probePort(probe.tcpSocket.port as number | string, ports);
    if (port === undefined) return { ok: false, message: `port ${String(probe.tcpSocket.port)} is not a port of the container` };
    return tcpProbe(probe.tcpSocket.host || host, port, timeoutMs);
  }
  return { ok: false, message: 'the probe has no httpGet or tcpSocket handler' };
}

function httpProbe(url: string, headers: Record<string, string>, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    // The kubelet does not verify probe certificates either.
    const req = send(url, { timeout: timeoutMs, headers: { 'user-agent': 'kube-probe/orchard-local', ...headers }, rejectUnauthorized: false }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 400 ? { ok: true } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs / 1000}s`)));
    req.on('error', (err) => resolve({ ok: false, message: `Get "${url}": ${err.message}` }));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ ok: true });
    });
    socket.once('timeout', () => socket.destroy(new Error(`timeout after ${timeoutMs / 1000}s`)));
    socket.once('error', (err) => resolve({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` }));
  });
}

/**
 * Runs one probe until stopped, reporting each change of its verdict (after successThreshold
 * successes or failureThreshold failures in a row).
 */
export class ProbeLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private successes = 0;
  private failures = 0;
  private verdict: boolean | undefined;

  constructor(
    private readonly probe: Probe,
    private readonly target: () => { host: string; ports: k8s.V1ContainerPort[] | undefined },
    private readonly onVerdict: (ok: boolean, message: string | undefined) => void,
  ) {}

  start(): void {
    this.schedule((this.probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const { host, ports } = this.target();
    const result = await runProbe(this.probe, host, ports);
    if (this.stopped) return;
    if (result.ok) {
      this.successes++;
      this.failures = 0;
      if (this.verdict !== true && this.successes >= (this.probe.successThreshold ?? 1)) this.decide(true, undefined);
    } else {
      this.failures++;
      this.successes = 0;
      if (this.verdict !== false && this.failures >= (this.probe.failureThreshold ?? 3)) this.decide(false, result.message);
    }
    this.schedule((this.probe.periodSeconds ?? 10) * 1000);
  }

  private decide(ok: boolean, message: string | undefined): void {
    this.verdict = ok;
    this.onVerdict(ok, message);
  }
}
