import { describe, expect, it } from '@jest/globals';
import { parseCron } from './cron.js';
import { planSchedule, type ScheduleInput, type ScheduledRun } from './schedule.js';

const at = (iso: string) => new Date(iso);
const run = (name: string, time: string, finished = true): ScheduledRun => ({ name, scheduledTime: at(time), finished });
const base: ScheduleInput = {
  cron: parseCron('*/5 * * * *'),
  concurrencyPolicy: 'Forbid',
  runs: [],
  createdTime: at('2026-11-23T09:58:00Z'),
  now: at('2026-11-23T09:59:00Z'),
};

const iso = (d: Date | undefined) => d?.toISOString().replace('.000', '');

const cases: [string, Partial<ScheduleInput>, { start?: string; waiting?: string; replace?: string[]; prune?: string[]; next?: string; last?: string }][] = [
  ['nothing due before the first scheduled time', {}, { next: '2026-11-23T10:00:00Z' }],
  ['due at the scheduled minute', { now: at('2026-11-23T10:00:00Z') }, { start: '2026-11-23T10:00:00Z', next: '2026-11-23T10:05:00Z' }],
  ['no run for a time before creation', { createdTime: at('2026-11-23T10:00:30Z'), now: at('2026-11-23T10:01:00Z') }, { next: '2026-11-23T10:05:00Z' }],
  ['already started for that time', { now: at('2026-11-23T10:02:00Z'), runs: [run('a', '2026-11-23T10:00:00Z', false)] }, { last: '2026-11-23T10:00:00Z' }],
  [
    'only the most recent missed time runs',
    { now: at('2026-11-23T10:17:00Z'), runs: [run('a', '2026-11-23T10:00:00Z')] },
    { start: '2026-11-23T10:15:00Z', last: '2026-11-23T10:00:00Z', next: '2026-11-23T10:20:00Z' },
  ],
  ['Forbid holds a due run while one is active', { now: at('2026-11-23T10:05:00Z'), runs: [run('a', '2026-11-23T10:00:00Z', false)] }, { waiting: '2026-11-23T10:05:00Z', last: '2026-11-23T10:00:00Z' }],
  ['Forbid runs it late once the active one finished', { now: at('2026-11-23T10:07:00Z'), runs: [run('a', '2026-11-23T10:00:00Z')] }, { start: '2026-11-23T10:05:00Z', last: '2026-11-23T10:00:00Z' }],
  ['Allow starts beside an active run', { concurrencyPolicy: 'Allow', now: at('2026-11-23T10:05:00Z'), runs: [run('a', '2026-11-23T10:00:00Z', false)] }, { start: '2026-11-23T10:05:00Z', replace: [], last: '2026-11-23T10:00:00Z' }],
  [
    'Replace deletes the active runs and starts',
    { concurrencyPolicy: 'Replace', now: at('2026-11-23T10:05:00Z'), runs: [run('a', '2026-11-23T10:00:00Z', false), run('b', '2026-11-23T09:55:00Z', true)] },
    { start: '2026-11-23T10:05:00Z', replace: ['a'], last: '2026-11-23T10:00:00Z' },
  ],
  [
    'status.lastScheduleTime counts when its Job is gone',
    { now: at('2026-11-23T10:02:00Z'), lastScheduleTime: at('2026-11-23T10:00:00Z') },
    { last: '2026-11-23T10:00:00Z', next: '2026-11-23T10:05:00Z' },
  ],
  [
    'keeps the newest three finished runs, deletes older ones, never an active one',
    {
      now: at('2026-11-23T10:27:00Z'),
      concurrencyPolicy: 'Allow',
      runs: [
        run('r0', '2026-11-23T10:00:00Z'),
        run('r4', '2026-11-23T10:20:00Z'),
        run('r1', '2026-11-23T10:05:00Z', false),
        run('r2', '2026-11-23T10:10:00Z'),
        run('r5', '2026-11-23T10:25:00Z'),
        run('r3', '2026-11-23T10:15:00Z'),
      ],
    },
    { prune: ['r0', 'r2'], last: '2026-11-23T10:25:00Z' },
  ],
];

describe('planSchedule', () => {
  it.each(cases)('%s', (_title, input, want) => {
    const plan = planSchedule({ ...base, ...input });
    expect(iso(plan.start)).toBe(want.start);
    expect(iso(plan.waiting)).toBe(want.waiting);
    expect(plan.replace).toEqual(want.replace ?? []);
    expect(plan.prune).toEqual(want.prune ?? []);
    if (want.next) expect(iso(plan.next)).toBe(want.next);
    expect(iso(plan.lastScheduleTime)).toBe(want.last);
  });
});
