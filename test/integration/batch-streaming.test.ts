// A ScoringJob shard reads only its share of the input and streams it: a million generated rows
// scored by four real `orchard score` processes under a 256 MB heap, each reading a quarter of the
// file's bytes, together scoring exactly the rows, with the predictions, one shard scores. Parquet
// splits by row group, CSV by line-aligned byte range; a quoted line break is refused with the fix.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { stringify } from 'yaml';
import { scoringJobSpec } from '../../operator/src/api/v1alpha1/scoring-job.js';
import { readArtifactText } from '../../operator/src/artifacts/store.js';
import { scoreShard } from '../../operator/src/batch/score.js';
import { readShardInput } from '../../operator/src/batch/shard-input.js';
import type { TrainingRunSpec } from '../../operator/src/api/v1alpha1/training-run.js';
import { runPipeline } from '../../operator/src/training/pipeline.js';
import { repoRoot } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { startFakeGcs } from '../support/fake-gcs.js';
import { makeTextParquet } from '../support/parquet-writer.js';

const ROWS = 1_000_000;
const SHARDS = 4;
const cli = join(repoRoot, 'operator', 'src', 'training', 'cli.ts');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^ORCHARD_|^JOB_COMPLETION_INDEX$/.test(k)));

let work: string;
let modelUri: string;
let big: string;
let salaries: string[];
let header: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'orchard-streaming-'));
  const base = exampleTrainingRun('salaries.yaml');
  const spec = { ...base, catboost: { ...base.catboost, iterations: 40 } } as TrainingRunSpec;
  modelUri = `file://${join(work, 'model')}/`;
  await runPipeline({ spec, workDir: join(work, 'train'), artifactUri: modelUri, producerVersion: 'test' });
  // A million rows: the example's rows over and over, each with its own id to tell them apart.
  const text = (await readFile(join(repoRoot, 'data', 'ai-jobs-salaries', 'salaries.csv'), 'utf8')).trimEnd().split(/\r?\n/);
  header = `id,${text[0]}`;
  salaries = text.slice(1);
  big = join(work, 'big.csv');
  const out = createWriteStream(big);
  out.write(`${header}\n`);
  for (let i = 0; i < ROWS; i += 10_000) {
    const lines: string[] = [];
    for (let j = i; j < Math.min(ROWS, i + 10_000); j++) lines.push(`${j},${salaries[j % salaries.length]}`);
    if (!out.write(`${lines.join('\n')}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}, 120_000);

afterAll(() => rm(work, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stderr: string;
  /** Peak resident set, KiB, as GNU time reports it. */
  maxRssKiB: number;
}

/** `orchard score` as the Pod runs it, under a small heap, its peak RSS measured by GNU time. */
function orchardScore(specFile: string, shard: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'maxrss=%M', process.execPath, '--max-old-space-size=256', '--import', 'tsx', cli, 'score', '--spec', specFile, '--model-uri', modelUri, '--shard', String(shard)], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, maxRssKiB: Number(/maxrss=(\d+)/.exec(stderr)?.[1] ?? NaN) }));
  });
}

const job = (uri: string, shards: number, out: string, format: 'Csv' | 'JsonLines' = 'Csv') => ({
  modelRef: { name: 'salaries' },
  input: { sources: [{ uri }], labelColumn: 'salary_in_usd' },
  output: { uri: `file://${join(work, out)}/`, format, passthroughColumns: ['id'] },
  shards,
  parallelism: shards,
});

async function predictions(dir: string): Promise<Map<string, string>> {
  const lines = (await readFile(join(dir, 'predictions.csv'), 'utf8')).trimEnd().split('\n');
  expect(lines[0]).toBe('id,prediction');
  return new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(',')), l.slice(l.indexOf(',') + 1)]));
}

describe('a shard reads its share and streams', () => {
  it('four shards of a million CSV rows: each reads a quarter, under 256 MB of heap, and together score what one shard scores', async () => {
    const specFile = join(work, 'four.yaml');
    await writeFile(specFile, stringify({ apiVersion: 'orchard.dev/v1alpha1', kind: 'ScoringJob', metadata: { name: 'four' }, spec: job(`file://${big}`, SHARDS, 'four') }));
    const runs = await Promise.all(Array.from({ length: SHARDS }, (_, s) => orchardScore(specFile, s)));
    for (const run of runs) expect({ code: run.code, stderr: run.stderr.replace(/maxrss=\d+\n?/, '') }).toEqual({ code: 0, stderr: '' });
    const size = (await stat(big)).size;
    const summaries = await Promise.all(runs.map(async (_, s) => JSON.parse(await readFile(join(work, 'four', `shard-0000${s}-of-00004`, 'summary.json'), 'utf8'))));
    expect(summaries.map((s) => s.rows).reduce((a, b) => a + b, 0)).toBe(ROWS);
    // A shard's reads: its quarter, the header, and the line it finishes past its range, well within one 1 MiB block.
    for (const s of summaries) expect(s.bytesRead).toBeLessThanOrEqual(size / SHARDS + (1 << 20));
    for (const s of summaries) expect(s.bytesRead).toBeGreaterThanOrEqual(size / SHARDS - 200);
    // Measured: about 195 MB peak RSS per shard (2 cores, load 7); the bound leaves room for a loaded CI machine.
    for (const run of runs) expect(run.maxRssKiB).toBeLessThan(400 * 1024);

    // Row j of the big file is row j mod n of the example's n rows: one shard scoring those n rows
    // gives every prediction the four shards must have made, each row once.
    const small = join(work, 'small.csv');
    await writeFile(small, `${header}\n${salaries.map((row, j) => `${j},${row}`).join('\n')}\n`);
    const one = await scoreShard({ spec: scoringJobSpec.parse(job(`file://${small}`, 1, 'one')), modelUri, shard: 0 });
    expect(one.rows).toBe(salaries.length);
    const expected = [...(await predictions(join(work, 'one', 'shard-00000-of-00001'))).values()].map(Number);
    const seen = new Uint8Array(ROWS);
    let mismatched = 0;
    for (let s = 0; s < SHARDS; s++) {
      for (const [id, p] of await predictions(join(work, 'four', `shard-0000${s}-of-00004`))) {
        seen[Number(id)]!++;
        // onnxruntime may sum trees in another order for another batch: the last bit of a double can differ.
        if (Math.abs(Number(p) - expected[Number(id) % salaries.length]!) > 1e-9 * Math.abs(Number(p))) mismatched++;
      }
    }
    expect(seen.every((n) => n === 1)).toBe(true);
    expect(mismatched).toBe(0);
    // The shards' sums are every row's: metrics and drift merged across shards are those of all rows.
    expect(summaries.map((s) => s.stats.n).reduce((a, b) => a + b, 0)).toBe(ROWS);
    expect(summaries.map((s) => s.drift.rows).reduce((a, b) => a + b, 0)).toBe(ROWS);
  }, 180_000);

  it('Parquet splits by row group: three shards read their groups and score the rows a CSV run scores', async () => {
    const rows = salaries.filter((row) => !row.includes('"')).slice(0, 3000).map((row, j) => [String(j), ...row.split(',')]);
    const file = join(work, 'groups.parquet');
    await writeFile(file, makeTextParquet(header.split(','), rows, 250));
    const size = (await stat(file)).size;
    const summaries = [];
    for (let s = 0; s < 3; s++) summaries.push(await scoreShard({ spec: scoringJobSpec.parse(job(`file://${file}`, 3, 'parquet')), modelUri, shard: s }));
    // Twelve groups of 250 rows, shared by their bytes: whole groups, about four each.
    expect(summaries.map((s) => s.rows).reduce((a, b) => a + b, 0)).toBe(3000);
    for (const s of summaries) expect([s.rows % 250, Math.abs(s.rows - 1000) <= 250]).toEqual([0, true]);
    // A third of the file, at most one group more, and the 8 KiB read that finds the footer.
    for (const s of summaries) expect(s.bytesRead).toBeLessThanOrEqual(size / 3 + size / 12 + (8 << 10));
    const csv = join(work, 'groups.csv');
    await writeFile(csv, `${header}\n${rows.map((r) => r.join(',')).join('\n')}\n`);
    await scoreShard({ spec: scoringJobSpec.parse(job(`file://${csv}`, 1, 'groups-csv')), modelUri, shard: 0 });
    const expected = await predictions(join(work, 'groups-csv', 'shard-00000-of-00001'));
    const union = new Map<string, string>();
    for (let s = 0; s < 3; s++) for (const [id, p] of await predictions(join(work, 'parquet', `shard-0000${s}-of-00003`))) union.set(id, p);
    expect([...union.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [id, p] of union) expect(Number(p)).toBeCloseTo(Number(expected.get(id)), 6);
  }, 60_000);

  it('a CSV split by byte range refuses a line break inside a quoted cell, naming the file and the fix; one shard reads it whole', async () => {
    const file = join(work, 'quoted.csv');
    const quoted = salaries[1]!.replace(/^2025,MI,FT,[^,]+,/, '2025,MI,FT,"Prompt\nEngineer",');
    await writeFile(file, `${header}\n0,${salaries[0]}\n1,${quoted}\n2,${salaries[2]}\n`);
    expect(quoted).toContain('\n');
    // Split in two, a shard cannot tell a line break inside quotes from a record's end.
    const split = await Promise.allSettled([0, 1].map((shard) => scoreShard({ spec: scoringJobSpec.parse(job(`file://${file}`, 2, 'quoted')), modelUri, shard })));
    const refusals = split.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as Error).message);
    expect(refusals.length).toBeGreaterThan(0);
    for (const message of refusals) {
      expect(message).toMatch(
        /quoted\.csv.* has a line break inside a quoted cell: a CSV file that shards split by byte range must hold one record per line; .*score it with shards: 1, gzip the file \(format CsvGzip is read whole by one shard\) or convert it to Parquet$/,
      );
    }
    split.forEach((r, shard) => r.status === 'rejected' && expect(stat(join(work, 'quoted', `shard-0000${shard}-of-00002`))).rejects.toThrow(/ENOENT/));
    // One shard owns the whole file and starts outside quotes: it reads the cell as the whole-file reader does.
    await scoreShard({ spec: scoringJobSpec.parse(job(`file://${file}`, 1, 'quoted-whole')), modelUri, shard: 0 });
    expect([...(await predictions(join(work, 'quoted-whole', 'shard-00000-of-00001'))).keys()].sort()).toEqual(['0', '1', '2']);
  });

  it('one shard reading a whole CSV cuts its blocks between records, so quoted line breaks and doubled quotes survive block edges', async () => {
    const file = join(work, 'quoted-blocks.csv');
    // About 3 MiB: every block edge of a whole-file read lands somewhere in these records.
    const rows = Array.from({ length: 40_000 }, (_, i) => [String(i), i % 3 === 0 ? `"line ${i}\nand ""more"" ${'y'.repeat(i % 50)}"` : `plain ${i}`]);
    await writeFile(file, `id,text\n${rows.map((r) => r.join(',')).join('\n')}\n`);
    const seen: (string | null)[][] = [];
    for await (const batch of readShardInput([{ uri: `file://${file}` } as never], 0, 1, { batchRows: 4096 }).batches) seen.push(...batch.rows);
    expect(seen.length).toBe(rows.length);
    seen.forEach((row, i) => expect(row).toEqual([String(i), i % 3 === 0 ? `line ${i}\nand "more" ${'y'.repeat(i % 50)}` : `plain ${i}`]));
  });

  it('the lines a shard owns are those that start in its range, whatever the block and range edges', async () => {
    const file = join(work, 'edges.csv');
    // CRLF endings, a comment and a blank line before the header, no newline at the end.
    await writeFile(file, `# exported\r\n\r\na,b\r\n${Array.from({ length: 500 }, (_, i) => `${i},${'x'.repeat(i % 13)}`).join('\r\n')}`);
    for (const shards of [1, 2, 3, 7, 64, 1000]) {
      const seen: string[] = [];
      for (let s = 0; s < shards; s++) {
        for await (const batch of readShardInput([{ uri: `file://${file}`, csv: { commentPrefix: '#' } } as never], s, shards, { batchRows: 50 }).batches) {
          expect(batch.columns).toEqual(['a', 'b']);
          for (const row of batch.rows) seen.push(row[0]!);
        }
      }
      expect([shards, seen]).toEqual([shards, Array.from({ length: 500 }, (_, i) => String(i))]);
    }
  });

  it('gs:// in and out: a source that cannot be split goes whole to one shard, and predictions stream up in a resumable upload', async () => {
    const gcs = await startFakeGcs({ buckets: ['scores'] });
    try {
      const text = `${header}\n${salaries.slice(0, 500).map((row, j) => `${j},${row}`).join('\n')}\n`;
      await gcs.storage.bucket('scores').file('in/rows.csv').save(text);
      const spec = scoringJobSpec.parse({ ...job('gs://scores/in/rows.csv', 2, 'unused'), output: { uri: 'gs://scores/out/', passthroughColumns: ['id'] } });
      const summaries = [];
      for (let s = 0; s < 2; s++) summaries.push(await scoreShard({ spec, modelUri, shard: s, gcs: gcs.storage }));
      expect(summaries.map((s) => [s.rows, s.bytesRead])).toEqual([[500, Buffer.byteLength(text)], [0, 0]]);
      const lines = (await readArtifactText(summaries[0]!.outputUri, 'predictions.csv', { gcs: gcs.storage })).trimEnd().split('\n');
      expect(lines).toHaveLength(501);
      expect(lines[0]).toBe('id,prediction');
      expect((await readArtifactText(summaries[1]!.outputUri, 'predictions.csv', { gcs: gcs.storage })).trimEnd()).toBe('id,prediction');
    } finally {
      await gcs.stop();
    }
  }, 60_000);

  it('JSON Lines streams the same way: two shards write one object per row, every row once', async () => {
    const file = join(work, 'lines.csv');
    await writeFile(file, `${header}\n${salaries.slice(0, 20_000).map((row, j) => `${j},${row}`).join('\n')}\n`);
    const ids: number[] = [];
    for (let s = 0; s < 2; s++) {
      const summary = await scoreShard({ spec: scoringJobSpec.parse(job(`file://${file}`, 2, 'jsonl', 'JsonLines')), modelUri, shard: s });
      const lines = (await readArtifactText(summary.outputUri, 'predictions.jsonl')).trimEnd().split('\n');
      expect(lines).toHaveLength(summary.rows);
      for (const line of lines) {
        const record = JSON.parse(line);
        expect(Object.keys(record)).toEqual(['id', 'prediction']);
        ids.push(Number(record.id));
      }
    }
    expect(ids).toEqual(Array.from({ length: 20_000 }, (_, i) => i));
  }, 60_000);
});
