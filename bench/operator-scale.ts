// The TrainingRun controller at scale, against a real API server and Job controller: N runs created
// at once, the time until every one has its training Job, the API requests that took and the memory
// it held. `npm run bench:operator` (add `-- --runs 1000`, `--concurrency 50`, `--workers 4`).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CONTROLLER } from '../operator/src/controllers/training-run/reconciler.js';
import type { TrainingDefaults } from '../operator/src/controllers/training-run/desired.js';
import { k8s, requestJson } from '../operator/src/kube/client.js';
import { ControlPlane } from '../operator/src/local/control-plane.js';
import { installCrds } from '../operator/src/local/manifests.js';
import { startOperator, type RunningOperator } from '../operator/src/operator.js';
import { apiEventRecorder, type EventRecorder } from '../operator/src/runtime/events.js';
import { silentLogger } from '../operator/src/runtime/log.js';
import { OperatorMetrics } from '../operator/src/runtime/metrics.js';
import { repoRoot } from '../test/support/cluster.js';
import { exampleTrainingRun } from '../test/support/examples.js';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '50' },
    workers: { type: 'string', default: '4' },
    'timeout-seconds': { type: 'string', default: '300' },
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

/**
 * Counts every request made through it: requestJson and client-node's Watch both take their TLS
 * options from here, once per request, and only requestJson sets a method.
 */
class CountingKubeConfig extends k8s.KubeConfig {
  readonly requests = new Map<string, number>();

  override async applyToHTTPSOptions(opts: Parameters<k8s.KubeConfig['applyToHTTPSOptions']>[0]): Promise<void> {
    await super.applyToHTTPSOptions(opts);
    const options = opts as RequestOptions;
    const verb = options.method ?? 'WATCH';
    this.requests.set(verb, (this.requests.get(verb) ?? 0) + 1);
  }

  total(): number {
    return [...this.requests.values()].reduce((a, b) => a + b, 0);
  }

  close(): void {}
}

function kubeConfig(file: string): CountingKubeConfig {
  const kc = new CountingKubeConfig();
  kc.loadFromFile(file);
  return kc;
}

const mib = (bytes: number) => bytes / 2 ** 20;
const f = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function counterTotal(counter: OperatorMetrics['reconciles'] | OperatorMetrics['apiWrites']): Promise<number> {
  return (await counter.get()).values.filter((v) => v.labels.controller === CONTROLLER).reduce((n, v) => n + v.value, 0);
}

/** Prometheus' histogram_quantile: linear interpolation inside the bucket that holds the rank. */
async function histogramQuantile(histogram: OperatorMetrics['reconcileSeconds'], q: number): Promise<number> {
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
}

// A full collection at the end tells live memory from garbage not yet collected.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds (user + system) a process has used so far, by its name. */
function cpuSecondsOf(pids: number[]): Map<string, number> {
  const used = new Map<string, number>();
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised name: state is field 3, utime 14 and stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    used.set(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), (Number(fields[11]) + Number(fields[12])) / clockTicks);
  }
  const self = process.cpuUsage();
  used.set('node (operator + benchmark)', (self.user + self.system) / 1e6);
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
async function probeRequests(kc: k8s.KubeConfig, path: string, apiserverPid: number | undefined, n: number) {
  const cpu = () => cpuSecondsOf(apiserverPid === undefined ? [] : [apiserverPid]);
  const before = cpu();
  const started = performance.now();
  for (let i = 0; i < n; i++) await requestJson(kc, 'GET', path);
  const ms = (performance.now() - started) / n;
  const used = Object.fromEntries(cpuSince(before, cpu()).map(([name, s]) => [name, (1000 * s) / n]));
  return { ms, nodeCpuMs: used['node (operator + benchmark)'] ?? NaN, apiserverCpuMs: used['kube-apiserver'] ?? NaN };
}

/** kube-apiserver's apiserver_request_total, summed by verb and resource. */
async function apiserverRequests(kc: k8s.KubeConfig): Promise<Map<string, number>> {
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

const command = `npm run bench:operator${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const cores = availableParallelism();
console.log(`${command}\n${cores} × ${cpus()[0]?.model ?? 'cpu'}`);

const stop = new AbortController();
let cp: ControlPlane | undefined;
let operator: RunningOperator | undefined;
let bench: CountingKubeConfig | undefined;
let operatorKc: CountingKubeConfig | undefined;
let sampler: NodeJS.Timeout | undefined;
try {
  cp = await ControlPlane.start({ log: (line) => console.log(`  ${line}`) });
  const apiserverPid = cp.pids().find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'kube-apiserver');
  bench = kubeConfig(cp.kubeconfig);
  await installCrds(bench, join(repoRoot, 'crds'));
  const ns = (await requestJson(bench, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { generateName: 'bench-operator-' } } })).metadata.name as string;
  // The Job controller's Pods are admitted only once the namespace has its default ServiceAccount.
  await until('the default ServiceAccount', async () => Boolean(await requestJson(bench!, 'GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)));
  await requestJson(bench, 'POST', `${API}/namespaces/${ns}/registeredmodels`, {
    body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'RegisteredModel', metadata: { name: 'salaries' }, spec: { serving: { mode: 'None' } } },
  });

  const probePath = `/api/v1/namespaces/${ns}`;
  const pooled = await probeRequests(bench, probePath, apiserverPid, 300);

  const metrics = new OperatorMetrics();
  operatorKc = kubeConfig(cp.kubeconfig);
  const events = new Map<string, number>();
  const jobCreatedAt = new Map<string, number>();
  const sendEvent = apiEventRecorder(operatorKc, 'orchard-operator');
  // The real recorder, counted. JobCreated is recorded the moment the Job's POST has returned,
  // which times each run's Job on this process' clock.
  const record: EventRecorder = async (target, type, reason, message) => {
    if (reason === 'JobCreated' && !jobCreatedAt.has(target.metadata.name)) jobCreatedAt.set(target.metadata.name, performance.now());
    events.set(reason, (events.get(reason) ?? 0) + 1);
    await sendEvent(target, type, reason, message);
  };

  const heapBefore = process.memoryUsage();
  const rssBefore = heapBefore.rss;
  let rssPeak = rssBefore;
  let heapAtPeak = heapBefore;
  let trainingRuns: RunningOperator['controllers'][number] | undefined;
  let maxQueue = 0;
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  sampler = setInterval(() => {
    const heap = process.memoryUsage();
    if (heap.rss > rssPeak) heapAtPeak = heap;
    rssPeak = Math.max(rssPeak, heap.rss);
    maxQueue = Math.max(maxQueue, trainingRuns?.queue.len() ?? 0);
  }, 100);
  operator = await startOperator({ kc: operatorKc, namespace: ns, defaults, log: silentLogger, metrics, workers: WORKERS, record }, stop.signal);
  trainingRuns = operator.controllers.find((c) => c.name === CONTROLLER);
  if (!trainingRuns) throw new Error(`the operator runs no ${CONTROLLER} controller`);
  const startupRequests = operatorKc.total();

  const spec = { ...exampleTrainingRun('salaries.yaml'), modelRef: { name: 'salaries' } };
  const names = Array.from({ length: RUNS }, (_, i) => `salaries-${String(i + 1).padStart(5, '0')}`);
  const runCreated = new Map<string, { at: number; server: string }>();
  const jobSeen = new Map<string, number>();
  let polls = 0;
  let pollMs = 0;
  const listNames = async (path: string): Promise<string[]> => {
    const started = performance.now();
    const table = await requestJson(bench!, 'GET', `${path}?labelSelector=${MANAGED}&includeObject=None`, { accept: NAMES_ONLY });
    polls++;
    pollMs += performance.now() - started;
    const column = (table.columnDefinitions ?? []).findIndex((c: { name: string }) => c.name === 'Name');
    return (table.rows ?? []).map((r: { cells: string[] }) => r.cells[Math.max(column, 0)]!);
  };
  const countPods = async () => (await listNames(`/api/v1/namespaces/${ns}/pods`)).length;

  const cpuAtStart = cpuSecondsOf(cp.pids());
  const machineAtStart = machineBusySeconds();
  const apiserverAtStart = await apiserverRequests(bench);
  const t0 = performance.now();
  let createsDone: number | undefined;
  let createFailed: unknown;
  // Runs beside the polling below; a failure stops the poll instead of going unhandled.
  const creating = inParallel(names, CONCURRENCY, async (name) => {
    const created = await requestJson(bench!, 'POST', `${API}/namespaces/${ns}/trainingruns`, {
      body: { apiVersion: 'orchard.dev/v1alpha1', kind: 'TrainingRun', metadata: { name }, spec },
    });
    runCreated.set(name, { at: performance.now(), server: created.metadata.creationTimestamp });
  }).then(
    () => void (createsDone = performance.now()),
    (err) => void (createFailed = err),
  );

  const wanted = new Set(names.map((n) => `${n}-train`));
  let allJobsAt: number | undefined;
  let lastProgress = t0;
  while (performance.now() - t0 < TIMEOUT_MS) {
    if (createFailed) throw new Error('create TrainingRuns', { cause: createFailed });
    const polled = performance.now();
    const jobs = await listNames(`/apis/batch/v1/namespaces/${ns}/jobs`);
    const at = performance.now();
    for (const job of jobs) if (wanted.has(job) && !jobSeen.has(job)) jobSeen.set(job, at);
    if (jobSeen.size === RUNS) {
      allJobsAt = at;
      break;
    }
    if (at - lastProgress >= 5000) {
      lastProgress = at;
      console.log(`  ${((at - t0) / 1000).toFixed(1)} s: ${runCreated.size}/${RUNS} runs created, ${jobSeen.size} Jobs, queue ${trainingRuns.queue.len()}, RSS ${mib(process.memoryUsage().rss).toFixed(0)} MiB`);
    }
    await sleep(Math.max(0, POLL_MS - (performance.now() - polled)));
  }
  await creating;
  if (createFailed) throw new Error('create TrainingRuns', { cause: createFailed });
  const atAllJobs = { reconciles: await counterTotal(metrics.reconciles), writes: await counterTotal(metrics.apiWrites), pods: await countPods() };

  // Settle: the Job controller's Job status updates and Pods go on triggering passes for a while.
  let settledAt = performance.now();
  let last = -1;
  const settleDeadline = performance.now() + 120_000;
  while (performance.now() < settleDeadline) {
    const now = await counterTotal(metrics.reconciles);
    if (now !== last || trainingRuns.queue.len() > 0) {
      last = now;
      settledAt = performance.now();
    } else if (performance.now() - settledAt >= QUIET_MS) break;
    await sleep(250);
  }
  const heapAfter = process.memoryUsage();
  const rssAfter = heapAfter.rss;
  clearInterval(sampler);
  sampler = undefined;
  loopDelay.disable();
  const cached = operator.informers.map((i) => {
    const objects = i.list();
    const bytes = objects.reduce((sum, o) => sum + Buffer.byteLength(JSON.stringify(o)), 0);
    const managedFields = objects.reduce((sum, o) => sum + Buffer.byteLength(JSON.stringify(o.metadata?.managedFields ?? [])), 0);
    return `${objects.length} ${objects[0]?.kind ?? 'objects'} ${f(mib(bytes), 1)} (managedFields ${f(mib(managedFields), 1)})`;
  });
  collectGarbage();
  const afterGc = process.memoryUsage();
  const cpuWindow = cpuSince(cpuAtStart, cpuSecondsOf(cp.pids()));
  const apiserverAtEnd = await apiserverRequests(bench);
  const served = [...apiserverAtEnd]
    .map(([key, n]) => [key, n - (apiserverAtStart.get(key) ?? 0)] as [string, number])
    .filter(([, n]) => n >= RUNS / 10)
    .sort((a, b) => b[1] - a[1]);
  const otherCpu = machineBusySeconds() - machineAtStart - cpuWindow.reduce((sum, [, s]) => sum + s, 0);
  const windowSeconds = (settledAt - t0) / 1000;

  const reconcileResults = (await metrics.reconciles.get()).values.filter((v) => v.labels.controller === CONTROLLER).map((v) => `${v.labels.result} ${v.value}`).join(', ');
  const reconciles = await counterTotal(metrics.reconciles);
  const writes = await counterTotal(metrics.apiWrites);
  const writesByVerb = (await metrics.apiWrites.get()).values.map((v) => `${v.labels.controller} ${v.labels.verb} ${v.value}`).join(', ');
  const pods = await countPods();
  const passP50 = await histogramQuantile(metrics.reconcileSeconds, 0.5);
  const passP99 = await histogramQuantile(metrics.reconcileSeconds, 0.99);

  const latencies = names.flatMap((n) => {
    const created = runCreated.get(n)?.at;
    const job = jobCreatedAt.get(n);
    return created !== undefined && job !== undefined ? [(job - created) / 1000] : [];
  });
  const jobCreated = new Map<string, string>(
    (await requestJson(bench, 'GET', `/apis/batch/v1/namespaces/${ns}/jobs?labelSelector=${MANAGED}`, { accept: METADATA_ONLY })).items?.map((j: any) => [j.metadata.name, j.metadata.creationTimestamp]) ?? [],
  );
  const serverLatencies = names.flatMap((n) => {
    const run = runCreated.get(n)?.server;
    const job = jobCreated.get(`${n}-train`);
    return run && job ? [(Date.parse(job) - Date.parse(run)) / 1000] : [];
  });
  const firstRun = Math.min(...[...runCreated.values()].map((r) => Date.parse(r.server)));
  const lastJob = Math.max(...[...jobCreated.values()].map((t) => Date.parse(t)));

  const seconds = allJobsAt === undefined ? undefined : (allJobsAt - t0) / 1000;
  const requests = [...operatorKc.requests].map(([verb, n]) => `${verb} ${n}`).join(', ');
  const eventsLine = [...events].map(([reason, n]) => `${reason} ${n}`).join(', ');

  console.log('\n| runs | workers | operator connections | time to all Jobs (s) | jobs/s | create→Job p50 / p99 (s) | reconciles | reconciles/run | API writes/run | API writes/reconcile | RSS before / peak / after (MiB) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  console.log(
    `| ${RUNS} | ${WORKERS} | keep-alive pool | ${seconds === undefined ? `— (${jobSeen.size}/${RUNS} in ${TIMEOUT_MS / 1000} s)` : f(seconds, 1)} | ${seconds === undefined ? '—' : f(RUNS / seconds, 0)} | ${f(percentile(latencies, 0.5))} / ${f(percentile(latencies, 0.99))} | ${reconciles} | ${f(reconciles / RUNS)} | ${f(writes / RUNS)} | ${f(writes / reconciles)} | ${f(mib(rssBefore), 0)} / ${f(mib(rssPeak), 0)} / ${f(mib(rssAfter), 0)} |`,
  );
  console.log(`\n${cores} cores (${cpus()[0]?.model ?? 'cpu'}); ${command}`);
  console.log(`- creates: ${RUNS} TrainingRuns, ${CONCURRENCY} in flight, in ${f(((createsDone ?? NaN) - t0) / 1000, 1)} s; Jobs polled every ${POLL_MS} ms (names only), time measured from the first create to the poll that saw the last Job.`);
  console.log(`- create→Job: the run's create response (benchmark) to the Job's create response (operator, seen as its JobCreated event), one process clock, ${latencies.length} runs. From server timestamps (whole seconds): p50 ${f(percentile(serverLatencies, 0.5), 0)} s, p99 ${f(percentile(serverLatencies, 0.99), 0)} s; first run to last Job ${f((lastJob - firstRun) / 1000, 0)} s.`);
  console.log(`- reconcile passes: ${reconcileResults}; pass duration p50 ${f(passP50 * 1000, 1)} ms, p99 ${f(passP99 * 1000, 1)} ms (histogram buckets, interpolated); most keys queued ${maxQueue}.`);
  console.log(`- when the last Job appeared: ${atAllJobs.reconciles} reconciles, ${atAllJobs.writes} writes, ${atAllJobs.pods} Pods; settled (no pass for ${QUIET_MS / 1000} s) ${f(windowSeconds, 1)} s after the first create.`);
  console.log(`- operator requests: ${requests} = ${operatorKc.total()} (${startupRequests} to start the caches; ${f((operatorKc.total() - startupRequests) / RUNS)} per run); writes by verb: ${writesByVerb}; events: ${eventsLine || 'none'} (POSTs not in orchard_api_writes_total).`);
  console.log(`- kube-apiserver served (first create to settled, ≥ ${RUNS / 10} each): ${served.map(([key, n]) => `${key} ${n}`).join(', ')}.`);
  console.log(`- the Job controller made ${pods} Pods (no scheduler: they stay Pending); each Job and Pod change enqueues its run again.`);
  console.log(`- CPU seconds from the first create to settled (${f(windowSeconds, 1)} s × ${cores} cores = ${f(windowSeconds * cores, 1)} available): ${cpuWindow.map(([name, s]) => `${name} ${f(s, 1)}`).join(', ')}; other processes on the machine ${f(Math.max(0, otherCpu), 1)}.`);
  console.log(`- event loop delay of this process: p99 ${f(loopDelay.percentile(99) / 1e6, 0)} ms, max ${f(loopDelay.max / 1e6, 0)} ms.`);
  console.log(`- one GET, sequential, idle cluster, keep-alive: ${f(pooled.ms)} ms (CPU: node ${f(pooled.nodeCpuMs)} ms, kube-apiserver ${f(pooled.apiserverCpuMs)} ms).`);
  const memory = (m: NodeJS.MemoryUsage) => `heap used ${f(mib(m.heapUsed), 0)}, heap total ${f(mib(m.heapTotal), 0)}, external ${f(mib(m.external), 0)} MiB`;
  console.log(`- RSS is this whole process: tsx and the loaded modules (before), then the operator's caches and workers plus the benchmark's ${bench.total()} requests and bookkeeping; growth ${f(mib(rssPeak - rssBefore), 0)} MiB at peak, ${f(mib(rssAfter - rssBefore), 0)} MiB after (settled, operator still running). Before: ${memory(heapBefore)}; at peak: ${memory(heapAtPeak)}; after: ${memory(heapAfter)}; after a full GC: RSS ${f(mib(afterGc.rss), 0)} MiB, ${memory(afterGc)}. The caches hold, as JSON in MiB: ${cached.join(', ')}.`);
  console.log(`- the benchmark's Job and Pod lists: ${polls}, ${f(pollMs / polls, 0)} ms each on average.`);
  console.log(`- targets: every Job within ${TARGET_SECONDS} s: ${seconds !== undefined && seconds <= TARGET_SECONDS ? 'met' : 'MISSED'}; RSS under ${TARGET_RSS_MIB} MiB: ${mib(rssPeak) < TARGET_RSS_MIB ? 'met' : 'MISSED'} (peak).`);
} finally {
  if (sampler) clearInterval(sampler);
  stop.abort();
  await operator?.done;
  operatorKc?.close();
  bench?.close();
  await cp?.stop();
}
