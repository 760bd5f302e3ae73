import { describe, expect, it } from '@jest/globals';
import { loadConfig, watchScopes } from './config.js';

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
