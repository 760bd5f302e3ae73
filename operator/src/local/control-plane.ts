// A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager and
// (optionally) kube-scheduler as local processes, in a temporary directory, on free ports.
// Used by the integration tests' global set-up and by the local cluster of `npm start`.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive, readPidFile, startProcess, tailOf, type Managed } from './process.js';
import { toolPath } from './toolchain.js';

export interface ControlPlaneOptions {
  /** Also run kube-scheduler (the local cluster needs it; API tests do not). */
  scheduler?: boolean;
  /** Parent of the temporary directory. */
  baseDir?: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** How long start() may take before it fails. */
  timeoutMs?: number;
  /**
   * Nodes that get a kubelet's identity (`system:node:<name>` in `system:nodes`), limited by the
   * Node authorizer and NodeRestriction as a kubelet is: see nodeKubeconfig().
   */
  nodes?: string[];
}

const SERVICE_CIDR = '10.96.0.0/16';
const DIR_PREFIX = 'orchard-cp-';

/**
 * Removes directories of control planes whose owner died without cleaning up (SIGKILL): its
 * processes died with it (pdeathsig), only the files remain.
 */
export function sweepStaleControlPlanes(baseDir = tmpdir()): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(baseDir)) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(baseDir, name);
    // None yet: still being created (or being written), or not ours.
    const owner = readPidFile(join(dir, 'owner.pid'));
    if (owner !== undefined && !pidAlive(owner)) {
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    }
  }
  return removed;
}

export class ControlPlane {
  private readonly processes: Managed[] = [];
  private stopped = false;
  server = '';
  kubeconfig = '';
  token = '';
  caFile = '';

  private constructor(readonly dir: string, private readonly log: (line: string) => void) {}

  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    sweepStaleControlPlanes(options.baseDir);
    const dir = mkdtempSync(join(options.baseDir ?? tmpdir(), DIR_PREFIX));
    writeFileSync(join(dir, 'owner.pid'), String(process.pid));
    const cp = new ControlPlane(dir, options.log ?? (() => {}));
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    try {
      await cp.boot(options.scheduler ?? false, options.nodes ?? [], deadline);
      return cp;
    } catch (err) {
      await cp.stop();
      throw err;
    }
  }

  private async boot(withScheduler: boolean, nodes: string[], deadline: number): Promise<void> {
    const t0 = Date.now();
    const dir = this.dir;
    for (const sub of ['etcd', 'pki', 'logs']) mkdirSync(join(dir, sub), { recursive: true });
    const [etcdPort, peerPort, apiPort, kcmPort, schedPort] = await freePorts(5);

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = this.spawn('etcd', [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    await waitFor(etcd, () => httpOk(`${etcdUrl}/health`), deadline);
    this.log(`etcd ready (${Date.now() - t0} ms)`);

    // Credentials: static bearer tokens per identity, and a service-account signing key.
    const pki = join(dir, 'pki');
    const tokens = { admin: hex(), controllerManager: hex(), scheduler: hex() };
    const nodeTokens = new Map(nodes.map((name) => [name, hex()]));
    writeFileSync(
      join(pki, 'tokens.csv'),
      [
        `${tokens.admin},orchard-admin,orchard-admin,"system:masters"`,
        `${tokens.controllerManager},system:kube-controller-manager,system:kube-controller-manager`,
        `${tokens.scheduler},system:kube-scheduler,system:kube-scheduler`,
        ...[...nodeTokens].map(([name, token]) => `${token},system:node:${name},system:node:${name},"system:nodes"`),
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(pki, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(join(pki, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));

    this.server = `https://127.0.0.1:${apiPort}`;
    this.token = tokens.admin;
    // kube-apiserver writes a self-signed serving certificate (and its CA) here when given none.
    this.caFile = join(pki, 'apiserver.crt');
    const apiserver = this.spawn('kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${pki}`,
      `--token-auth-file=${join(pki, 'tokens.csv')}`,
      // Node first, as in clusters built by kubeadm: a node identity reaches only what its Pods use.
      '--authorization-mode=Node,RBAC',
      `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--allow-privileged=false',
      // Off by default upstream, on in some distributions: setting blockOwnerDeletion on a child
      // then needs update on the owner's finalizers. On here, so the chart's RBAC is proven with it.
      // NodeRestriction: a node identity may change only its own Node, Lease and Pods.
      '--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement',
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      '--enable-priority-and-fairness=false',
      '--max-requests-inflight=1000',
      '--max-mutating-requests-inflight=500',
      '--v=0',
    ]);
    await waitFor(apiserver, () => this.apiOk('/readyz'), deadline);
    this.log(`kube-apiserver ready at ${this.server} (${Date.now() - t0} ms)`);

    this.kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(this.kubeconfig, kubeconfigYaml(this.server, this.caFile, 'orchard-admin', tokens.admin), { mode: 0o600 });
    for (const [name, token] of nodeTokens) writeFileSync(this.nodeKubeconfig(name), kubeconfigYaml(this.server, this.caFile, `system:node:${name}`, token), { mode: 0o600 });
    const kcmConfig = join(pki, 'controller-manager.kubeconfig');
    writeFileSync(kcmConfig, kubeconfigYaml(this.server, this.caFile, 'system:kube-controller-manager', tokens.controllerManager), { mode: 0o600 });

    const kcm = this.spawn('kube-controller-manager', [
      `--kubeconfig=${kcmConfig}`,
      `--authentication-kubeconfig=${kcmConfig}`,
      `--authorization-kubeconfig=${kcmConfig}`,
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${join(pki, 'sa.key')}`,
      `--root-ca-file=${this.caFile}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--cert-dir=${join(pki, 'kcm')}`,
      // Controllers that need a cloud or a kubelet have nothing to do here.
      '--controllers=*,-cloud-node-lifecycle-controller,-service-lb-controller,-node-route-controller,-persistentvolume-attach-detach-controller',
      '--kube-api-qps=200',
      '--kube-api-burst=400',
      '--concurrent-job-syncs=20',
      '--v=0',
    ]);
    await waitFor(kcm, () => httpsOk(`https://127.0.0.1:${kcmPort}/healthz`), deadline);
    // Pods are admitted only once their namespace's default ServiceAccount exists.
    await waitFor(kcm, () => this.apiOk('/api/v1/namespaces/default/serviceaccounts/default'), deadline);
    this.log(`kube-controller-manager ready (${Date.now() - t0} ms)`);

    if (withScheduler) {
      const schedConfig = join(pki, 'scheduler.kubeconfig');
      writeFileSync(schedConfig, kubeconfigYaml(this.server, this.caFile, 'system:kube-scheduler', tokens.scheduler), { mode: 0o600 });
      const config = join(pki, 'scheduler.yaml');
      writeFileSync(
        config,
        `apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  kubeconfig: ${schedConfig}\nleaderElection:\n  leaderElect: false\n`,
      );
      const scheduler = this.spawn('kube-scheduler', [
        `--config=${config}`,
        `--authentication-kubeconfig=${schedConfig}`,
        `--authorization-kubeconfig=${schedConfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${schedPort}`,
        `--cert-dir=${join(pki, 'scheduler')}`,
        '--v=0',
      ]);
      await waitFor(scheduler, () => httpsOk(`https://127.0.0.1:${schedPort}/healthz`), deadline);
      this.log(`kube-scheduler ready (${Date.now() - t0} ms)`);
    }
  }

  private spawn(tool: 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler', args: string[]): Managed {
    const managed = startProcess(tool, toolPath(tool), args, join(this.dir, 'logs', `${tool}.log`));
    this.processes.push(managed);
    return managed;
  }

  /** The kubeconfig of a node named in the options: the identity a kubelet on that node has. */
  nodeKubeconfig(name: string): string {
    return join(this.dir, 'pki', `node-${name}.kubeconfig`);
  }

  /** GET a path of the API server as the admin; true on 2xx. */
  apiOk(path: string): Promise<boolean> {
    return httpsOk(`${this.server}${path}`, { authorization: `Bearer ${this.token}` });
  }

  /** Stops every process (newest first) and removes the directory. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of [...this.processes].reverse()) await p.stop();
    if (!process.env.ORCHARD_KEEP_CONTROL_PLANE_DIR) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Process ids of the running components. */
  pids(): number[] {
    return this.processes.flatMap((p) => (p.child.pid !== undefined && p.child.exitCode === null ? [p.child.pid] : []));
  }
}

function kubeconfigYaml(server: string, caFile: string, user: string, token: string): string {
  const ca = readFileSync(caFile).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: orchard-local
  cluster:
    server: ${server}
    certificate-authority-data: ${ca}
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: orchard-local
  context:
    cluster: orchard-local
    user: ${user}
    namespace: default
current-context: orchard-local
`;
}

function hex(): string {
  return randomBytes(24).toString('hex');
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<import('node:net').Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

async function waitFor(proc: Managed, probe: () => Promise<boolean>, deadline: number): Promise<void> {
  let exitCode: number | null | undefined;
  void proc.exited.then((code) => (exitCode = code));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new Error(`${proc.name} exited with code ${exitCode} during start-up:\n${tailOf(proc.logFile)}`);
    }
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name} not ready in time; last log lines (${proc.logFile}):\n${tailOf(proc.logFile)}`);
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

// Probes only: the servers' certificates are self-signed moments earlier.
function httpsOk(url: string, headers: Record<string, string> = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 2000, rejectUnauthorized: false, headers }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
