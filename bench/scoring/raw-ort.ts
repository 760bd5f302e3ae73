// onnxruntime-node in-process on the model the scorer serves: rows/s for runs of 1 and 100 rows,
// one intra-op thread, as the scorer runs it. Prints JSON.
import { readFileSync } from 'node:fs';
import { createSession, feedsFor } from '../../operator/src/export/onnx-runner.js';
import type { EncodedRow } from '../../operator/src/features/transform.js';
import { inputSchema } from '../../operator/src/features/schema.js';

const [modelDir, rowsFile, seconds] = process.argv.slice(2) as [string, string, string];
const schema = inputSchema.parse(JSON.parse(readFileSync(`${modelDir}/input-schema.json`, 'utf8')));
const rows: EncodedRow[] = JSON.parse(readFileSync(rowsFile, 'utf8')).map((r: (number | string | null)[]) => r.map((v) => (v === null ? Number.NaN : v)));
const session = await createSession(readFileSync(`${modelDir}/model.onnx`), { threads: 1 });
const out: Record<string, number> = {};
for (const batch of [1, 100]) {
  const batches: EncodedRow[][] = [];
  for (let i = 0; i < rows.length; i += batch) batches.push(rows.slice(i, i + batch));
  let done = 0;
  let k = 0;
  const start = performance.now();
  while (performance.now() - start < Number(seconds) * 1000) {
    // Tensors are built per run, as any caller of the library must.
    await session.run(feedsFor(schema.inputs, batches[k++ % batches.length]!));
    done += batch;
  }
  out[`batch${batch}`] = done / ((performance.now() - start) / 1000);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
