// Pure: 5-field cron expressions and the @macros spec.schedule accepts, evaluated in UTC.
// Semantics follow robfig/cron (the parser of Kubernetes CronJobs): names (JAN, MON), ranges,
// steps ("*/15", "1-30/5", "5/15" = 5-max/15), lists, 7 as Sunday, and day-of-month OR
// day-of-week when both are restricted.

export class CronError extends Error {
  override name = 'CronError';
}

export interface CronSchedule {
  /** The first matching minute strictly after `after`; undefined if none within the search horizon. */
  next(after: Date): Date | undefined;
  /** The last matching minute at or before `at`; undefined if none within the search horizon. */
  prev(at: Date): Date | undefined;
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

interface FieldDef {
  name: string;
  min: number;
  max: number;
  names?: string[];
}

const FIELDS: FieldDef[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  // 7 is accepted as Sunday and folded to 0 below.
  { name: 'day of week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

/** Leap days come at most 8 years apart (2096 → 2104), so every valid schedule fires within 9. */
const HORIZON_YEARS = 9;
const MINUTE = 60_000;
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

interface Field {
  values: Set<number>;
  /** "*" (or "*\/1"): for day of month and day of week, an unrestricted field does not OR. */
  star: boolean;
}

function parseValue(text: string, def: FieldDef): number {
  const named = def.names?.indexOf(text.toLowerCase()) ?? -1;
  if (named >= 0) return def.min === 1 ? named + 1 : named;
  if (!/^\d+$/.test(text)) throw new CronError(`${def.name} "${text}" is not a number${def.names ? ` or a name such as ${def.names[0]!.toUpperCase()}` : ''}`);
  const value = Number(text);
  if (value < def.min || value > def.max) throw new CronError(`${def.name} ${value} is out of range ${def.min}-${def.max}`);
  return value;
}

function parseField(text: string, def: FieldDef): Field {
  const values = new Set<number>();
  let star = false;
  for (const part of text.split(',')) {
    const [range, stepText, extra] = part.split('/');
    if (extra !== undefined || range === undefined || range === '') throw new CronError(`${def.name} "${part}" is not a value, range or step`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) throw new CronError(`${def.name} step "${stepText}" must be a positive number`);
      step = Number(stepText);
    }
    let low: number;
    let high: number;
    if (range === '*' || range === '?') {
      low = def.min;
      high = def.max;
      if (step === 1) star = true;
    } else {
      const bounds = range.split('-');
      if (bounds.length > 2) throw new CronError(`${def.name} "${range}" is not a range such as 1-5`);
      low = parseValue(bounds[0]!, def);
      // "5/15" means from 5 to the end in steps of 15.
      high = bounds.length === 2 ? parseValue(bounds[1]!, def) : stepText !== undefined ? def.max : low;
      if (low > high) throw new CronError(`${def.name} range ${range} runs backwards`);
    }
    for (let v = low; v <= high; v += step) values.add(def.name === 'day of week' && v === 7 ? 0 : v);
  }
  return { values, star };
}

export function parseCron(expression: string): CronSchedule {
  const text = expression.trim();
  const expanded = text.startsWith('@') ? MACROS[text.toLowerCase()] : text;
  if (expanded === undefined) throw new CronError(`unknown macro ${text}: use one of ${Object.keys(MACROS).join(', ')}`);
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5) throw new CronError(`"${text}" has ${parts.length} fields; a cron schedule has 5 (minute hour day-of-month month day-of-week)`);
  const [minute, hour, dom, month, dow] = parts.map((p, i) => parseField(p, FIELDS[i]!)) as [Field, Field, Field, Field, Field];

  if (dow.star && !dom.star && ![...month.values].some((m) => [...dom.values].some((d) => d <= DAYS_IN_MONTH[m - 1]!))) {
    throw new CronError(`"${text}" never fires: no month in it has those days`);
  }

  const dayMatches = (t: Date): boolean => {
    const inDom = dom.values.has(t.getUTCDate());
    const inDow = dow.values.has(t.getUTCDay());
    if (dom.star || dow.star) return inDom && inDow;
    return inDom || inDow;
  };

  return {
    next(after) {
      let t = new Date(Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE);
      const lastYear = t.getUTCFullYear() + HORIZON_YEARS;
      while (t.getUTCFullYear() <= lastYear) {
        const [y, mo, d, h] = [t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate(), t.getUTCHours()];
        if (!month.values.has(mo + 1)) t = new Date(Date.UTC(y, mo + 1, 1));
        else if (!dayMatches(t)) t = new Date(Date.UTC(y, mo, d + 1));
        else if (!hour.values.has(h)) t = new Date(Date.UTC(y, mo, d, h + 1));
        else if (!minute.values.has(t.getUTCMinutes())) t = new Date(t.getTime() + MINUTE);
        else return t;
      }
      return undefined;
    },
    prev(at) {
      let t = new Date(Math.floor(at.getTime() / MINUTE) * MINUTE);
      const firstYear = t.getUTCFullYear() - HORIZON_YEARS;
      while (t.getUTCFullYear() >= firstYear) {
        const [y, mo, d, h] = [t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate(), t.getUTCHours()];
        // Step back to the last minute of the previous month, day or hour.
        if (!month.values.has(mo + 1)) t = new Date(Date.UTC(y, mo, 1) - MINUTE);
        else if (!dayMatches(t)) t = new Date(Date.UTC(y, mo, d) - MINUTE);
        else if (!hour.values.has(h)) t = new Date(Date.UTC(y, mo, d, h) - MINUTE);
        else if (!minute.values.has(t.getUTCMinutes())) t = new Date(t.getTime() - MINUTE);
        else return t;
      }
      return undefined;
    },
  };
}
