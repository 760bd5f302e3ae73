// Serving benchmark: the scorer pinned to core 0, this load generator pinned to core 1, HTTP/1.1
// keep-alive on loopback. Beside it, in the same run, on the same model and rows: onnxruntime-node
// in-process, a Flask server calling CatBoost's predict on the .cbm, and CatBoost's own predictor.
//
//   npm run bench:scoring [-- --seconds 2 --slices 4 --connections 8]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { inputSchema } from '../operator/src/features/schema.js';
import { jsonRecordReader, recordEncoder } from '../operator/src/features/transform.js';
import { repoRoot } from '../test/support/cluster.js';
import { trainExample } from '../test/support/models.js';
import { freePort } from '../test/support/wait.js';
import { load, type Result } from './scoring/load.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' }, slices: { type: 'string', default: '4' }, connections: { type: 'string', default: '8' } } });
const SECONDS = Number(values.seconds);
/** Alternating slices per workload and side. */
const SLICES = Number(values.slices);
/** Concurrent single-row clients. */
const CONNECTIONS = Number(values.connections);
const SERVER_CORE = '0';
const LOAD_CORE = '1';

spawnSync('taskset', ['-a', '-cp', LOAD_CORE, String(process.pid)], { stdio: 'ignore' });
const python = spawnSync('bash', [join(repoRoot, 'bench/setup-python.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).stdout.trim();

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never became ready`);
}

function pinned(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn('taskset', ['-c', SERVER_CORE, cmd, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
}

async function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exit = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exit;
}

function json(cmd: string, args: string[]): Record<string, number> {
  const out = spawnSync('taskset', ['-c', SERVER_CORE, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (out.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!);
}

const dir = await mkdtemp(join(tmpdir(), 'orchard-bench-scoring-'));
try {
  process.stderr.write('training the salaries example…\n');
  const model = await trainExample('salaries.yaml', dir);
  const modelDir = join(dir, 'model');
  const schema = inputSchema.parse(JSON.parse(await readFile(join(modelDir, 'input-schema.json'), 'utf8')));
  const records = model.records.slice(0, 1000);
  const encode = recordEncoder(schema);
  const rowsFile = join(dir, 'rows.json');
  await writeFile(rowsFile, JSON.stringify(records.map((r) => encode(jsonRecordReader(r)).map((v) => (Number.isNaN(v) ? null : v)))));
  const single = records.map((r) => JSON.stringify({ instances: [r] }));
  const batched = Array.from({ length: 10 }, (_, i) => JSON.stringify({ instances: records.slice(i * 100, i * 100 + 100) }));
  // The same rows as Open Inference Protocol tensors: model inputs, one column per input.
  const encoded = records.map((r) => encode(jsonRecordReader(r)));
  const tensors = Array.from({ length: 10 }, (_, i) => {
    const rows = encoded.slice(i * 100, i * 100 + 100);
    const inputs = schema.inputs.map((input, j) => ({
      name: input.name,
      shape: [rows.length, 1],
      datatype: input.type === 'Numeric' ? 'FP32' : 'BYTES',
      data: rows.map((row) => (typeof row[j] === 'number' && Number.isNaN(row[j]) ? null : row[j])),
    }));
    return JSON.stringify({ inputs, outputs: [{ name: 'prediction' }] });
  });

  process.stderr.write('CatBoost predict in-process, one thread on core 0…\n');
  const native = json(python, [join(repoRoot, 'bench/scoring/catboost_native.py'), modelDir, rowsFile, String(SECONDS)]);

  // Everything compared is up at once, pinned to core 0, and measured in alternating slices:
  // this machine's speed wanders by ±15 % within a minute, so ratios come from side-by-side slices.
  const cli = join(repoRoot, 'operator/src/training/cli.ts');
  const children: ChildProcess[] = [];
  const scorer = async (withDrift: boolean) => {
    const port = await freePort();
    const [driftPort, ingestPort] = [await freePort(), await freePort()];
    const spec = { model: 'salaries', version: 1, modelUri: model.uri, maxBatchRows: 1000, maxBodyBytes: 4 << 20, port, ...(withDrift ? { driftUrl: `http://127.0.0.1:${ingestPort}/v1/blocks`, driftBlockRows: 250 } : {}) };
    children.push(pinned(process.execPath, ['--import', 'tsx', cli, 'serve'], { ORCHARD_SERVING_SPEC: JSON.stringify(spec), ORCHARD_DRAIN_DELAY_MS: '0' }));
    if (withDrift) {
      const drift = { model: 'salaries', version: 1, modelUri: model.uri, port: driftPort, ingestPort, windowRows: 5000, windowSeconds: 3600, minRows: 500, driftShare: '0.5' };
      children.push(pinned(process.execPath, ['--import', 'tsx', cli, 'drift'], { ORCHARD_DRIFT_SPEC: JSON.stringify(drift) }));
      await waitReady(`http://127.0.0.1:${driftPort}/healthz`);
    }
    await waitReady(`http://127.0.0.1:${port}/v2/health/ready`);
    return `http://127.0.0.1:${port}`;
  };
  // Two processes of each, started plain, drift, drift, plain: the same server runs a few per cent
  // faster or slower depending on when its process started (two identical servers measured 11 %
  // apart), and this order cancels that out of the comparison.
  const servers: { which: 'plain' | 'drift'; url: string }[] = [];
  for (const which of ['plain', 'drift', 'drift', 'plain'] as const) servers.push({ which, url: await scorer(which === 'drift') });
  const worker = spawn('taskset', ['-c', SERVER_CORE, process.execPath, '--import', 'tsx', join(repoRoot, 'bench/scoring/raw-ort.ts'), modelDir, rowsFile], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(worker);
  const lines = createInterface({ input: worker.stdout! })[Symbol.asyncIterator]();
  const nextLine = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error('the in-process onnxruntime worker exited');
    return value as string;
  };
  if ((await nextLine()) !== 'ready') throw new Error('the in-process onnxruntime worker did not start');
  const inProcess = async (batch: number): Promise<number> => {
    worker.stdin!.write(`${JSON.stringify({ batch, seconds: SECONDS })}\n`);
    return (JSON.parse(await nextLine()) as { rowsPerSecond: number }).rowsPerSecond;
  };

  const workloads = [
    { label: '1 row/request', path: '/v1/models/salaries:predict', bodies: single, rowsPer: 1, connections: CONNECTIONS },
    { label: '100 rows/request', path: '/v1/models/salaries:predict', bodies: batched, rowsPer: 100, connections: 8 },
    { label: '100-row OIP tensors/request', path: '/v2/models/salaries/infer', bodies: tensors, rowsPer: 100, connections: 8 },
  ];
  const rows: [string, Result][] = [];
  const merge = (label: string, r: Result) => {
    const had = rows.find(([l]) => l === label);
    if (!had) return void rows.push([label, r]);
    const a = had[1];
    // Slices add up; the percentiles are the worst slice's, to stay on the safe side.
    had[1] = { requests: a.requests + r.requests, rows: a.rows + r.rows, seconds: a.seconds + r.seconds, p50: Math.max(a.p50, r.p50), p99: Math.max(a.p99, r.p99), errors: a.errors + r.errors };
  };
  /** Per workload and slice: plain and drift rows/s, and in-process rows/s for the same rows per run. */
  const slices = new Map<string, { plain: number; drift: number; raw: number }[]>();
  const rawSum = new Map<number, { rows: number; n: number }>();
  for (const w of workloads) {
    const perSlice: { plain: number; drift: number; raw: number }[] = [];
    for (let round = 0; round < SLICES; round++) {
      process.stderr.write(`${w.label}: slice ${round + 1} of ${SLICES}…\n`);
      // Alternate the order, so no side always runs first; in-process sits in the middle.
      const steps: ({ which: 'plain' | 'drift'; url: string } | 'raw')[] = [servers[0]!, servers[1]!, 'raw', servers[2]!, servers[3]!];
      if (round % 2) steps.reverse();
      const got: Record<string, number[]> = { plain: [], drift: [], raw: [] };
      for (const step of steps) {
        if (step === 'raw') {
          const rate = await inProcess(w.rowsPer);
          got.raw!.push(rate);
          const sum = rawSum.get(w.rowsPer) ?? { rows: 0, n: 0 };
          rawSum.set(w.rowsPer, { rows: sum.rows + rate, n: sum.n + 1 });
          continue;
        }
        const r = await load(`${step.url}${w.path}`, w.bodies, w.rowsPer, w.connections, SECONDS, 0.5);
        merge(`orchard serve${step.which === 'drift' ? ' + drift monitor' : ''}, ${w.label}`, r);
        got[step.which]!.push(r.rows / r.seconds);
      }
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      perSlice.push({ plain: mean(got.plain!), drift: mean(got.drift!), raw: mean(got.raw!) });
    }
    slices.set(w.label, perSlice);
  }
  await Promise.all(children.map(stopped));
  rows.sort(([a], [b]) => Number(a.includes('drift')) - Number(b.includes('drift')));
  const raw = { batch1: rawSum.get(1)!.rows / rawSum.get(1)!.n, batch100: rawSum.get(100)!.rows / rawSum.get(100)!.n };

  const flaskPort = await freePort();
  const flask = pinned(python, [join(repoRoot, 'bench/scoring/flask_server.py'), modelDir, String(flaskPort)]);
  // A GET on its POST route answers 405 once the server is up.
  for (let i = 0; i < 600 && !(await fetch(`http://127.0.0.1:${flaskPort}/predict`).then(() => true, () => false)); i++) {
    if (flask.exitCode !== null) throw new Error('the Flask server exited');
    await new Promise((r) => setTimeout(r, 100));
  }
  rows.push(['Flask + CatBoost predict, 1 row/request', await load(`http://127.0.0.1:${flaskPort}/predict`, single, 1, 8, SECONDS)]);
  rows.push(['Flask + CatBoost predict, 100 rows/request', await load(`http://127.0.0.1:${flaskPort}/predict`, batched, 100, 8, SECONDS)]);
  await stopped(flask);

  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(`\n| server (core ${SERVER_CORE}; load from core ${LOAD_CORE}) | req/s | rows/s | p50 ms | p99 ms | errors |`);
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [label, r] of rows) console.log(`| ${label} | ${f(r.requests / r.seconds)} | ${f(r.rows / r.seconds)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${r.errors} |`);
  console.log(`\n| in-process, one thread on core ${SERVER_CORE} | rows/s, 1-row runs | rows/s, 100-row runs |`);
  console.log('|---|---:|---:|');
  console.log(`| onnxruntime-node (the exported ONNX) | ${f(raw.batch1!)} | ${f(raw.batch100!)} |`);
  console.log(`| CatBoost predict (model.cbm) | ${f(native.batch1!)} | ${f(native.batch100!)} |`);

  const rate = (label: string) => {
    const r = rows.find(([l]) => l === label)![1];
    return { req: r.requests / r.seconds, rows: r.rows / r.seconds };
  };
  const s1 = rate('orchard serve, 1 row/request');
  const fl = rate('Flask + CatBoost predict, 1 row/request');
  console.log('\n| ratio, measured side by side in this run | value |');
  console.log('|---|---:|');
  console.log(`| orchard single-row req/s ÷ Flask single-row req/s | ${f(s1.req / fl.req, 1)}× |`);
  // Within a workload, from its own slices: the in-process rate wanders between workloads too.
  const sum = (label: string, key: 'plain' | 'drift' | 'raw') => slices.get(label)!.reduce((n, p) => n + p[key], 0);
  const vsRaw = (label: string) => (100 * sum(label, 'plain')) / sum(label, 'raw');
  const cost = (label: string) => 100 * (1 - sum(label, 'drift') / sum(label, 'plain'));
  console.log(`| orchard batched rows/s ÷ in-process onnxruntime rows/s (100-row runs, same slices): OIP tensors / raw records | ${f(vsRaw('100-row OIP tensors/request'), 0)} % / ${f(vsRaw('100 rows/request'), 0)} % |`);
  console.log(`| throughput lost with the drift monitor on, same slices (1 row / 100 raw records / 100-row OIP tensors) | ${f(cost('1 row/request'), 1)} % / ${f(cost('100 rows/request'), 1)} % / ${f(cost('100-row OIP tensors/request'), 1)} % |`);
  console.log(`| ONNX in-process rows/s ÷ CatBoost predict rows/s (1-row / 100-row runs) | ${f(raw.batch1! / native.batch1!, 2)} / ${f(raw.batch100! / native.batch100!, 2)} |`);

  // The spread: the same ratios within each slice.
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  console.log('\n| workload | slices | server ÷ in-process, per slice | drift cost, per slice | median drift cost |');
  console.log('|---|---:|---|---|---:|');
  for (const [label, per] of slices) {
    const ratios = per.map((p) => `${f((100 * p.plain) / p.raw)} %`).join(', ');
    const costs = per.map((p) => 100 * (1 - p.drift / p.plain));
    console.log(`| ${label} | ${per.length} | ${ratios} | ${costs.map((c) => `${f(c, 1)} %`).join(', ')} | ${f(median(costs), 1)} % |`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
