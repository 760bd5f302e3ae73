import { describe, expect, it } from '@jest/globals';
import { parseCron } from '../../controllers/scoring-job/cron.js';
import { schedule } from './schedule.js';

const TOKENS = ['*', '?', '0', '00', '1', '5', '7', '8', '12', '13', '23', '24', '31', '32', '59', '60', '1-5', '5-1', '5-5', '*/15', '*/0', '5/15', '0-59/30',
  '1,15', '1,,2', 'jan', 'DEC', 'Mar-May', 'dec-jan', 'mon-fri', 'FRI-MON', 'sun', 'sat', 'x', '1-', '-1', '1--2', '1/2/3', 'L', '3#2', '1-jan'];

const scheduler = (expr: string): 'runs' | 'never fires' | 'refused' => {
  try {
    parseCron(expr);
    return 'runs';
  } catch (err) {
    return (err as Error).message.includes('never fires') ? 'never fires' : 'refused';
  }
};

describe('schedule: admission and the scheduler read cron alike', () => {
  // Every token in every field, the others "*": each field's grammar against the scheduler's parser.
  const cases = [0, 1, 2, 3, 4].flatMap((field) => TOKENS.map((token) => ['*', '*', '*', '*', '*'].map((t, i) => (i === field ? token : t)).join(' ')));

  it.each(cases)('%s', (expr) => {
    const admitted = schedule.safeParse(expr).success;
    const verdict = scheduler(expr);
    expect(admitted ? verdict !== 'refused' : verdict !== 'runs').toBe(true);
  });

  it.each(['@daily', '@HOURLY', '@yearly', '0 3 * * *', '0\t3 * * *'])('admits %s', (expr) => {
    expect(schedule.safeParse(expr).success).toBe(true);
  });

  it('names no range that runs backwards in a string the grammar already refuses, as CEL does not', () => {
    expect(schedule.safeParse('constructor-x * * * *').error?.issues.map((i) => i.message)).toHaveLength(1);
  });

  it.each(['', '@every 1h', '@reboot', ' 0 3 * * *', '0 3 * * * ', '* * * *', '* * * * * *', 'a b c d e'])('refuses %j', (expr) => {
    expect(schedule.safeParse(expr).success).toBe(false);
  });
});
