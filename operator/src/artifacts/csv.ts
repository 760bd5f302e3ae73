// Delimited text → Table. Works on the decoded string with indexOf and split, so a 100 MB file
// takes about a second; only records that contain a quote take the field-by-field path.
import { DataError, quoteFileText } from './errors.js';
import type { Table } from './table.js';

export interface CsvReadOptions {
  delimiter: string;
  header: 'Present' | 'Absent';
  columns?: string[] | undefined;
  naValues?: string[] | undefined;
  whitespace: 'Keep' | 'Trim';
  commentPrefix?: string | undefined;
}

const QUOTE = 34;
const LF = 10;
const CR = 13;

export function parseCsv(text: string, options: CsvReadOptions, source: string): Table {
  const { delimiter, commentPrefix } = options;
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new DataError(`${source}: csv.delimiter ${JSON.stringify(delimiter)} cannot separate cells: use one character such as "," or "\\t"`);
  }
  const trim = options.whitespace === 'Trim';
  const na = new Set(options.naValues ?? []);
  const toCell = (v: string): string | null => (v === '' || na.has(v) ? null : v);
  let columns: string[] | undefined;
  if (options.header === 'Absent') {
    if (!options.columns) throw new DataError(`${source}: csv.header is Absent but csv.columns is unset: list the column names in file order`);
    columns = options.columns;
  }
  const rows: (string | null)[][] = [];
  const n = text.length;
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 0;
  let nextQuote = text.indexOf('"', pos);
  while (pos < n) {
    line++;
    let eol = text.indexOf('\n', pos);
    if (eol === -1) eol = n;
    const end = eol > pos && text.charCodeAt(eol - 1) === CR ? eol - 1 : eol;
    if (end === pos || (commentPrefix !== undefined && text.startsWith(commentPrefix, pos))) {
      pos = eol + 1;
      continue;
    }
    const recordLine = line;
    if (nextQuote !== -1 && nextQuote < pos) nextQuote = text.indexOf('"', pos);
    let cells: string[];
    if (nextQuote === -1 || nextQuote >= end) {
      cells = text.slice(pos, end).split(delimiter);
      if (trim) for (let i = 0; i < cells.length; i++) cells[i] = trimCell(cells[i]!);
      pos = eol + 1;
    } else {
      const record = parseQuotedRecord(text, pos, delimiter, trim, source, recordLine);
      cells = record.cells;
      pos = record.next;
      line += record.newlines;
    }
    if (columns === undefined) {
      columns = checkHeader(cells, source);
      continue;
    }
    if (cells.length !== columns.length) {
      throw new DataError(
        `${source}: line ${recordLine} has ${cells.length} cells, expected ${columns.length}: the file may be truncated or use another delimiter`,
      );
    }
    const row: (string | null)[] = cells; // converted in place: one array per row
    for (let i = 0; i < row.length; i++) row[i] = toCell(cells[i]!);
    rows.push(row);
  }
  if (columns === undefined) throw new DataError(`${source} is empty: expected a header line (set csv.header to Absent and list csv.columns if it has none)`);
  return { columns, rows, source };
}

function checkHeader(names: string[], source: string): string[] {
  const seen = new Map<string, number>();
  names.forEach((name, i) => {
    const first = seen.get(name);
    if (first !== undefined) {
      throw new DataError(`${source}: column ${quoteFileText(name)} appears twice in the header (columns ${first + 1} and ${i + 1}): rename one, or set csv.header to Absent and list csv.columns`);
    }
    seen.set(name, i);
  });
  return names;
}

/**
 * One record that contains a quote (RFC 4180: "" inside quotes is a quote, quoted cells may span
 * lines). Text between a closing quote and the next delimiter is kept, as most readers do; with
 * Trim, spaces outside the quotes go and spaces inside stay.
 */
function parseQuotedRecord(
  text: string,
  start: number,
  delimiter: string,
  trim: boolean,
  source: string,
  line: number,
): { cells: string[]; next: number; newlines: number } {
  const n = text.length;
  const delim = delimiter.charCodeAt(0);
  const cells: string[] = [];
  let newlines = 0;
  let p = start;
  for (;;) {
    if (trim) while (p < n && isBlank(text.charCodeAt(p)) && text.charCodeAt(p) !== delim) p++;
    let value: string;
    if (text.charCodeAt(p) === QUOTE) {
      const parts: string[] = [];
      let s = p + 1;
      for (;;) {
        const q = text.indexOf('"', s);
        if (q === -1) {
          throw new DataError(`${source}: the quoted cell that starts on line ${line + newlines} is never closed: the file is truncated or has a stray '"'`);
        }
        parts.push(text.slice(s, q));
        if (text.charCodeAt(q + 1) === QUOTE) {
          parts.push('"');
          s = q + 2;
          continue;
        }
        p = q + 1;
        break;
      }
      value = parts.length === 1 ? parts[0]! : parts.join('');
      newlines += countNewlines(value);
      const stop = fieldEnd(text, p, delim);
      const rest = stripCr(text, p, stop);
      value += trim ? rest.trimEnd() : rest;
      p = stop;
    } else {
      const stop = fieldEnd(text, p, delim);
      value = stripCr(text, p, stop);
      if (trim) value = value.trimEnd();
      p = stop;
    }
    cells.push(value);
    if (p < n && text.charCodeAt(p) === delim) {
      p++;
      continue;
    }
    return { cells, next: p + 1, newlines };
  }
}

/** Index of the delimiter or newline that ends an unquoted stretch (or the end of the text). */
function fieldEnd(text: string, from: number, delim: number): number {
  const n = text.length;
  let p = from;
  while (p < n) {
    const c = text.charCodeAt(p);
    if (c === delim || c === LF) break;
    p++;
  }
  return p;
}

/** text[from, to) without the CR of a CRLF line ending at `to`. */
function stripCr(text: string, from: number, to: number): string {
  const crlf = to > from && text.charCodeAt(to - 1) === CR && (to === text.length || text.charCodeAt(to) === LF);
  return text.slice(from, crlf ? to - 1 : to);
}

/** String.trim, skipped when both ends are printable ASCII (most cells): no new string then. */
function trimCell(v: string): string {
  const first = v.charCodeAt(0);
  const last = v.charCodeAt(v.length - 1);
  return first > 32 && first < 127 && last > 32 && last < 127 ? v : v.trim();
}

function countNewlines(s: string): number {
  let count = 0;
  for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) count++;
  return count;
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}
