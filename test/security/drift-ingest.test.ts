// Attacks on the drift monitor (`orchard drift` as a process, on the salaries example's reference):
// blocks forged from another Pod's address, blocks built to break the window, bodies built to
// exhaust memory, and a few hundred of them in a loop. The scorer's own blocks keep being counted.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { publishArtifacts } from '../../operator/src/artifacts/store.js';
import { DriftCounter, type DriftCounts } from '../../operator/src/drift/counts.js';
import { parseReferenceProfile, type ReferenceProfile } from '../../operator/src/features/profile.js';
import { inputSchema, type InputSchema } from '../../operator/src/features/schema.js';
import type { DriftSidecarSpec } from '../../operator/src/serving/spec.js';
import { prepare } from '../../operator/src/training/prepare.js';
import { readPreparedTsv } from '../../operator/src/training/tsv.js';
import { repoRoot } from '../support/cluster.js';
import { exampleTrainingRun } from '../support/examples.js';
import { portOf, readyLine } from '../support/ready-line.js';

const WINDOW_ROWS = 5000;
let work: string;
let child: ChildProcess;
let spec: DriftSidecarSpec;
let schema: InputSchema;
let profile: ReferenceProfile;
let trainRows: (number | string)[][];
/** The read side as another Pod reaches it: any address of the Pod but loopback's 127.0.0.1. */
let podRead: string;
let ingest: string;
let read: string;

interface Answer {
  status: number;
  json: any;
}

/** One request; a refused connection answers status 0 with the error's code. */
function send(url: string, method: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const length = body !== undefined && !headers['transfer-encoding'] ? { 'content-length': String(Buffer.byteLength(body)) } : {};
    const req = request(url, { method, headers: { 'content-type': 'application/json', ...length, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = text;
        }
        resolve({ status: res.statusCode!, json });
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, json: { code: err.code } }));
    req.end(body);
  });
}

const post = (blocks: unknown, base = ingest) => send(`${base}/v1/blocks`, 'POST', JSON.stringify({ blocks }));

/** Counts of training rows: what a scorer sees when nothing drifts. */
function calmCounts(from: number, rows: number): DriftCounts {
  const counter = new DriftCounter(profile, schema.inputs.map((i) => i.name));
  // A stride through the training rows, which are stored in no random order.
  for (let r = 0; r < rows; r++) counter.add(trainRows[((from + r) * 7919) % trainRows.length]! as never, undefined);
  return counter.take();
}

/** Counts that put every row of every input in the slot above the training maximum, or "other": drift everywhere. */
function forgedCounts(rows: number): DriftCounts {
  const counter = new DriftCounter(profile, schema.inputs.map((i) => i.name));
  const row = schema.inputs.map((i) => (i.type === 'Numeric' ? 1e12 : 'forged'));
  for (let r = 0; r < rows; r++) counter.add(row as never, undefined);
  return counter.take();
}

const block = (counts: unknown) => ({ counts, first: Date.now(), last: Date.now() });

async function rssBytes(): Promise<number> {
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'orchard-drift-ingest-'));
  const prepared = join(work, 'model');
  await prepare({ spec: exampleTrainingRun('salaries.yaml'), outDir: prepared });
  schema = inputSchema.parse(JSON.parse(await readFile(join(prepared, 'input-schema.json'), 'utf8')));
  profile = parseReferenceProfile(JSON.parse(await readFile(join(prepared, 'reference-profile.json'), 'utf8')));
  trainRows = (await readPreparedTsv(join(prepared, 'train.tsv'), schema.inputs)).rows;
  const modelUri = `${pathToFileURL(join(work, 'published')).href}/`;
  await publishArtifacts(modelUri, await Promise.all(['input-schema.json', 'reference-profile.json'].map(async (name) => ({ name, bytes: await readFile(join(prepared, name)) }))));
  // Port 0 for both: ports picked here and closed again could be taken by another worker first.
  const asked = { model: 'salaries', version: 1, modelUri, port: 0, ingestPort: 0, windowRows: WINDOW_ROWS, windowSeconds: 3600, minRows: 500, driftShare: '0.5' };
  // As in a Pod: no ORCHARD_LISTEN_ADDRESS, so reads on every address and ingest on 127.0.0.1.
  const { ORCHARD_LISTEN_ADDRESS: _, ...env } = process.env;
  child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'operator/src/training/cli.ts'), 'drift'], { env: { ...env, ORCHARD_DRIFT_SPEC: JSON.stringify(asked) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const ready = await readyLine(child, 'drift monitor ready');
  spec = { ...asked, port: Number(ready.port), ingestPort: portOf(ready.ingest) };
  read = `http://127.0.0.1:${spec.port}`;
  podRead = `http://127.0.0.2:${spec.port}`;
  ingest = `http://127.0.0.1:${spec.ingestPort}`;
  expect((await send(`${read}/healthz`, 'GET')).status).toBe(200);
}, 120_000);

afterAll(async () => {
  if (child?.exitCode === null) child.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
});

describe('the drift monitor', () => {
  it('refuses blocks from any address but its own loopback, so no other Pod can fake drift', async () => {
    expect(schema.inputs).toHaveLength(8);
    const forged = [block(forgedCounts(2000))];
    // From another Pod: the ingest port does not listen there, the read port has no POST routes.
    expect((await post(forged, `http://127.0.0.2:${spec.ingestPort}`)).json).toEqual({ code: 'ECONNREFUSED' });
    const onRead = await post(forged, podRead);
    expect(onRead.status).toBe(404);
    expect(onRead.json.error).toMatch(/POST \/v1\/blocks is not served on this port/);
    expect((await send(`${podRead}/v1/rows`, 'POST', JSON.stringify({ rows: [], predictions: [] }))).status).toBe(404);
    const seen = await send(`${podRead}/v1/drift`, 'GET');
    expect(seen.status).toBe(200);
    expect(seen.json).toMatchObject({ model: 'salaries', version: 1, rows: 0 });
  });

  it('answers 400 naming the field, or 413, to blocks built to break the window; nothing of them is counted and reads stay 200', async () => {
    const good = calmCounts(0, 250);
    const json = () => JSON.parse(JSON.stringify(good)) as Record<string, any>;
    const first = schema.inputs[0]!.name;
    const withProto = JSON.stringify({ blocks: [block(good)] }).replace('"inputs":{', '"inputs":{"__proto__":[1],');
    const hostile: [string, string | Buffer, number, RegExp][] = [
      ['a __proto__ input', withProto, 400, /blocks\[0\]\.counts\.inputs\.__proto__: not an input of the model/],
      ['a __proto__ block field', JSON.stringify({ blocks: [block(good)] }).replace('"counts":', '"__proto__":{"rows":1},"counts":'), 400, /blocks\[0\]\.__proto__: not a field of a block/],
      ['a short count array', JSON.stringify({ blocks: [block({ ...json(), inputs: { ...json().inputs, [first]: [250] } })] }), 400, new RegExp(`blocks\\[0\\]\\.counts\\.inputs\\.${first}: expected an array of \\d+ counts`)],
      ['a negative count', JSON.stringify({ blocks: [block({ ...json(), inputs: { ...json().inputs, [first]: [-1, ...json().inputs[first].slice(1)] } })] }), 400, new RegExp(`blocks\\[0\\]\\.counts\\.inputs\\.${first}\\[0\\]: expected an integer from 0 to 250, got -1`)],
      ['more rows than the window', JSON.stringify({ blocks: [block({ ...forgedCounts(WINDOW_ROWS + 1) })] }), 400, /blocks\[0\]\.counts\.rows: expected an integer from 0 to 5000, got 5001/],
      ['a block from the future', JSON.stringify({ blocks: [{ counts: good, first: Date.now(), last: Date.now() + 86_400_000 }] }), 400, /blocks\[0\]\.last: .* ahead of the monitor's clock/],
      ['times out of order', JSON.stringify({ blocks: [{ counts: good, first: 2, last: 1 }] }), 400, /blocks\[0\]: first \(2\) is after last \(1\)/],
      ['21 blocks', JSON.stringify({ blocks: Array.from({ length: 21 }, () => block(calmCounts(0, 1))) }), 400, /blocks: 21 blocks, at most 20 a post/],
      ['a valid block after a bad one', JSON.stringify({ blocks: [block(good), block({ ...json(), rows: 1 })] }), 400, /blocks\[1\]\.counts/],
      ['24 MB', Buffer.alloc(24 << 20, ' '), 413, /larger than \d+ bytes/],
    ];
    for (const [what, body, status, error] of hostile) {
      const answer = await send(`${ingest}/v1/blocks`, 'POST', body);
      expect([what, answer.status, answer.json.error]).toEqual([what, status, expect.stringMatching(error)]);
    }
    expect((await send(`${read}/v1/drift`, 'GET')).json.rows).toBe(0);

    // The scorer's blocks still count; the window is judged and reads answer.
    for (let r = 0; r < 1000; r += 250) expect((await post([block(calmCounts(r, 250))])).status).toBe(204);
    for (const [what, body, status] of hostile) expect([what, (await send(`${ingest}/v1/blocks`, 'POST', body)).status]).toEqual([what, status]);
    const summary = await send(`${read}/v1/drift`, 'GET');
    expect(summary.status).toBe(200);
    expect(summary.json).toMatchObject({ rows: 1000, report: { datasetDrift: false } });
    const metrics = await send(`${read}/metrics`, 'GET');
    expect(metrics.status).toBe(200);
    expect(metrics.json).toMatch(/orchard_drift_window_rows\{[^}]*\} 1000\n/);
    expect(metrics.json).toMatch(/orchard_drift_posts_rejected_total\{reason="too_large"[^}]*\} 2\n/);
  });

  it('answers a few hundred forged and malformed posts without one 5xx, and counts only the valid blocks', async () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
    const names = schema.inputs.map((i) => i.name);
    const mutations: ((c: Record<string, any>) => unknown)[] = [
      (c) => ({ ...c, inputs: { ...c.inputs, [pick(names)]: pick([[], [1], null, 'x', {}, [-1], [1.5], [1e308], ['1']]) } }),
      (c) => ({ ...c, rows: pick([-1, 0.5, 1e20, '10', null, 2 ** 53]) }),
      (c) => ({ ...c, layout: pick(['', '0000000000000000', 7, null]) }),
      (c) => ({ ...c, version: pick([0, 2, '1', null]) }),
      (c) => ({ ...c, prediction: pick([[], [1], null, 'x']) }),
      (c) => ({ ...c, inputs: pick<unknown>([[], null, 'x', 1, { constructor: [1] }, { toString: [1] }, { hasOwnProperty: [1] }]) }),
      () => pick([null, [], 1, 'x', true]),
    ];
    const before = (await send(`${read}/v1/drift`, 'GET')).json.rows as number;
    let valid = 0;
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const c = JSON.parse(JSON.stringify(calmCounts(i * 10, 10))) as Record<string, any>;
      const kind = random();
      let body: string;
      if (kind < 0.1) {
        body = JSON.stringify({ blocks: [block(c)] });
        valid += 10;
      } else if (kind < 0.8) body = JSON.stringify({ blocks: [block(pick(mutations)(c))] });
      else body = pick([JSON.stringify({ blocks: [{ counts: c, first: pick([-1, 'now', null, 1e300]), last: Date.now() }] }), '{"blocks":', '[]', '{}', JSON.stringify({ blocks: {} }), JSON.stringify({ blocks: [block(c)], extra: 1 }), '{"__proto__":{"blocks":[]}}', 'null']);
      const answer = await send(`${ingest}/v1/blocks`, 'POST', body);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status !== 204) expect(typeof answer.json.error).toBe('string');
      if (i % 50 === 0) for (const path of ['/v1/drift', '/metrics']) expect((await send(`${read}${path}`, 'GET')).status).toBe(200);
    }
    expect([...statuses.keys()].filter((s) => s >= 500 || s === 0)).toEqual([]);
    expect(statuses.get(204)).toBe(valid / 10);
    const summary = await send(`${read}/v1/drift`, 'GET');
    expect(summary.status).toBe(200);
    expect(summary.json.rows).toBe(before + valid);
    expect(child.exitCode).toBeNull();
  });

  it('keeps its memory bounded under repeated maximum posts', async () => {
    // The largest post that passes: 20 blocks of a full window each, counts spread over every slot.
    const full = (): DriftCounts => {
      const c = forgedCounts(0);
      c.rows = WINDOW_ROWS;
      for (const slots of Object.values(c.inputs)) {
        const n = slots.length;
        slots.fill(Math.floor(WINDOW_ROWS / n));
        slots[0]! += WINDOW_ROWS - Math.floor(WINDOW_ROWS / n) * n;
      }
      if (c.prediction) {
        c.prediction.fill(0);
        c.prediction[c.prediction.length - 1] = WINDOW_ROWS;
      }
      return c;
    };
    const largest = JSON.stringify({ blocks: Array.from({ length: 20 }, () => block(full())) });
    // 24 MiB of JSON that parses: one input's counts, twelve million of them.
    const tooLarge = Buffer.from(`{"blocks":[{"first":1,"last":1,"counts":{"inputs":{"${schema.inputs[0]!.name}":[${'0,'.repeat(12 << 20)}0]}}}]}`);
    const before = await rssBytes();
    let peak = before;
    const sampling = setInterval(() => void rssBytes().then((r) => (peak = Math.max(peak, r)), () => undefined), 10);
    const statuses: number[][] = [];
    try {
      for (let round = 0; round < 10; round++) {
        const answers = await Promise.all([
          ...Array.from({ length: 8 }, () => send(`${ingest}/v1/blocks`, 'POST', largest)),
          ...Array.from({ length: 3 }, () => send(`${ingest}/v1/blocks`, 'POST', tooLarge)),
          // Without a length: the limit holds while the body streams in.
          send(`${ingest}/v1/blocks`, 'POST', tooLarge, { 'transfer-encoding': 'chunked' }),
        ]);
        statuses.push(answers.map((a) => a.status));
      }
    } finally {
      clearInterval(sampling);
    }
    const after = await rssBytes();
    console.log(`drift monitor RSS: ${(before / 2 ** 20).toFixed(0)} MiB before, ${(peak / 2 ** 20).toFixed(0)} MiB peak, ${(after / 2 ** 20).toFixed(0)} MiB after 80 maximum posts (${largest.length} bytes) and 40 of ${(tooLarge.length / 2 ** 20).toFixed(0)} MiB`);
    // The container's limit is 256 MiB; the monitor's own growth stays far below it. (Its absolute
    // size here is tsx's compiler as much as the monitor's, so only the growth is bounded.)
    expect(peak - before).toBeLessThan(64 * 2 ** 20);
    for (const round of statuses) expect(round).toEqual([...Array(8).fill(204), 413, 413, 413, 413]);
    expect((await send(`${read}/v1/drift`, 'GET')).status).toBe(200);
  }, 120_000);
});
