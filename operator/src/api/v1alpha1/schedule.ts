// A cron schedule, checked field by field at admission as the ScoringJob controller's parser
// (controllers/scoring-job/cron.ts, after robfig/cron) reads it: a schedule admitted here parses there.
import { z } from 'zod';
import { celString, withRules } from './common.js';

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

// RE2 and JavaScript share no inline case-insensitive flag, so names are spelt [jJ][aA][nN].
const anyCase = (word: string): string => [...word].map((c) => `[${c}${c.toUpperCase()}]`).join('');

/** One cron field: "*", "?", a value or a range, with an optional step, in a comma-separated list. */
function field(value: string): string {
  const item = `([*?]|(${value})(-(${value}))?)(/0*[1-9][0-9]*)?`;
  return `${item}(,${item})*`;
}

const FIELDS = [
  '0*[1-5]?[0-9]', // minute 0-59
  '0*(1?[0-9]|2[0-3])', // hour 0-23
  '0*([1-9]|[12][0-9]|3[01])', // day of month 1-31
  `0*([1-9]|1[0-2])|${MONTHS.map(anyCase).join('|')}`, // month 1-12 or JAN-DEC
  `0*[0-7]|${DAYS.map(anyCase).join('|')}`, // day of week 0-7 (7 is Sunday) or SUN-SAT
];

const MACROS = ['yearly', 'annually', 'monthly', 'weekly', 'daily', 'midnight', 'hourly'];

// Macros in any case, as the scheduler reads them.
const CRON = `^(@(${MACROS.map(anyCase).join('|')})|${FIELDS.map(field).join('[ \\t]+')})$`;
const cronRe = new RegExp(CRON);

// A range's ends, found anywhere in the expression: the grammar above already says which field
// each is in and that it is in range, so what is left is whether the range runs forwards. Ends
// that are neither a short number nor a name are the grammar's to report.
const RANGE = '[0-9A-Za-z]+-[0-9A-Za-z]+';
const NAME_VALUES: Record<string, number> = Object.fromEntries([...MONTHS.map((m, i) => [m, i + 1]), ...DAYS.map((d, i) => [d, i])]);
const celNames = `{${Object.entries(NAME_VALUES).map(([k, v]) => `${celString(k)}: ${v}`).join(', ')}}`;
const celKnown = (end: string): string => `(${end}.matches('^[0-9]{1,9}$') || ${end}.lowerAscii() in ${celNames})`;
const celValue = (end: string): string => `(${end}.matches('^[0-9]{1,9}$') ? int(${end}) : ${celNames}[${end}.lowerAscii()])`;
const valueOf = (end: string): number | undefined =>
  /^[0-9]{1,9}$/.test(end) ? Number(end) : Object.hasOwn(NAME_VALUES, end.toLowerCase()) ? NAME_VALUES[end.toLowerCase()] : undefined;

export const SCHEDULE_MESSAGE =
  'must be a cron expression of 5 fields separated by spaces (minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, ' +
  'day of week 0-7 or SUN-SAT; each field "*", a value, a range such as 1-5 or a list such as 1,15, with an optional step such as "*/15"), ' +
  'or a macro such as "@daily", e.g. "0 3 * * *"';

export const schedule = withRules(z.string().max(128), [
  { rule: `self.matches(${celString(CRON)})`, message: SCHEDULE_MESSAGE, check: (s) => cronRe.test(s) },
  {
    rule:
      `self.findAll(${celString(RANGE)}).all(r, ` +
      `!${celKnown("r.split('-')[0]")} || !${celKnown("r.split('-')[1]")} || ${celValue("r.split('-')[0]")} <= ${celValue("r.split('-')[1]")})`,
    message: 'has a range that runs backwards, such as "30-10" or "FRI-MON": write the smaller end first',
    check: (s) =>
      [...s.matchAll(new RegExp(RANGE, 'g'))].every(([r]) => {
        const [low, high] = r.split('-').map(valueOf) as [number | undefined, number | undefined];
        return low === undefined || high === undefined || low <= high;
      }),
  },
]);
