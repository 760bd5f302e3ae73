// The main job on one machine: a local control plane, a node agent that runs Pods as processes,
// the operator, and the whole loop on the salaries data — train on 2020–2023, serve, score 2024
// traffic, detect drift, retrain on the recent rows, promote only if better, roll out without a
// failed request, batch-score, summarise. Every step is read back from the API server.
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCsv } from '../artifacts/csv.js';
import { applyObjects, loadKubeConfig, requestJson, type KubeObject } from '../kube/client.js';
import type { KubeConfig } from '../kube/kubeconfig.js';
import { startOperator } from '../operator.js';
import { findCondition } from '../runtime/conditions.js';
import { silentLogger } from '../runtime/log.js';
import { ControlPlane } from './control-plane.js';
import { installCrds, readManifests } from './manifests.js';
import { LOCAL_RUNTIME_IMAGE, startNodeAgent, type NodeAgent } from './node-agent.js';
import { AddressPool, checkLocal, isLoopback } from './node/addresses.js';

export interface StoryOptions {
  /** The checkout: crds/, data/. */
  root: string;
  /** Where the cluster, the node's Pods and the artifacts live. */
  stateDir: string;
  /** Test-sized: few trees, fewer requests, fewer shards. */
  small?: boolean;
  say: (line: string) => void;
  /**
   * Pod addresses. Loopback ones (127.0.0.0/24) need no set-up, but the API server keeps them out
   * of EndpointSlices; any other range is made local (`ip route add local <cidr> dev lo`, root
   * only) for the story and removed after. Default: ORCHARD_POD_ADDRESSES or 198.18.77.0/24, a
   * benchmarking range no network routes, falling back to loopback where the route cannot be added.
   */
  podAddresses?: string;
  /** Called as soon as there is something to stop, so Ctrl-C during the story cleans up too. */
  onStoppable?: (stop: () => Promise<void>) => void;
}

export interface StoryResult {
  cp: ControlPlane;
  kc: KubeConfig;
  /** The Pods' address range, and whether it is loopback (then no Pod is in an EndpointSlice). */
  podAddresses: { cidr: string; loopback: boolean };
  summary: StorySummary;
  stop(): Promise<void>;
}

export interface StorySummary {
  versions: { version: number; trainingRun: string; metrics: Record<string, string>; comparedOnSameRows?: string }[];
  promotions: { version: number; alias: string; reason: string; message: string }[];
  drift: { driftedShare?: string; features: { name: string; test: string; score: string; drifted: boolean }[] };
  serving: { requests: number; failed: number; p50Ms: number; p99Ms: number; byVersion: Record<string, number> };
  rollout: { requests: number; failed: number; from: number; to: number } | undefined;
  scoring: { rows?: number; rowsPerSecond?: number; metrics?: Record<string, string> };
  seconds: number;
}

const NS = 'default';
const API = '/apis/orchard.dev/v1alpha1';
const MODEL = 'salaries';
const MODEL_PATH = `${API}/namespaces/${NS}/registeredmodels/${MODEL}`;
const NODE_NAME = 'orchard-local';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A step that failed for good (a run or job failed): waiting longer will not help. */
class StoryFailure extends Error {}

/**
 * Polls `probe` until it returns a value; throws with `what` after `timeoutMs`. A probe's error is
 * retried (the API server or an endpoint may be briefly unavailable) unless it is a StoryFailure.
 */
async function until<T>(what: string, probe: () => Promise<T | undefined | false | null>, timeoutMs: number, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe().catch((err) => {
      if (err instanceof StoryFailure) throw err;
      return undefined;
    });
    if (got) return got;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The example's RegisteredModel and TrainingRun, with local artifact paths and, for tests, small settings. */
function manifests(root: string, small: boolean): { model: any; run: any } {
  const docs = readManifests<any>(join(root, 'data', 'examples', 'salaries.yaml'));
  const model = docs.find((d) => d.kind === 'RegisteredModel');
  const run = docs.find((d) => d.kind === 'TrainingRun');
  // Drift is read every few seconds here; a retrain a session is plenty.
  model.spec.drift = { ...model.spec.drift, windowRows: small ? 1000 : 2000, minRows: small ? 300 : 500 };
  if (small) {
    const catboost = { iterations: 60, learningRate: '0.3', depth: 4, randomSeed: 0 };
    run.spec.catboost = catboost;
    model.spec.retrain.template.catboost = catboost;
  }
  return { model, run };
}

/** The 2024 rows of the salaries data as the scorer's raw records, model columns only. */
function recentRecords(root: string, columns: { name: string; type: string }[]): Record<string, string | number | null>[] {
  const path = join(root, 'data', 'ai-jobs-salaries', 'salaries.csv');
  const table = parseCsv(readFileSync(path, 'utf8'), { delimiter: ',', header: 'Present', whitespace: 'Keep' }, path);
  const at = new Map(table.columns.map((c, i) => [c, i]));
  const year = at.get('work_year')!;
  return table.rows
    .filter((r) => r[year] === '2024')
    .map((r) => Object.fromEntries(columns.map((c) => [c.name, c.type === 'Numeric' ? (r[at.get(c.name)!] === null ? null : Number(r[at.get(c.name)!])) : r[at.get(c.name)!]!])));
}

const get = (kc: KubeConfig, path: string) => requestJson(kc, 'GET', path).catch(() => undefined);
const condition = (o: any, type: string): any => findCondition(o?.status?.conditions, type);

/**
 * Makes `cidr` local to this machine when it is not yet, so Pods can listen on its addresses.
 * Returns the range to use and how to undo what was done; loopback when the route cannot be added.
 */
async function podRange(cidr: string, say: (line: string) => void): Promise<{ cidr: string; loopback: boolean; undo: () => void }> {
  const none = () => {};
  if (isLoopback(cidr)) return { cidr, loopback: true, undo: none };
  // A story killed before it could remove its route leaves this mark; the next one takes the route over.
  const mark = join(tmpdir(), `orchard-route-${cidr.replace(/[./]/g, '_')}`);
  const undo = () => {
    spawnSync('ip', ['route', 'del', 'local', cidr, 'dev', 'lo'], { stdio: 'ignore' });
    rmSync(mark, { force: true });
  };
  if (await checkLocal(new AddressPool(cidr)).then(() => true, () => false)) return { cidr, loopback: false, undo: existsSync(mark) ? undo : none };
  try {
    execFileSync('ip', ['route', 'add', 'local', cidr, 'dev', 'lo'], { stdio: 'pipe' });
    writeFileSync(mark, `${process.pid}\n`);
    say(`   made ${cidr} local (ip route add local ${cidr} dev lo) so Pod addresses can be Service endpoints; removed on stop`);
    return { cidr, loopback: false, undo };
  } catch (err) {
    const why = ((err as { stderr?: Buffer }).stderr?.toString() ?? String(err)).trim().split('\n')[0];
    say(`   could not make ${cidr} local (${why}; it needs root): Pods get 127.0.0.x addresses, which the API server keeps out of EndpointSlices, so requests go to the Ready Pods the Service selects`);
    return { cidr: '127.0.0.0/24', loopback: true, undo: none };
  }
}

/**
 * Where the Service sends requests: the ready addresses of its EndpointSlices, as kube-proxy would
 * route. With loopback Pod addresses the API server keeps Pods out of EndpointSlices, so then the
 * Ready Pods its selector picks (what the EndpointSlice controller would have listed).
 */
async function endpoints(kc: KubeConfig, service: string, loopback = false): Promise<string[]> {
  if (loopback) {
    const svc = await requestJson(kc, 'GET', `/api/v1/namespaces/${NS}/services/${service}`);
    const selector = Object.entries(svc.spec.selector as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',');
    const port = svc.spec.ports.find((p: any) => p.name === 'http')?.targetPort ?? svc.spec.ports[0].targetPort;
    const pods = await requestJson(kc, 'GET', `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(selector)}`);
    return pods.items
      .filter((p: any) => !p.metadata.deletionTimestamp && p.status?.podIP && condition(p, 'Ready')?.status === 'True')
      .map((p: any) => `http://${p.status.podIP}:${port}`);
  }
  const slices = await requestJson(kc, 'GET', `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`);
  const out: string[] = [];
  for (const slice of slices.items) {
    const port = slice.ports?.find((p: any) => p.name === 'http')?.port ?? slice.ports?.[0]?.port;
    for (const e of slice.endpoints ?? []) if (e.conditions?.ready && port) out.push(...e.addresses.map((a: string) => `http://${a}:${port}`));
  }
  return out;
}

/** Sends records in requests of `batch` to the Service's ready endpoints, round robin; never retries. */
class Traffic {
  requests = 0;
  failed = 0;
  readonly latencies: number[] = [];
  readonly byVersion: Record<string, number> = {};
  private next = 0;
  private targets: string[] = [];
  private refreshed = 0;

  constructor(
    private readonly kc: KubeConfig,
    private readonly service: string,
    private readonly records: Record<string, unknown>[],
    private readonly batch: number,
    private readonly loopback: boolean,
  ) {}

  async send(): Promise<void> {
    // Endpoints change during a rollout: refresh them often, as kube-proxy would.
    if (Date.now() - this.refreshed > 200) {
      this.targets = await endpoints(this.kc, this.service, this.loopback);
      this.refreshed = Date.now();
    }
    if (!this.targets.length) throw new Error(`the Service ${this.service} has no ready endpoint`);
    const target = this.targets[this.next++ % this.targets.length]!;
    const start = this.next * this.batch;
    const instances = Array.from({ length: this.batch }, (_, i) => this.records[(start + i) % this.records.length]);
    const started = performance.now();
    this.requests++;
    try {
      const res = await fetch(`${target}/v1/models/${MODEL}:predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances }) });
      const body = (await res.json()) as { predictions?: unknown[] };
      if (res.status !== 200 || body.predictions?.length !== this.batch) throw new Error(`HTTP ${res.status}`);
      this.latencies.push(performance.now() - started);
      const version = res.headers.get('orchard-model-version') ?? '?';
      this.byVersion[version] = (this.byVersion[version] ?? 0) + 1;
    } catch {
      this.failed++;
    }
  }

  percentile(p: number): number {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
  }
}

export async function runStory(options: StoryOptions): Promise<StoryResult> {
  const { root, stateDir, say } = options;
  const small = options.small ?? false;
  const started = Date.now();
  const minutes = small ? 4 : 8;
  mkdirSync(stateDir, { recursive: true });

  say('1. starting the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)');
  const cp = await ControlPlane.start({ scheduler: true, nodes: [NODE_NAME], baseDir: stateDir, log: (l) => say(`   ${l}`) });
  let range: Awaited<ReturnType<typeof podRange>> | undefined;
  const kc = loadKubeConfig(cp.kubeconfig);
  let agent: NodeAgent | undefined;
  const operatorStop = new AbortController();
  let operatorDone: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      operatorStop.abort();
      await operatorDone?.catch(() => undefined);
      await agent?.stop();
      await cp.stop();
      range?.undo();
    })());
  options.onStoppable?.(stop);
  try {
    const crds = await installCrds(kc, join(root, 'crds'));
    say(`   CRDs installed: ${crds.join(', ')}`);
    // The agent's own lines (a Pod bound, a container started or exited) go to a file; the story says what matters.
    const agentLog = createWriteStream(join(stateDir, 'node-agent.log'), { flags: 'a' });
    range = await podRange(options.podAddresses ?? process.env.ORCHARD_POD_ADDRESSES ?? '198.18.77.0/24', say);
    // The agent acts as a kubelet does: with its node's identity, which reaches only its own Pods.
    agent = await startNodeAgent({ kc: loadKubeConfig(cp.nodeKubeconfig(NODE_NAME)), nodeName: NODE_NAME, repoRoot: root, stateDir: join(stateDir, 'node'), podAddresses: range.cidr, sharedPaths: [root, stateDir], log: (l) => agentLog.write(`${new Date().toISOString()} ${l}\n`) });
    say(`   node ${agent.nodeName} registered: it runs Pods as local processes on ${range.cidr} (its log: ${join(stateDir, 'node-agent.log')}; Pod logs under ${join(stateDir, 'node', 'pods')})`);
    const operator = await startOperator(
      {
        kc,
        namespace: NS,
        defaults: { image: LOCAL_RUNTIME_IMAGE, artifactRoot: `file://${join(stateDir, 'artifacts')}`, backoffLimit: 1 },
        serving: { image: LOCAL_RUNTIME_IMAGE },
        drift: { pollSeconds: 2 },
        log: silentLogger,
        workers: 4,
      },
      operatorStop.signal,
    );
    operatorDone = operator.done;
    say('   operator running (in this process)');

    // 2. Train on 2020–2023, register version 1, serve it.
    const { model, run } = manifests(root, small);
    await applyObjects(kc, [model, run] as KubeObject[]);
    say(`2. applied RegisteredModel ${MODEL} and TrainingRun ${run.metadata.name} (salaries up to 2023)`);
    await followRun(kc, run.metadata.name, say, minutes);
    await until('version 1 to become champion', async () => (await get(kc, MODEL_PATH))?.status?.aliases?.champion === 1, 60_000);
    say('   version 1 registered and champion');
    const served = await until(
      'the scoring Deployment to serve version 1',
      async () => {
        const m = await get(kc, MODEL_PATH);
        return m?.status?.serving?.servedVersion === 1 && m.status.serving.readyReplicas >= 1 ? m.status.serving : undefined;
      },
      minutes * 60_000,
    );
    say(`   serving version 1 on ${served.readyReplicas} Pod(s) behind Service ${MODEL}-scorer (${served.url})`);

    // 3. Traffic from 2024 through the Service's endpoints until drift shows.
    const records = recentRecords(root, run.spec.features.columns);
    const traffic = new Traffic(kc, `${MODEL}-scorer`, records, 20, range.loopback);
    say(`3. scoring 2024 requests (${records.length.toLocaleString('en-US')} rows available, 20 per request) through the Service's endpoints`);
    const drifted = await until(
      'the Drifted condition',
      async () => {
        for (let i = 0; i < 25; i++) await traffic.send();
        const m = await get(kc, MODEL_PATH);
        const c = condition(m, 'Drifted');
        if (traffic.requests % 100 === 0) say(`   ${traffic.requests} requests (${traffic.requests * 20} rows), failed ${traffic.failed}; Drifted: ${c?.status ?? 'not yet'}`);
        return c?.status === 'True' ? m : undefined;
      },
      minutes * 60_000,
      0,
    );
    const drift = drifted.status.drift ?? {};
    say(`4. Drifted=True: ${condition(drifted, 'Drifted').message}`);
    for (const f of (drift.features ?? []).filter((x: any) => x.drifted)) say(`   drifted: ${f.name} (${f.test} ${f.score})`);

    // 4. Retraining on the recent rows; promotion on the same test rows; rollout under traffic.
    const retrain = await until('the retraining TrainingRun', async () => (await get(kc, MODEL_PATH))?.status?.lastRetrainRun, 60_000);
    say(`   onDrift: Retrain created TrainingRun ${retrain} (data up to 2024, time split: tested on the newest rows)`);
    const rollout = { requests: 0, failed: 0, from: 1, to: 1 };
    let trickle = true;
    const during = (async () => {
      while (trickle) {
        const before = traffic.failed;
        await traffic.send().catch(() => (traffic.failed++, undefined));
        rollout.requests++;
        rollout.failed += traffic.failed - before;
        await sleep(20);
      }
    })();
    try {
      await followRun(kc, retrain, say, minutes);
      const decided = await until(
        'the promotion decision on version 2',
        async () => {
          const m = await get(kc, MODEL_PATH);
          return (m?.status?.promotions ?? []).find((p: any) => p.version === 2) ? m : undefined;
        },
        60_000,
      );
      const promotion = decided.status.promotions.find((p: any) => p.version === 2);
      say(`   version 2: ${promotion.alias} (${promotion.reason}): ${promotion.message}`);
      if (promotion.alias === 'Champion') {
        rollout.to = 2;
        await until(
          'the rollout of version 2',
          async () => {
            const m = await get(kc, MODEL_PATH);
            const s = m?.status?.serving;
            return s?.servedVersion === 2 && s.rolloutVersion === undefined && s.readyReplicas === s.replicas;
          },
          minutes * 60_000,
        );
        // Old Pods drain for a few seconds after their endpoint is withdrawn: keep the traffic on until they are gone.
        await until('the old scoring Pods to go', async () => (await endpoints(kc, `${MODEL}-scorer`, range!.loopback)).length === served.replicas, 60_000);
        await sleep(6000);
        say(`   rolled out version 2 under traffic: ${rollout.requests} requests during the rollout, ${rollout.failed} failed`);
      }
    } finally {
      trickle = false;
      await during;
    }

    // 5. Batch scoring with the champion.
    const scoringJob = {
      apiVersion: 'orchard.dev/v1alpha1',
      kind: 'ScoringJob',
      metadata: { name: 'salaries-2024' },
      spec: {
        modelRef: { name: MODEL },
        alias: 'Champion',
        input: { sources: [{ uri: 'file:///opt/orchard/data/ai-jobs-salaries/salaries.csv' }], labelColumn: 'salary_in_usd' },
        output: { uri: `file://${join(stateDir, 'scores', 'salaries-2024')}`, format: 'Csv', passthroughColumns: ['work_year', 'job_title'] },
        shards: small ? 2 : 4,
        parallelism: 2,
      },
    };
    await applyObjects(kc, [scoringJob] as KubeObject[]);
    say(`5. ScoringJob salaries-2024: ${scoringJob.spec.shards} shards over the whole file with the champion`);
    const scored = await until(
      'the ScoringJob to finish',
      async () => {
        const sj = await get(kc, `${API}/namespaces/${NS}/scoringjobs/salaries-2024`);
        const done = condition(sj, 'Succeeded');
        if (done?.status === 'False') throw new StoryFailure(`ScoringJob failed: ${done.message}`);
        return done?.status === 'True' ? sj : undefined;
      },
      minutes * 60_000,
    );
    const s = scored.status;
    say(`   ${s.rowsScored?.toLocaleString('en-US')} rows at ${s.rowsPerSecond?.toLocaleString('en-US')} rows/s with version ${s.resolvedVersion}; ${Object.entries(s.metrics ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}`);

    const final = await get(kc, MODEL_PATH);
    const summary: StorySummary = {
      versions: (final.status.versions ?? []).map((v: any) => ({
        version: v.version,
        trainingRun: v.trainingRun,
        metrics: v.metrics ?? {},
        ...(v.comparison ? { comparedOnSameRows: `v${v.comparison.version} ${Object.entries(v.comparison.metrics).map(([k, x]) => `${k} ${x}`).join(', ')}` } : {}),
      })),
      promotions: (final.status.promotions ?? []).map((p: any) => ({ version: p.version, alias: p.alias, reason: p.reason, message: p.message })),
      drift: { driftedShare: drift.driftedShare, features: drift.features ?? [] },
      serving: { requests: traffic.requests, failed: traffic.failed, p50Ms: traffic.percentile(0.5), p99Ms: traffic.percentile(0.99), byVersion: traffic.byVersion },
      rollout: rollout.to !== rollout.from ? rollout : undefined,
      scoring: { rows: s.rowsScored, rowsPerSecond: s.rowsPerSecond, metrics: s.metrics },
      seconds: (Date.now() - started) / 1000,
    };
    return { cp, kc, podAddresses: { cidr: range.cidr, loopback: range.loopback }, summary, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Prints a TrainingRun's steps as they change, until it succeeds; throws with its message if it fails. */
async function followRun(kc: KubeConfig, name: string, say: (line: string) => void, minutes: number): Promise<void> {
  let last = '';
  await until(
    `TrainingRun ${name} to finish`,
    async () => {
      const r = await get(kc, `${API}/namespaces/${NS}/trainingruns/${name}`);
      const c = condition(r, 'Succeeded');
      const line = `${r?.status?.step ?? '-'} ${c?.reason ?? ''}`;
      if (line !== last) {
        last = line;
        say(`   TrainingRun ${name}: ${c?.reason ?? 'Pending'}${r?.status?.step ? ` (step ${r.status.step})` : ''}${c?.message ? `: ${c.message}` : ''}`);
      }
      if (c?.status === 'False') throw new StoryFailure(`TrainingRun ${name} failed: ${c.message}`);
      if (c?.status === 'True') {
        say(`   TrainingRun ${name}: ${r.status.headlineMetric ?? ''} in ${r.status.duration ?? '?'}; top features ${(r.status.topFeatures ?? []).slice(0, 3).map((f: any) => f.name).join(', ')}`);
        return true;
      }
      return undefined;
    },
    minutes * 60_000,
  );
}

/** The closing table. */
export function formatSummary(s: StorySummary): string {
  const lines: string[] = [];
  lines.push('', '| version | trained by | test metrics | champion on the same test rows |', '|---:|---|---|---|');
  for (const v of s.versions) lines.push(`| ${v.version} | ${v.trainingRun} | ${Object.entries(v.metrics).map(([k, x]) => `${k} ${x}`).join(', ')} | ${v.comparedOnSameRows ?? '—'} |`);
  lines.push('', '| version | became | why |', '|---:|---|---|');
  for (const p of s.promotions) lines.push(`| ${p.version} | ${p.alias} | ${p.reason}: ${p.message} |`);
  lines.push('', `| drift (share drifted ${s.drift.driftedShare ?? '?'}) | test | score | drifted |`, '|---|---|---:|---|');
  for (const f of s.drift.features) lines.push(`| ${f.name} | ${f.test} | ${f.score} | ${f.drifted ? 'yes' : 'no'} |`);
  lines.push(
    '',
    '| serving | value |',
    '|---|---:|',
    `| requests (20 rows each) | ${s.serving.requests} |`,
    `| failed | ${s.serving.failed} |`,
    `| latency p50 / p99 (ms, through the endpoint) | ${s.serving.p50Ms.toFixed(1)} / ${s.serving.p99Ms.toFixed(1)} |`,
    `| answered by version | ${Object.entries(s.serving.byVersion).map(([v, n]) => `v${v}: ${n}`).join(', ')} |`,
    ...(s.rollout ? [`| rollout v${s.rollout.from} → v${s.rollout.to}: requests / failed | ${s.rollout.requests} / ${s.rollout.failed} |`] : []),
    `| batch scoring: rows, rows/s | ${s.scoring.rows ?? '?'}, ${s.scoring.rowsPerSecond ?? '?'} |`,
    `| batch scoring metrics | ${Object.entries(s.scoring.metrics ?? {}).map(([k, x]) => `${k} ${x}`).join(', ')} |`,
    `| whole story | ${s.seconds.toFixed(0)} s |`,
  );
  return lines.join('\n');
}
