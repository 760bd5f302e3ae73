import { describe, expect, it } from '@jest/globals';
import { parseCron } from './cron.js';

const at = (iso: string) => new Date(iso);

// [expression, from, next after `from`]
const nextCases: [string, string, string][] = [
  ['* * * * *', '2026-11-23T10:00:30Z', '2026-11-23T10:01:00Z'],
  ['* * * * *', '2026-11-23T10:00:00Z', '2026-11-23T10:01:00Z'],
  ['*/5 * * * *', '2026-11-23T10:02:00Z', '2026-11-23T10:05:00Z'],
  ['*/5 * * * *', '2026-11-23T10:55:00Z', '2026-11-23T11:00:00Z'],
  ['0 3 * * *', '2026-11-23T03:00:00Z', '2026-11-24T03:00:00Z'],
  ['0 3 * * *', '2026-12-31T04:00:00Z', '2027-01-01T03:00:00Z'],
  ['15,45 9-17/4 * * *', '2026-11-23T09:20:00Z', '2026-11-23T09:45:00Z'],
  ['15,45 9-17/4 * * *', '2026-11-23T09:45:00Z', '2026-11-23T13:15:00Z'],
  ['5/20 * * * *', '2026-11-23T10:26:00Z', '2026-11-23T10:45:00Z'],
  ['0 0 * * MON-FRI', '2026-11-21T12:00:00Z', '2026-11-23T00:00:00Z'], // Saturday → Monday
  ['0 0 * * 7', '2026-11-23T00:00:00Z', '2026-11-29T00:00:00Z'], // 7 is Sunday
  ['0 0 1 jan,Jul *', '2026-02-01T00:00:00Z', '2026-07-01T00:00:00Z'],
  ['0 0 31 * *', '2026-04-01T00:00:00Z', '2026-05-31T00:00:00Z'], // April has no 31st
  ['0 0 29 2 *', '2026-03-01T00:00:00Z', '2028-02-29T00:00:00Z'],
  ['0 0 29 2 *', '2096-03-01T00:00:00Z', '2104-02-29T00:00:00Z'], // 2100 is not a leap year
  // Both day fields restricted: either matches (the 1st, or any Monday).
  ['0 0 1 * MON', '2026-11-24T00:00:00Z', '2026-11-30T00:00:00Z'],
  ['0 0 1 * MON', '2026-11-30T00:00:00Z', '2026-12-01T00:00:00Z'],
  // Day of month with a star day of week: only the day of month counts.
  ['0 0 13 * *', '2026-11-23T00:00:00Z', '2026-12-13T00:00:00Z'],
  ['0 0 13 * */1', '2026-11-23T00:00:00Z', '2026-12-13T00:00:00Z'],
  ['@hourly', '2026-11-23T10:00:00Z', '2026-11-23T11:00:00Z'],
  ['@daily', '2026-11-23T10:00:00Z', '2026-11-24T00:00:00Z'],
  ['@midnight', '2026-11-23T10:00:00Z', '2026-11-24T00:00:00Z'],
  ['@weekly', '2026-11-23T10:00:00Z', '2026-11-29T00:00:00Z'],
  ['@monthly', '2026-11-23T10:00:00Z', '2026-12-01T00:00:00Z'],
  ['@yearly', '2026-11-23T10:00:00Z', '2027-01-01T00:00:00Z'],
  ['@annually', '2026-11-23T10:00:00Z', '2027-01-01T00:00:00Z'],
  ['  0   3 * * *  ', '2026-11-23T00:00:00Z', '2026-11-23T03:00:00Z'],
];

// [expression, at, last match at or before `at`]
const prevCases: [string, string, string][] = [
  ['*/5 * * * *', '2026-11-23T10:07:59Z', '2026-11-23T10:05:00Z'],
  ['*/5 * * * *', '2026-11-23T10:05:00Z', '2026-11-23T10:05:00Z'],
  ['0 3 * * *', '2026-11-23T02:59:00Z', '2026-11-22T03:00:00Z'],
  ['0 3 * * *', '2026-01-01T00:00:00Z', '2025-12-31T03:00:00Z'],
  ['0 0 31 * *', '2026-05-01T00:00:00Z', '2026-03-31T00:00:00Z'],
  ['0 0 29 2 *', '2027-01-01T00:00:00Z', '2024-02-29T00:00:00Z'],
  ['30 */6 * * SAT', '2026-11-23T10:00:00Z', '2026-11-21T18:30:00Z'],
  ['@monthly', '2026-11-23T10:00:00Z', '2026-11-01T00:00:00Z'],
];

const invalid: [string, RegExp][] = [
  ['61 * * * *', /minute 61 is out of range 0-59/],
  ['* 24 * * *', /hour 24 is out of range 0-23/],
  ['* * 0 * *', /day of month 0 is out of range 1-31/],
  ['* * * 13 *', /month 13 is out of range 1-12/],
  ['* * * * 8', /day of week 8 is out of range 0-7/],
  ['* * * foo *', /month "foo" is not a number or a name such as JAN/],
  ['*/0 * * * *', /step "0" must be a positive number/],
  ['30-10 * * * *', /range 30-10 runs backwards/],
  ['1-2-3 * * * *', /not a range/],
  ['1,,2 * * * *', /minute "" is not a value/],
  ['* * * *', /has 4 fields; a cron schedule has 5/],
  ['@every 5m', /unknown macro @every 5m/],
  ['0 0 30 2 *', /never fires/],
];

describe('parseCron', () => {
  it.each(nextCases)('next of %j after %s is %s', (expression, from, want) => {
    expect(parseCron(expression).next(at(from))?.toISOString()).toBe(at(want).toISOString());
  });

  it.each(prevCases)('prev of %j at %s is %s', (expression, from, want) => {
    expect(parseCron(expression).prev(at(from))?.toISOString()).toBe(at(want).toISOString());
  });

  it.each(invalid)('rejects %j', (expression, message) => {
    expect(() => parseCron(expression)).toThrow(message);
  });

  it('next and prev agree: walking forward from a match and back again lands on it', () => {
    const cron = parseCron('7,37 */3 1-10 * 1-5');
    let t = at('2026-01-01T00:00:00Z');
    for (let i = 0; i < 200; i++) {
      const next = cron.next(t)!;
      expect(cron.prev(new Date(next.getTime() + 59_999))!.toISOString()).toBe(next.toISOString());
      expect(cron.prev(new Date(next.getTime() - 1))!.getTime()).toBeLessThan(next.getTime());
      t = next;
    }
  });
});
