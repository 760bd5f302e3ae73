import { describe, expect, it } from '@jest/globals';
import { orchardRuntimeImage, resolveExecutable } from './images.js';
import { containerEnv, planProcess, type Pod } from './pod-spec.js';
import { expandReferences, mapPath, rewriteValue } from './rewrite.js';

const paths = {
  '/app': '/repo',
  '/opt/orchard/data': '/repo/data',
  '/work': '/state/pod/volumes/work',
  '/tmp': '/state/pod/volumes/tmp',
  '/dev/termination-log': '/state/pod/containers/c/termination-log',
  '/repo': '/repo',
};
const ctx = { paths, podIP: '127.0.0.7' };

describe('rewriting image paths and loopback URLs', () => {
  const cases: [string, string, string][] = [
    ['a mount path', '/work', '/state/pod/volumes/work'],
    ['inside a mount', '/work/prepared', '/state/pod/volumes/work/prepared'],
    ['a sibling is not inside', '/workshop', '/workshop'],
    ['an image directory', '/app/images/trainer/orchard_trainer.py', '/repo/images/trainer/orchard_trainer.py'],
    ['the longest prefix wins', '/opt/orchard/data/x.csv', '/repo/data/x.csv'],
    ['the termination message file', '/dev/termination-log', '/state/pod/containers/c/termination-log'],
    ['a shared host path stays', '/repo/.orchard/artifacts', '/repo/.orchard/artifacts'],
    ['a flag with =', '--work=/work/x', '--work=/state/pod/volumes/work/x'],
    ['file:// URIs anywhere', 'read file:///opt/orchard/data/a.csv and file:///elsewhere/b.csv', 'read file:///repo/data/a.csv and file:///elsewhere/b.csv'],
    ['loopback URLs go to the Pod', 'http://127.0.0.1:9091/v1/blocks', 'http://127.0.0.7:9091/v1/blocks'],
    ['localhost too', 'https://localhost/x', 'https://127.0.0.7/x'],
    ['not a longer host name', 'http://localhost.example.com/', 'http://localhost.example.com/'],
    ['not another address', 'http://127.0.0.10:80/', 'http://127.0.0.10:80/'],
    ['not without a scheme', '127.0.0.1:9091', '127.0.0.1:9091'],
    ['plain words stay', 'prepare', 'prepare'],
  ];
  it.each(cases)('%s', (_name, value, expected) => expect(rewriteValue(value, ctx)).toBe(expected));

  it('rewrites the strings inside a JSON value', () => {
    const spec = { data: { source: { uri: 'file:///opt/orchard/data/s.csv' } }, workDir: '/work', port: 9091, driftUrl: 'http://127.0.0.1:9091/v1/blocks' };
    expect(JSON.parse(rewriteValue(JSON.stringify(spec), ctx))).toEqual({
      data: { source: { uri: 'file:///repo/data/s.csv' } },
      workDir: '/state/pod/volumes/work',
      port: 9091,
      driftUrl: 'http://127.0.0.7:9091/v1/blocks',
    });
  });

  it('leaves text that only looks like JSON as written', () => expect(rewriteValue('{not json /work', ctx)).toBe('{not json /work'));

  it('maps no path outside the table', () => expect(mapPath('/etc/hosts', paths)).toBeUndefined());

  it('expands $(VAR) references, keeps unknown ones and $$ escapes', () => {
    expect(expandReferences('$(A)/x $(MISSING) $$(A) $$', { A: 'a' })).toBe('a/x $(MISSING) $(A) $');
  });
});

describe('the process of an Orchard container', () => {
  const image = orchardRuntimeImage('/repo', { ORCHARD_CACHE: '/cache' });
  const pod: Pod = {
    metadata: { name: 'p', namespace: 'ml', uid: 'u1', annotations: { 'batch.kubernetes.io/job-completion-index': '3' } },
    spec: { containers: [] },
  };

  it('runs `orchard` as the image entrypoint does: this Node.js with tsx, from the checkout', () => {
    expect(resolveExecutable(image, 'orchard')).toEqual([process.execPath, '--import', '/app/node_modules/tsx/dist/loader.mjs', '/app/operator/src/training/cli.ts']);
    expect(resolveExecutable(image, 'bash')).toBeUndefined();
  });

  it('maps command, args, the image ENV and the Pod env', () => {
    const container = {
      name: 'publish',
      image: 'ghcr.io/orchard/orchard:1.0.0',
      command: ['orchard'],
      args: ['publish', '--work', '/work', '--to', '$(OUT)'],
      env: [
        { name: 'OUT', value: 'file:///tmp/out/' },
        { name: 'ORCHARD_TERMINATION_MESSAGE_PATH', value: '/dev/termination-log' },
        { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } },
      ],
    };
    const env = containerEnv(pod, container, image, { configMaps: new Map(), secrets: new Map() }, { podIP: '127.0.0.7', hostIP: '127.0.0.1' });
    const plan = planProcess({ container, image, env, paths: { ...image.paths, ...paths }, podIP: '127.0.0.7', podName: 'p', hostPath: '/usr/bin:/bin' });
    expect(plan.argv).toEqual([process.execPath, '--import', '/repo/node_modules/tsx/dist/loader.mjs', '/repo/operator/src/training/cli.ts', 'publish', '--work', '/state/pod/volumes/work', '--to', 'file:///state/pod/volumes/tmp/out/']);
    expect(plan.cwd).toBe('/repo');
    expect(plan.env).toMatchObject({
      PATH: '/usr/bin:/bin',
      HOSTNAME: 'p',
      HOME: '/state/pod/volumes/tmp',
      TMPDIR: '/state/pod/volumes/tmp',
      ORCHARD_PYTHON: '/cache/venv/bin/python',
      ORCHARD_TRAINER_SCRIPT: '/repo/images/trainer/orchard_trainer.py',
      ORCHARD_TERMINATION_MESSAGE_PATH: '/state/pod/containers/c/termination-log',
      ORCHARD_LISTEN_ADDRESS: '127.0.0.7',
      JOB_COMPLETION_INDEX: '3',
    });
  });

  it('names a missing ConfigMap key as the kubelet does', () => {
    const container = { name: 'c', image: 'orchard', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] };
    const lookups = { configMaps: new Map([['cfg', { other: 'v' }]]), secrets: new Map() };
    expect(() => containerEnv(pod, container, image, lookups, { podIP: '', hostIP: '' })).toThrow("couldn't find key k in ConfigMap ml/cfg");
  });
});
