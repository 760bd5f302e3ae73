// The test control plane itself: starts fast from cached binaries, runs Jobs through the real
// controllers, and leaves no process behind even when its parent is SIGKILLed.
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import * as k8s from '@kubernetes/client-node';
import { sweepStaleControlPlanes } from '../../operator/src/local/control-plane.js';
import { createNamespace, repoRoot, testKubeConfig } from '../support/cluster.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('control plane', () => {
  it('starts with the scheduler in under 20 s, and a SIGKILLed parent leaves no process or directory', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/hold-control-plane.ts', '--scheduler'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ORCHARD_KEEP_CONTROL_PLANE_DIR: '' },
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`control plane holder exited with ${code}`)));
    });
    const { startMs, pids, dir } = JSON.parse(line) as { startMs: number; pids: number[]; dir: string };
    expect(pids).toHaveLength(4); // etcd, kube-apiserver, kube-controller-manager, kube-scheduler
    expect(startMs).toBeLessThan(20_000);
    expect(pids.every(alive)).toBe(true);

    child.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(pids.filter(alive)).toEqual([]);
    // Only its files remain, and the next start (or this sweep) removes them.
    expect(existsSync(dir)).toBe(true);
    expect(sweepStaleControlPlanes()).toContain(dir);
    expect(existsSync(dir)).toBe(false);
  });

  it('runs the real Job controller: a Job gets its Pod', async () => {
    const kc = testKubeConfig();
    const namespace = await createNamespace(kc, 'jobs');
    const batch = kc.makeApiClient(k8s.BatchV1Api);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await batch.createNamespacedJob({
      namespace,
      body: {
        metadata: { name: 'probe' },
        spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox', command: ['true'] }] } } },
      },
    });
    let pods: k8s.V1Pod[] = [];
    for (let i = 0; i < 100 && pods.length === 0; i++) {
      pods = (await core.listNamespacedPod({ namespace, labelSelector: 'job-name=probe' })).items;
      if (pods.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(pods).toHaveLength(1);
    expect(pods[0]!.metadata!.ownerReferences?.[0]?.kind).toBe('Job');
  });
});
