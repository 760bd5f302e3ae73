// onnxruntime-node in-process on the model the scorer serves, one intra-op thread, as the scorer
// runs it. A worker: each stdin line {"batch": rows per run, "seconds": s} is answered with one
// stdout line {"rowsPerSecond": …}, so the benchmark can interleave it with the servers' slices.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createSession, feedsFor } from '../../operator/src/export/onnx-runner.js';
import type { EncodedRow } from '../../operator/src/features/transform.js';
import { inputSchema } from '../../operator/src/features/schema.js';

const [modelDir, rowsFile] = process.argv.slice(2) as [string, string];
const schema = inputSchema.parse(JSON.parse(readFileSync(`${modelDir}/input-schema.json`, 'utf8')));
const rows: EncodedRow[] = JSON.parse(readFileSync(rowsFile, 'utf8')).map((r: (number | string | null)[]) => r.map((v) => (v === null ? Number.NaN : v)));
const session = await createSession(readFileSync(`${modelDir}/model.onnx`), { threads: 1 });

async function measure(batch: number, seconds: number): Promise<number> {
  const batches: EncodedRow[][] = [];
  for (let i = 0; i < rows.length; i += batch) batches.push(rows.slice(i, i + batch));
  let done = 0;
  let k = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    // Tensors are built per run, as any caller of the library must.
    await session.run(feedsFor(schema.inputs, batches[k++ % batches.length]!));
    done += batch;
  }
  return done / ((performance.now() - start) / 1000);
}

await measure(100, 0.5); // warm-up
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const { batch, seconds } = JSON.parse(line) as { batch: number; seconds: number };
  process.stdout.write(`${JSON.stringify({ rowsPerSecond: await measure(batch, seconds) })}\n`);
}
