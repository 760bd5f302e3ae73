// The main job, test-sized: its own control plane with kube-scheduler, the node agent running the
// Pods as processes, the operator, and the salaries story from training to batch scoring. Every
// step's outcome is read back from the API server (and the scoring endpoints over HTTP).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestJson } from '../../operator/src/kube/client.js';
import { runStory, type StoryResult } from '../../operator/src/local/story.js';
import { repoRoot } from '../support/cluster.js';

const API = '/apis/orchard.dev/v1alpha1/namespaces/default';
/** Not npm start's default range, so a story running beside the tests is not disturbed. */
const POD_ADDRESSES = '198.18.78.0/24';
let stateDir: string;
let story: StoryResult | undefined;
const lines: string[] = [];

/** Processes whose command line or environment mentions the story's directory: Pods (TMPDIR is a Pod volume), and the control plane. */
function processesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (cmdline.includes(dir) || environ.includes(dir)) found.push(`${pid} ${cmdline.slice(0, 200)}`);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** `npm start` in stateDir, SIGKILLed once its first training run is under way. */
async function startAndKill(): Promise<{ output: string; leftAfterKill: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'operator/src/local/cli.ts'), '--small'], {
    env: { ...process.env, ORCHARD_LOCAL_DIR: stateDir, ORCHARD_POD_ADDRESSES: POD_ADDRESSES },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const training = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      output += d;
      if (/TrainingRun salaries-2023: Training/.test(output)) resolve();
    });
    child.stderr.on('data', (d) => (output += d));
    child.once('exit', () => reject(new Error(`npm start exited before training:\n${output}`)));
  });
  await training;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  return { output, leftAfterKill: await processesLeft() };
}

/** The processes still running under the state directory once they are gone, or after 10 s. */
async function processesLeft(): Promise<ReturnType<typeof processesUnder>> {
  const deadline = Date.now() + 10_000;
  while (processesUnder(stateDir).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  return processesUnder(stateDir);
}

let killed: Awaited<ReturnType<typeof startAndKill>>;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'orchard-story-'));
  try {
    // Killed at the worst time first: the run after it must work all the same.
    killed = await startAndKill();
    await rm(stateDir, { recursive: true, force: true });
    story = await runStory({ root: repoRoot, stateDir, small: true, podAddresses: POD_ADDRESSES, say: (l) => lines.push(l) });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- the story so far ---\n${lines.join('\n')}`, { cause: err });
  }
}, 10 * 60_000);

afterAll(async () => {
  await story?.stop();
  await rm(stateDir, { recursive: true, force: true });
}, 60_000);

describe('the local story, test-sized', () => {
  it('trained version 1 on data up to 2023 and served it', async () => {
    const run = await requestJson(story!.kc, 'GET', `${API}/trainingruns/salaries-2023`);
    expect(run.status.conditions.find((c: any) => c.type === 'Succeeded')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(run.status.registeredVersion).toBe(1);
    expect(run.status.artifacts.onnx).toMatch(/^file:\/\/.*model\.onnx$/);
    const model = await requestJson(story!.kc, 'GET', `${API}/registeredmodels/salaries`);
    expect(model.status.versions[0]).toMatchObject({ version: 1, trainingRun: 'salaries-2023' });
    expect(model.status.promotions[0]).toMatchObject({ version: 1, alias: 'Champion', reason: 'FirstVersion' });
  });

  it('scored 2024 traffic through the Service endpoints without a failed request', async () => {
    if (!story!.podAddresses.loopback) {
      // Pods on a local non-loopback range are in their Service's EndpointSlice, as on a cluster.
      const slices = await requestJson(story!.kc, 'GET', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=${encodeURIComponent('kubernetes.io/service-name=salaries-scorer')}`);
      const ready = slices.items.flatMap((s: any) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready).flatMap((e: any) => e.addresses));
      expect(ready.length).toBe(2);
      for (const ip of ready) expect(ip.startsWith(POD_ADDRESSES.replace(/\.0\/24$/, '.'))).toBe(true);
    }
    const { serving } = story!.summary;
    expect(serving.requests).toBeGreaterThan(0);
    expect(serving.failed).toBe(0);
    expect(serving.byVersion['1']).toBeGreaterThan(0);
  });

  it('detected drift on features that really shifted, and retrained on the recent rows', async () => {
    const model = await requestJson(story!.kc, 'GET', `${API}/registeredmodels/salaries`);
    expect(model.status.conditions.find((c: any) => c.type === 'Drifted')?.status).toBe('True');
    const drifted = model.status.drift.features.filter((f: any) => f.drifted).map((f: any) => f.name);
    // 2024 is a year the model never saw, and the survey's population moved (see the drift test on real data).
    expect(drifted).toContain('work_year');
    const retrain = await requestJson(story!.kc, 'GET', `${API}/trainingruns/${model.status.lastRetrainRun}`);
    expect(retrain.metadata.labels['orchard.dev/retrain-of']).toBe('salaries');
    expect(retrain.spec.data.filters).toEqual([{ column: 'work_year', max: '2024' }]);
    expect(retrain.status.conditions.find((c: any) => c.type === 'Succeeded')?.status).toBe('True');
  });

  it("decided on version 2 against version 1 on version 2's test rows, and rolled out without a failed request", async () => {
    const model = await requestJson(story!.kc, 'GET', `${API}/registeredmodels/salaries`);
    const v2 = model.status.versions.find((v: any) => v.version === 2);
    expect(v2.comparison.version).toBe(1);
    const rmse = (x: string) => Number(x);
    const promotion = model.status.promotions.find((p: any) => p.version === 2);
    const better = rmse(v2.metrics.RMSE) < rmse(v2.comparison.metrics.RMSE) * (1 - Number(model.spec.promotion.minImprovement));
    expect(promotion).toMatchObject(better ? { alias: 'Champion', reason: 'BeatChampion' } : { alias: 'Challenger', reason: 'DidNotBeatChampion' });
    if (better) {
      expect(model.status.serving.servedVersion).toBe(2);
      expect(story!.summary.rollout).toMatchObject({ from: 1, to: 2, failed: 0 });
      expect(story!.summary.rollout!.requests).toBeGreaterThan(10);
    }
  });

  it('batch-scored the file with the champion and reported rows, throughput and metrics', async () => {
    const sj = await requestJson(story!.kc, 'GET', `${API}/scoringjobs/salaries-2024`);
    expect(sj.status.conditions.find((c: any) => c.type === 'Succeeded')?.status).toBe('True');
    expect(sj.status.rowsScored).toBeGreaterThan(70_000);
    expect(sj.status.rowsPerSecond).toBeGreaterThan(0);
    expect(Number(sj.status.metrics.RMSE)).toBeGreaterThan(0);
  });

  it('left no process behind when killed with SIGKILL during training, and the next run worked', () => {
    expect(killed.output).toContain('TrainingRun salaries-2023: Training');
    expect(killed.leftAfterKill).toEqual([]);
  });

  it('leaves no process behind when stopped', async () => {
    expect(processesUnder(stateDir).length).toBeGreaterThan(0);
    await story!.stop();
    expect(await processesLeft()).toEqual([]);
  });
});
