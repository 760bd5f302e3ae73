// Batch scoring at scale: the salaries example resampled to --rows rows of CSV, scored by --shards
// `orchard score` processes run one after another (so each has the machine to itself) under a
// 512 MB heap. Per shard: rows/s, peak RSS, bytes read against its share; beside it, in the same
// run, onnxruntime in-process on the same rows already encoded, the bound a shard's rows/s is held to.
//
//   npx tsx bench/data-score.ts [--rows 1000000 --shards 4]
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { readArtifact } from '../operator/src/artifacts/store.js';
import { readShardInput } from '../operator/src/batch/shard-input.js';
import { createSession, runModel } from '../operator/src/export/onnx-runner.js';
import { inputSchema } from '../operator/src/features/schema.js';
import { recordEncoder, tableRowReader, type EncodedRow } from '../operator/src/features/transform.js';
import { repoRoot } from '../test/support/cluster.js';
import { trainExample } from '../test/support/models.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, shards: { type: 'string', default: '4' } } });
const ROWS = Number(values.rows);
const SHARDS = Number(values.shards);
const CHUNK = 8192;

const work = await mkdtemp(join(tmpdir(), 'orchard-bench-score-'));
try {
  const model = await trainExample('salaries.yaml', work, { iterations: 200 });
  const text = (await readFile(join(repoRoot, 'data', 'ai-jobs-salaries', 'salaries.csv'), 'utf8')).trimEnd().split(/\r?\n/);
  const input = join(work, 'rows.csv');
  const out = createWriteStream(input);
  out.write(`${text[0]}\n`);
  for (let i = 0; i < ROWS; i++) if (!out.write(`${text[1 + (i % (text.length - 1))]}\n`)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
  const size = (await stat(input)).size;

  const spec = join(work, 'job.yaml');
  const job = { modelRef: { name: 'salaries' }, input: { sources: [{ uri: `file://${input}` }], labelColumn: 'salary_in_usd' }, output: { uri: `file://${join(work, 'scores')}/` }, shards: SHARDS, parallelism: SHARDS };
  await writeFile(spec, stringify({ apiVersion: 'orchard.dev/v1alpha1', kind: 'ScoringJob', metadata: { name: 'bench' }, spec: job }));
  const shardRows: { shard: number; rows: number; rowsPerSecond: number; peakRssMiB: number; bytesRead: number; share: number }[] = [];
  for (let shard = 0; shard < SHARDS; shard++) {
    const maxRss = await new Promise<number>((resolve, reject) => {
      const child = spawn('/usr/bin/time', ['-f', 'maxrss=%M', process.execPath, '--max-old-space-size=512', '--import', 'tsx', join(repoRoot, 'operator/src/training/cli.ts'), 'score', '--spec', spec, '--model-uri', model.uri, '--shard', String(shard)], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(Number(/maxrss=(\d+)/.exec(stderr)![1]) / 1024) : reject(new Error(`shard ${shard} exited ${code}: ${stderr}`))));
    });
    const summary = JSON.parse(await readFile(join(work, 'scores', `shard-${String(shard).padStart(5, '0')}-of-${String(SHARDS).padStart(5, '0')}`, 'summary.json'), 'utf8'));
    shardRows.push({ shard, rows: summary.rows, rowsPerSecond: Math.round(summary.rows / summary.seconds), peakRssMiB: Math.round(maxRss), bytesRead: summary.bytesRead, share: Math.round(size / SHARDS) });
  }

  // onnxruntime alone on shard 0's rows, encoded beforehand: what scoring costs without reading and writing.
  const schema = inputSchema.parse(JSON.parse((await readArtifact(model.uri, 'input-schema.json')).toString('utf8')));
  const session = await createSession(await readArtifact(model.uri, 'model.onnx'));
  const encode = recordEncoder(schema);
  const encoded: EncodedRow[] = [];
  for await (const batch of readShardInput([{ uri: `file://${input}` }], 0, SHARDS, { batchRows: CHUNK }).batches) {
    const reader = tableRowReader(batch.columns);
    for (const row of batch.rows) encoded.push(encode(reader(row)));
  }
  const started = performance.now();
  for (let i = 0; i < encoded.length; i += CHUNK) await runModel(session, schema.inputs, encoded.slice(i, i + CHUNK));
  const onnxRowsPerSecond = Math.round(encoded.length / ((performance.now() - started) / 1000));

  console.log(`| shard | rows | rows/s | rows/s ÷ onnxruntime in-process (${onnxRowsPerSecond}/s) | peak RSS MiB | bytes read | share of ${size} bytes |`);
  console.log('|---|---|---|---|---|---|---|');
  for (const r of shardRows) console.log(`| ${r.shard} | ${r.rows} | ${r.rowsPerSecond} | ${(r.rowsPerSecond / onnxRowsPerSecond).toFixed(2)} | ${r.peakRssMiB} | ${r.bytesRead} | ${r.share} |`);
} finally {
  await rm(work, { recursive: true, force: true });
}
