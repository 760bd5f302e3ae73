// The training pipeline on the shipped examples, with their own settings: how long each step
// takes and what the model scores. `npm run bench:training` (add `-- adult.yaml` for one).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { exampleTrainingRun } from '../test/support/examples.js';
import { runPipeline, workPaths } from '../operator/src/training/pipeline.js';

const BUDGET_SECONDS = 300;
const examples = process.argv.slice(2).length ? process.argv.slice(2) : ['adult.yaml', 'salaries.yaml', 'salaries-experience.yaml'];
const work = await mkdtemp(join(tmpdir(), 'orchard-bench-'));
console.log(`${availableParallelism()} × ${cpus()[0]?.model ?? 'cpu'}`);
const rows: string[] = [];
try {
  for (const example of examples) {
    const dir = join(work, example);
    const { seconds } = await runPipeline(
      { spec: exampleTrainingRun(example), workDir: dir, artifactUri: `file://${join(dir, 'published')}/`, producerVersion: 'bench', log: (l) => console.log(`  ${l}`) },
    );
    const { modelDir } = workPaths(dir);
    const metrics = JSON.parse(await readFile(join(modelDir, 'metrics.json'), 'utf8'));
    const exported = JSON.parse(await readFile(join(modelDir, 'export.json'), 'utf8'));
    const total = Object.values(seconds).reduce((a, b) => a + b, 0);
    const shown = Object.entries(metrics.metrics as Record<string, number>)
      .map(([k, v]) => `${k} ${v.toPrecision(4)}${metrics.baseline?.[k] !== undefined ? ` (baseline ${Number(metrics.baseline[k]).toPrecision(4)})` : ''}`)
      .join(', ');
    rows.push(
      `| ${example} | ${metrics.treeCount} | ${seconds.prepare!.toFixed(1)} / ${seconds.train!.toFixed(1)} / ${seconds.export!.toFixed(1)} / ${seconds.publish!.toFixed(1)} | ${total.toFixed(0)} s = ${((100 * total) / BUDGET_SECONDS).toFixed(0)}% of 5 min | ${Math.max(...Object.values(exported.parity.maxError as Record<string, number>)).toExponential(1)} | ${shown} |`,
    );
  }
  console.log('\n| example | trees | prepare / train / export / publish (s) | pipeline | max ONNX error | test metrics |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
} finally {
  await rm(work, { recursive: true, force: true });
}
