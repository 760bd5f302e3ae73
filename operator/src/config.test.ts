import { describe, expect, it } from '@jest/globals';
import { loadConfig, scorerAutoscalingDefault, watchScopes } from './config.js';

const base = { ORCHARD_IMAGE: 'orchard-runtime:1', ORCHARD_ARTIFACT_ROOT: 'gs://bucket/runs' };

describe('the namespaces the operator watches', () => {
  it.each([
    ['all namespaces by default', {}, [], [undefined]],
    ['one namespace', { ORCHARD_NAMESPACE: 'team-a' }, [], ['team-a']],
    ['a list (the chart in Namespaces mode)', { ORCHARD_NAMESPACES: 'team-a, team-b,,team-a' }, [], ['team-a', 'team-b']],
    ['a list overrides the one namespace', { ORCHARD_NAMESPACE: 'x', ORCHARD_NAMESPACES: 'team-a' }, [], ['team-a']],
    ['the flag over the environment', { ORCHARD_NAMESPACES: 'team-a' }, ['--namespaces', 'team-b,team-c'], ['team-b', 'team-c']],
  ])('%s', (_, env, argv, scopes) => {
    expect(watchScopes(loadConfig(argv as string[], { ...base, ...env }))).toEqual(scopes);
  });
});

describe('what training Pods may read', () => {
  it('takes comma-separated roots and hosts, none by default', () => {
    expect(loadConfig([], base)).toMatchObject({ trainerFileRoots: [], trainerSourceHosts: [] });
    const config = loadConfig(['--trainer-source-hosts', 'data.example.com, *.storage.example.com'], { ...base, ORCHARD_TRAINER_FILE_ROOTS: '/mnt/a,/mnt/b' });
    expect(config).toMatchObject({ trainerFileRoots: ['/mnt/a', '/mnt/b'], trainerSourceHosts: ['data.example.com', '*.storage.example.com'] });
  });

  it.each([
    [{ ORCHARD_TRAINER_FILE_ROOTS: 'data' }, /^--trainer-file-roots \(or ORCHARD_TRAINER_FILE_ROOTS\): must be comma-separated absolute paths/],
    [{ ORCHARD_TRAINER_SOURCE_HOSTS: 'https://data.example.com/' }, /^--trainer-source-hosts \(or ORCHARD_TRAINER_SOURCE_HOSTS\): must be comma-separated host names/],
  ])('refuses %j with the flag in the message', (env, message) => {
    expect(() => loadConfig([], { ...base, ...env })).toThrow(message);
  });
});

describe('the default autoscaling of scoring Deployments', () => {
  it.each([
    ['off by default', {}, [], undefined],
    ['on with the defaults', { ORCHARD_SCORER_AUTOSCALING: 'true' }, [], { minReplicas: 1, maxReplicas: 5, targetCPUUtilizationPercentage: 70 }],
    [
      'on with the values the chart passes',
      { ORCHARD_SCORER_AUTOSCALING: 'true', ORCHARD_SCORER_MIN_REPLICAS: '2', ORCHARD_SCORER_MAX_REPLICAS: '8', ORCHARD_SCORER_TARGET_CPU_UTILIZATION_PERCENTAGE: '60' },
      [],
      { minReplicas: 2, maxReplicas: 8, targetCPUUtilizationPercentage: 60 },
    ],
    ['the flags over the environment', { ORCHARD_SCORER_AUTOSCALING: 'false', ORCHARD_SCORER_MAX_REPLICAS: '8' }, ['--scorer-autoscaling', 'true', '--scorer-max-replicas', '3'], { minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 70 }],
    ['values without the switch do nothing', { ORCHARD_SCORER_MAX_REPLICAS: '8' }, [], undefined],
  ])('%s', (_, env, argv, expected) => {
    expect(scorerAutoscalingDefault(loadConfig(argv as string[], { ...base, ...env }))).toEqual(expected);
  });

  it.each([
    [{ ORCHARD_SCORER_MIN_REPLICAS: '6' }, /^--scorer-min-replicas \(or ORCHARD_SCORER_MIN_REPLICAS\): must not exceed --scorer-max-replicas \(5\)$/],
    [{ ORCHARD_SCORER_MIN_REPLICAS: '0' }, /^--scorer-min-replicas \(or ORCHARD_SCORER_MIN_REPLICAS\): /],
    [{ ORCHARD_SCORER_MAX_REPLICAS: '1001' }, /^--scorer-max-replicas /],
    [{ ORCHARD_SCORER_TARGET_CPU_UTILIZATION_PERCENTAGE: '101' }, /^--scorer-target-cpu-utilization-percentage /],
    [{ ORCHARD_SCORER_AUTOSCALING: 'yes' }, /^--scorer-autoscaling /],
  ])('refuses %j with the flag in the message', (env, message) => {
    expect(() => loadConfig([], { ...base, ORCHARD_SCORER_AUTOSCALING: 'true', ...env })).toThrow(message);
  });
});
