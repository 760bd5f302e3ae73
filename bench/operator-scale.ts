// The TrainingRun controller at scale, against a real API server and Job controller: N runs created
// at once, the time until every one has its training Job, the API requests that took and the memory
// it held. `npm run bench:operator` (add `-- --runs 1000`, `--concurrency 50`, `--workers 4`).
//
// The operator runs in a process of its own, as in a cluster (`node --import tsx`, the caches, the
// controllers and the probe/metrics HTTP server), so its RSS is its own and not the benchmark's.
// The same file is that process's entry (`--operator`): it reports to the benchmark over IPC.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { TrainingDefaults } from '../operator/src/controllers/training-run/desired.js';
import type { KubeConfig } from '../operator/src/kube/kubeconfig.js';
import type { OperatorMetrics } from '../operator/src/runtime/metrics.js';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '50' },
    workers: { type: 'string', default: '4' },
    'timeout-seconds': { type: 'string', default: '300' },
    // The operator process' own flags.
    operator: { type: 'boolean', default: false },
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
  },
});
const positive = (name: string, value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
};
const RUNS = positive('runs', flags.runs);
const CONCURRENCY = positive('concurrency', flags.concurrency);
const WORKERS = positive('workers', flags.workers);
const TIMEOUT_MS = positive('timeout-seconds', flags['timeout-seconds']) * 1000;
const TARGET_SECONDS = 60;
const TARGET_RSS_MIB = 200;
const POLL_MS = 250;
/** The operator counts as settled once no pass has run for this long. */
const QUIET_MS = 3000;

const API = '/apis/orchard.dev/v1alpha1';
const MANAGED = encodeURIComponent('app.kubernetes.io/managed-by=orchard');
// Polls ask for names only (a Table without objects): a thousand full Jobs, or even their metadata
// with managedFields, every 250 ms would cost the API server and this process more than the operator.
const NAMES_ONLY = 'application/json;as=Table;g=meta.k8s.io;v=v1';
const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const defaults: TrainingDefaults = { image: 'orchard:bench', artifactRoot: 'gs://orchard-bench/runs', backoffLimit: 1, serviceAccountName: 'default' };

/** Wall-clock milliseconds with sub-millisecond precision, comparable across the two processes. */
const epochMs = () => performance.timeOrigin + performance.now();
const mib = (bytes: number) => bytes / 2 ** 20;
const f = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Counts every request made through it by verb: requestJson and the informers' watches both take
 * their TLS options from here, once per request, with the method and path set.
 */
class CountingKubeConfig implements KubeConfig {
  readonly requests = new Map<string, number>();

  constructor(private readonly inner: KubeConfig) {}

  getCurrentCluster() {
    return this.inner.getCurrentCluster();
  }

  async applyToHTTPSOptions(options: RequestOptions): Promise<void> {
    await this.inner.applyToHTTPSOptions(options);
    const verb = /[?&]watch=(1|true)(&|$)/.test(options.path ?? '') ? 'WATCH' : (options.method ?? 'GET');
    this.requests.set(verb, (this.requests.get(verb) ?? 0) + 1);
  }

  total(): number {
    return [...this.requests.values()].reduce((a, b) => a + b, 0);
  }
}

/** The operator process' answers over IPC. */
interface Progress {
  reconciles: number;
  queue: number;
  rss: number;
}
interface Started {
  before: NodeJS.MemoryUsage;
  startupRequests: number;
  pid: number;
}
interface Final {
  reconciles: number;
  writes: number;
  reconcileResults: string;
  writesByVerb: string;
  passP50: number;
  passP99: number;
  maxQueue: number;
  requests: [string, number][];
  total: number;
  startupRequests: number;
  events: [string, number][];
  jobCreatedAt: [string, number][];
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  before: NodeJS.MemoryUsage;
  sampledPeak: NodeJS.MemoryUsage;
  after: NodeJS.MemoryUsage;
  afterGc: NodeJS.MemoryUsage;
  highWaterRss: number;
  cached: string[];
}

/** VmHWM: the most RSS the process has held at any moment, as the kernel counted it. */
function highWaterRss(): number {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return Number(line?.match(/(\d+)\s*kB/)?.[1] ?? NaN) * 1024;
}

if (flags.operator) await runOperatorProcess();
else await runBenchmark();

/** The operator's side: the caches, controllers and HTTP server of operator/src/main.ts, instrumented. */
async function runOperatorProcess(): Promise<void> {
  if (!flags.kubeconfig || !flags.namespace || !process.send) throw new Error('--operator needs --kubeconfig, --namespace and an IPC channel');
  const send = (message: unknown) => process.send!(message);
  const { loadKubeConfig } = await import('../operator/src/kube/kubeconfig.js');
  const { CONTROLLER } = await import('../operator/src/controllers/training-run/reconciler.js');
  const { startOperator } = await import('../operator/src/operator.js');
  const { startHttp } = await import('../operator/src/http.js');
  const { apiEventRecorder } = await import('../operator/src/runtime/events.js');
  const { silentLogger } = await import('../operator/src/runtime/log.js');
  const { OperatorMetrics } = await import('../operator/src/runtime/metrics.js');
  type EventRecorder = import('../operator/src/runtime/events.js').EventRecorder;

  // A full collection at the end tells live memory from garbage not yet collected.
  setFlagsFromString('--expose-gc');
  const collectGarbage = runInNewContext('gc') as () => void;

  const counterTotal = async (counter: OperatorMetrics['reconciles'] | OperatorMetrics['apiWrites']): Promise<number> =>
    (await counter.get()).values.filter((v) => v.labels.controller === CONTROLLER).reduce((n, v) => n + v.value, 0);

  /** Prometheus' histogram_quantile: linear interpolation inside the bucket that holds the rank. */
  const histogramQuantile = async (histogram: OperatorMetrics['reconcileSeconds'], q: number): Promise<number> => {
    const buckets = (await histogram.get()).values
      .filter((v) => v.metricName?.endsWith('_bucket') && v.labels.controller === CONTROLLER)
      .map((v) => {
        const le = (v.labels as { le?: string | number }).le;
        return { le: le === '+Inf' ? Infinity : Number(le), count: v.value };
      })
      .sort((a, b) => a.le - b.le);
    const rank = q * (buckets.at(-1)?.count ?? 0);
    let lower = 0;
    let below = 0;
    for (const b of buckets) {
      if (b.count >= rank && b.count > below) return b.le === Infinity ? lower : lower + ((b.le - lower) * (rank - below)) / (b.count - below);
      lower = b.le;
      below = b.count;
    }
    return NaN;
  };

  const kc = new CountingKubeConfig(loadKubeConfig(flags.kubeconfig));
  const metrics = new OperatorMetrics();
  const stop = new AbortController();
  const events = new Map<string, number>();
  const jobCreatedAt = new Map<string, number>();
  const sendEvent = apiEventRecorder(kc, 'orchard-operator', silentLogger);
  // The real recorder, counted. JobCreated is recorded the moment the Job's POST has returned,
  // which times each run's Job.
  const record: EventRecorder = async (target, type, reason, message) => {
    if (reason === 'JobCreated' && !jobCreatedAt.has(target.metadata.name)) jobCreatedAt.set(target.metadata.name, epochMs());
    events.set(reason, (events.get(reason) ?? 0) + 1);
    await sendEvent(target, type, reason, message);
  };

  let synced = false;
  const server = await startHttp(0, metrics, { ready: () => (synced ? { ok: true, reason: 'caches synced' } : { ok: false, reason: 'caches syncing' }) });
  const before = process.memoryUsage();
  let sampledPeak = before;
  let maxQueue = 0;
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const operator = await startOperator({ kc, namespace: flags.namespace, defaults, log: silentLogger, metrics, workers: WORKERS, record }, stop.signal);
  synced = true;
  const trainingRuns = operator.controllers.find((c) => c.name === CONTROLLER);
  if (!trainingRuns) throw new Error(`the operator runs no ${CONTROLLER} controller`);
  const startupRequests = kc.total();
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    if (now.rss > sampledPeak.rss) sampledPeak = now;
    maxQueue = Math.max(maxQueue, trainingRuns.queue.len());
  }, 100);

  process.on('message', async ({ id, what }: { id: number; what: 'progress' | 'final' | 'stop' }) => {
    if (what === 'progress') {
      send({ id, result: { reconciles: await counterTotal(metrics.reconciles), queue: trainingRuns.queue.len(), rss: process.memoryUsage().rss } satisfies Progress });
    } else if (what === 'final') {
      const after = process.memoryUsage();
      clearInterval(sampler);
      loopDelay.disable();
      const cached = operator.informers.map((i) => {
        const objects = i.list();
        const bytes = objects.reduce((sum, o) => sum + Buffer.byteLength(JSON.stringify(o)), 0);
        const managedFields = objects.reduce((sum, o) => sum + Buffer.byteLength(JSON.stringify(o.metadata?.managedFields ?? [])), 0);
        return `${objects.length} ${objects[0]?.kind ?? 'objects'} ${f(mib(bytes), 1)} (managedFields ${f(mib(managedFields), 1)})`;
      });
      const highWater = highWaterRss();
      collectGarbage();
      const final: Final = {
        reconciles: await counterTotal(metrics.reconciles),
        writes: await counterTotal(metrics.apiWrites),
        reconcileResults: (await metrics.reconciles.get()).values.filter((v) => v.labels.controller === CONTROLLER).map((v) => `${v.labels.result} ${v.value}`).join(', '),
        writesByVerb: (await metrics.apiWrites.get()).values.map((v) => `${v.labels.controller} ${v.labels.verb} ${v.value}`).join(', '),
        passP50: await histogramQuantile(metrics.reconcileSeconds, 0.5),
        passP99: await histogramQuantile(metrics.reconcileSeconds, 0.99),
        maxQueue,
        requests: [...kc.requests],
        total: kc.total(),
        startupRequests,
        events: [...events],
        jobCreatedAt: [...jobCreatedAt],
        loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        loopDelayMaxMs: loopDelay.max / 1e6,
        before,
        sampledPeak,
        after,
        afterGc: process.memoryUsage(),
        highWaterRss: highWater,
        cached,
      };
      send({ id, result: final });
    } else {
      stop.abort();
      await operator.done;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      send({ id, result: null });
      process.disconnect();
    }
  });
  send({ started: { before, startupRequests, pid: process.pid } satisfies Started });
}

async function runBenchmark(): Promise<void> {
  const { loadKubeConfig } = await import('../operator/src/kube/kubeconfig.js');
  const { requestJson } = await import('../operator/src/kube/client.js');
  const { ControlPlane } = await import('../operator/src/local/control-plane.js');
  const { installCrds } = await import('../operator/src/local/manifests.js');
  const { exampleTrainingRun } = await import('../test/support/examples.js');
  const repoRoot = join(fileURLToPath(import.meta.url), '..', '..');

  function percentile(values: number[], q: number): number {
    if (values.length === 0) return NaN;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  }

  const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

  /** CPU seconds (user + system) each process has used so far, by name. */
  function cpuSecondsOf(pids: number[], names: Map<number, string>): Map<string, number> {
    const used = new Map<string, number>();
    for (const pid of pids) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the parenthesised name: state is field 3, utime 14 and stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      used.set(names.get(pid) ?? readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), (Number(fields[11]) + Number(fields[12])) / clockTicks);
    }
    const self = process.cpuUsage();
    used.set('node (benchmark)', (self.user + self.system) / 1e6);
    return used;
  }

  /** Busy CPU seconds of the whole machine, to tell how much went to processes not ours. */
  function machineBusySeconds(): number {
    const [, ...jiffies] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    return jiffies.slice(0, 8).reduce((sum, j, i) => (i === 3 || i === 4 ? sum : sum + j!), 0) / clockTicks;
  }

  function cpuSince(before: Map<string, number>, after: Map<string, number>): [string, number][] {
    return [...after].map(([name, s]) => [name, s - (before.get(name) ?? 0)] as [string, number]).sort((a, b) => b[1] - a[1]);
  }

  /** Sequential GETs: wall time and CPU (here and in the API server) per request. */
  async function probeRequests(kc: KubeConfig, path: string, apiserverPid: number | undefined, n: number) {
    const cpu = () => cpuSecondsOf(apiserverPid === undefined ? [] : [apiserverPid], new Map());
    const before = cpu();
    const started = performance.now();
    for (let i = 0; i < n; i++) await requestJson(kc, 'GET', path);
    const ms = (performance.now() - started) / n;
    const used = Object.fromEntries(cpuSince(before, cpu()).map(([name, s]) => [name, (1000 * s) / n]));
    return { ms, nodeCpuMs: used['node (benchmark)'] ?? NaN, apiserverCpuMs: used['kube-apiserver'] ?? NaN };
  }

  /** kube-apiserver's apiserver_request_total, summed by verb and resource. */
  async function apiserverRequests(kc: KubeConfig): Promise<Map<string, number>> {
    const text = String(await requestJson(kc, 'GET', '/metrics', { accept: 'text/plain' }));
    const counts = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line.startsWith('apiserver_request_total{')) continue;
      const label = (name: string) => new RegExp(`[{,]${name}="([^"]*)"`).exec(line)?.[1] ?? '';
      const subresource = label('subresource');
      const key = `${label('verb')} ${label('resource')}${subresource ? `/${subresource}` : ''}`;
      counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
    }
    return counts;
  }

  async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }));
  }

  /** The operator process and a request/answer channel to it. */
  function startOperatorProcess(kubeconfig: string, namespace: string) {
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--operator', '--kubeconfig', kubeconfig, '--namespace', namespace, '--workers', String(WORKERS)],
      { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    const waiting = new Map<number, { resolve: (value: any) => void; reject: (err: Error) => void }>();
    let exited: Error | undefined;
    let nextId = 0;
    let onStarted: ((s: Started) => void) | undefined;
    child.on('message', (m: { id?: number; result?: unknown; started?: Started }) => {
      if (m.started) onStarted?.(m.started);
      else if (m.id !== undefined) {
        waiting.get(m.id)?.resolve(m.result);
        waiting.delete(m.id);
      }
    });
    const started = new Promise<Started>((resolve, reject) => {
      onStarted = resolve;
      child.once('exit', (code, signal) => {
        exited = new Error(`the operator process exited (${signal ?? code})`);
        reject(exited);
        for (const w of waiting.values()) w.reject(exited);
        waiting.clear();
      });
    });
    const ask = <T>(what: 'progress' | 'final' | 'stop'): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        if (exited) return reject(exited);
        const id = ++nextId;
        waiting.set(id, { resolve, reject });
        child.send({ id, what });
      });
    return { child, started, ask };
  }

  const command = `npm run bench:operator${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const cores = availableParallelism();
  console.log(`${command}\n${cores} × ${cpus()[0]?.model ?? 'cpu'}`);

  let cp: import('../operator/src/local/control-plane.js').ControlPlane | undefined;
  let operator: ReturnType<typeof startOperatorProcess> | undefined;
  try {
    cp = await ControlPlane.start({ log: (line) => console.log(`  ${line}`) });
    const apiserverPid = cp.pids().find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'kube-apiserver');
    const bench = new CountingKubeConfig(loadKubeConfig(cp.kubeconfig));
    await installCrds(bench, join(repoRoot, 'crds'));
    const ns = (await requestJson(bench, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { generateName: 'bench-operator-' } } })).metadata.name as string;
    // The Job controller's Pods are admitted only once the namespace has its default ServiceAccount.
    await until('the default ServiceAccount', async () => Boolean(await requestJson(bench, 'GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)));
    await requestJson(bench, 'POST', `${API}/namespaces/${ns}/registeredmodels`, {
      body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name: 'salaries' }, spec: { serving: { mode: 'None' } } },
    });

    const probePath = `/api/v1/namespaces/${ns}`;
    const pooled = await probeRequests(bench, probePath, apiserverPid, 300);

    operator = startOperatorProcess(cp.kubeconfig, ns);
    const { before, startupRequests, pid: operatorPid } = await operator.started;
    const names = new Map([[operatorPid, 'node (operator)']]);
    const ask = operator.ask;

    const spec = { ...exampleTrainingRun('salaries.yaml'), modelRef: { name: 'salaries' } };
    const runNames = Array.from({ length: RUNS }, (_, i) => `salaries-${String(i + 1).padStart(5, '0')}`);
    const runCreated = new Map<string, { at: number; server: string }>();
    const jobSeen = new Map<string, number>();
    let polls = 0;
    let pollMs = 0;
    const listNames = async (path: string): Promise<string[]> => {
      const started = performance.now();
      const table = await requestJson(bench, 'GET', `${path}?labelSelector=${MANAGED}&includeObject=None`, { accept: NAMES_ONLY });
      polls++;
      pollMs += performance.now() - started;
      const column = (table.columnDefinitions ?? []).findIndex((c: { name: string }) => c.name === 'Name');
      return (table.rows ?? []).map((r: { cells: string[] }) => r.cells[Math.max(column, 0)]!);
    };
    const countPods = async () => (await listNames(`/api/v1/namespaces/${ns}/pods`)).length;

    const pids = () => [...cp!.pids(), operatorPid];
    const cpuAtStart = cpuSecondsOf(pids(), names);
    const machineAtStart = machineBusySeconds();
    const apiserverAtStart = await apiserverRequests(bench);
    const t0 = epochMs();
    let createsDone: number | undefined;
    let createFailed: unknown;
    // Runs beside the polling below; a failure stops the poll instead of going unhandled.
    const creating = inParallel(runNames, CONCURRENCY, async (name) => {
      const created = await requestJson(bench, 'POST', `${API}/namespaces/${ns}/trainingruns`, {
        body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name }, spec },
      });
      runCreated.set(name, { at: epochMs(), server: created.metadata.creationTimestamp });
    }).then(
      () => void (createsDone = epochMs()),
      (err) => void (createFailed = err),
    );

    const wanted = new Set(runNames.map((n) => `${n}-train`));
    let allJobsAt: number | undefined;
    let lastProgress = t0;
    while (epochMs() - t0 < TIMEOUT_MS) {
      if (createFailed) throw new Error('create TrainingRuns', { cause: createFailed });
      const polled = epochMs();
      const jobs = await listNames(`/apis/batch/v1/namespaces/${ns}/jobs`);
      const at = epochMs();
      for (const job of jobs) if (wanted.has(job) && !jobSeen.has(job)) jobSeen.set(job, at);
      if (jobSeen.size === RUNS) {
        allJobsAt = at;
        break;
      }
      if (at - lastProgress >= 5000) {
        lastProgress = at;
        const progress = await ask<Progress>('progress');
        console.log(`  ${((at - t0) / 1000).toFixed(1)} s: ${runCreated.size}/${RUNS} runs created, ${jobSeen.size} Jobs, queue ${progress.queue}, operator RSS ${mib(progress.rss).toFixed(0)} MiB`);
      }
      await sleep(Math.max(0, POLL_MS - (epochMs() - polled)));
    }
    await creating;
    if (createFailed) throw new Error('create TrainingRuns', { cause: createFailed });
    const atAllJobs = { progress: await ask<Progress>('progress'), pods: await countPods() };

    // Settle: the Job controller's Job status updates and Pods go on triggering passes for a while.
    let settledAt = epochMs();
    let last = -1;
    const settleDeadline = epochMs() + 120_000;
    while (epochMs() < settleDeadline) {
      const { reconciles, queue } = await ask<Progress>('progress');
      if (reconciles !== last || queue > 0) {
        last = reconciles;
        settledAt = epochMs();
      } else if (epochMs() - settledAt >= QUIET_MS) break;
      await sleep(250);
    }
    const final = await ask<Final>('final');
    const cpuWindow = cpuSince(cpuAtStart, cpuSecondsOf(pids(), names));
    const apiserverAtEnd = await apiserverRequests(bench);
    const served = [...apiserverAtEnd]
      .map(([key, n]) => [key, n - (apiserverAtStart.get(key) ?? 0)] as [string, number])
      .filter(([, n]) => n >= RUNS / 10)
      .sort((a, b) => b[1] - a[1]);
    const otherCpu = machineBusySeconds() - machineAtStart - cpuWindow.reduce((sum, [, s]) => sum + s, 0);
    const windowSeconds = (settledAt - t0) / 1000;
    const pods = await countPods();

    const jobCreatedAt = new Map(final.jobCreatedAt);
    const latencies = runNames.flatMap((n) => {
      const created = runCreated.get(n)?.at;
      const job = jobCreatedAt.get(n);
      return created !== undefined && job !== undefined ? [(job - created) / 1000] : [];
    });
    const jobCreated = new Map<string, string>(
      (await requestJson(bench, 'GET', `/apis/batch/v1/namespaces/${ns}/jobs?labelSelector=${MANAGED}`, { accept: METADATA_ONLY })).items?.map((j: any) => [j.metadata.name, j.metadata.creationTimestamp]) ?? [],
    );
    const serverLatencies = runNames.flatMap((n) => {
      const run = runCreated.get(n)?.server;
      const job = jobCreated.get(`${n}-train`);
      return run && job ? [(Date.parse(job) - Date.parse(run)) / 1000] : [];
    });
    const firstRun = Math.min(...[...runCreated.values()].map((r) => Date.parse(r.server)));
    const lastJob = Math.max(...[...jobCreated.values()].map((t) => Date.parse(t)));

    const seconds = allJobsAt === undefined ? undefined : (allJobsAt - t0) / 1000;
    const requests = final.requests.map(([verb, n]) => `${verb} ${n}`).join(', ');
    const eventsLine = final.events.map(([reason, n]) => `${reason} ${n}`).join(', ');
    const { reconciles, writes } = final;
    const peak = final.highWaterRss;

    console.log('\n| runs | workers | operator connections | time to all Jobs (s) | jobs/s | create→Job p50 / p99 (s) | reconciles | reconciles/run | API writes/run | API writes/reconcile | operator RSS before / peak / after (MiB) |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    console.log(
      `| ${RUNS} | ${WORKERS} | keep-alive pool | ${seconds === undefined ? `— (${jobSeen.size}/${RUNS} in ${TIMEOUT_MS / 1000} s)` : f(seconds, 1)} | ${seconds === undefined ? '—' : f(RUNS / seconds, 0)} | ${f(percentile(latencies, 0.5))} / ${f(percentile(latencies, 0.99))} | ${reconciles} | ${f(reconciles / RUNS)} | ${f(writes / RUNS)} | ${f(writes / reconciles)} | ${f(mib(before.rss), 0)} / ${f(mib(peak), 0)} / ${f(mib(final.after.rss), 0)} |`,
    );
    console.log(`\n${cores} cores (${cpus()[0]?.model ?? 'cpu'}); ${command}`);
    console.log(`- creates: ${RUNS} TrainingRuns, ${CONCURRENCY} in flight, in ${f(((createsDone ?? NaN) - t0) / 1000, 1)} s; Jobs polled every ${POLL_MS} ms (names only), time measured from the first create to the poll that saw the last Job.`);
    console.log(`- create→Job: the run's create response (benchmark) to the Job's create response (operator, seen as its JobCreated event), both on the wall clock, ${latencies.length} runs. From server timestamps (whole seconds): p50 ${f(percentile(serverLatencies, 0.5), 0)} s, p99 ${f(percentile(serverLatencies, 0.99), 0)} s; first run to last Job ${f((lastJob - firstRun) / 1000, 0)} s.`);
    console.log(`- reconcile passes: ${final.reconcileResults}; pass duration p50 ${f(final.passP50 * 1000, 1)} ms, p99 ${f(final.passP99 * 1000, 1)} ms (histogram buckets, interpolated); most keys queued ${final.maxQueue}.`);
    console.log(`- when the last Job appeared: ${atAllJobs.progress.reconciles} reconciles, ${atAllJobs.pods} Pods; settled (no pass for ${QUIET_MS / 1000} s) ${f(windowSeconds, 1)} s after the first create.`);
    console.log(`- operator requests: ${requests} = ${final.total} (${startupRequests} to start the caches; ${f((final.total - startupRequests) / RUNS)} per run); writes by verb: ${final.writesByVerb}; events: ${eventsLine || 'none'} (POSTs not in orchard_api_writes_total).`);
    console.log(`- kube-apiserver served (first create to settled, ≥ ${RUNS / 10} each): ${served.map(([key, n]) => `${key} ${n}`).join(', ')}.`);
    console.log(`- the Job controller made ${pods} Pods (no scheduler: they stay Pending); each Job and Pod change enqueues its run again.`);
    console.log(`- CPU seconds from the first create to settled (${f(windowSeconds, 1)} s × ${cores} cores = ${f(windowSeconds * cores, 1)} available): ${cpuWindow.map(([name, s]) => `${name} ${f(s, 1)}`).join(', ')}; other processes on the machine ${f(Math.max(0, otherCpu), 1)}.`);
    console.log(`- event loop delay of the operator process: p99 ${f(final.loopDelayP99Ms, 0)} ms, max ${f(final.loopDelayMaxMs, 0)} ms.`);
    console.log(`- one GET, sequential, idle cluster, keep-alive: ${f(pooled.ms)} ms (CPU: node ${f(pooled.nodeCpuMs)} ms, kube-apiserver ${f(pooled.apiserverCpuMs)} ms).`);
    const memory = (m: NodeJS.MemoryUsage) => `heap used ${f(mib(m.heapUsed), 0)}, heap total ${f(mib(m.heapTotal), 0)}, external ${f(mib(m.external), 0)} MiB`;
    console.log(
      `- RSS is the operator process alone (node, the tsx loader, the operator's modules and its HTTP server): before = loaded and serving, caches not started; peak = the kernel's high-water mark (VmHWM) over the process' whole life (the 100 ms samples peaked at ${f(mib(final.sampledPeak.rss), 0)} MiB); after = settled, operator still running. Growth ${f(mib(peak - before.rss), 0)} MiB at peak, ${f(mib(final.after.rss - before.rss), 0)} MiB after. Before: ${memory(before)}; at the sampled peak: ${memory(final.sampledPeak)}; after: ${memory(final.after)}; after a full GC: RSS ${f(mib(final.afterGc.rss), 0)} MiB, ${memory(final.afterGc)}. The caches hold, as JSON in MiB: ${final.cached.join(', ')}.`,
    );
    console.log(`- the benchmark's ${bench.total()} requests include its Job and Pod lists: ${polls}, ${f(pollMs / polls, 0)} ms each on average.`);
    console.log(`- targets: every Job within ${TARGET_SECONDS} s: ${seconds !== undefined && seconds <= TARGET_SECONDS ? 'met' : 'MISSED'}; operator RSS under ${TARGET_RSS_MIB} MiB: ${mib(peak) < TARGET_RSS_MIB ? 'met' : 'MISSED'} (peak).`);
  } finally {
    await operator?.ask('stop').catch(() => undefined);
    operator?.child.kill();
    await cp?.stop();
  }
}
