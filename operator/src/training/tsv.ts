// Reads the prepared TSV files back (export and tests): the label column and one cell per input.
import { readFile } from 'node:fs/promises';
import type { ModelInput } from '../features/schema.js';
import type { EncodedRow } from '../features/transform.js';

export interface PreparedRows {
  labels: number[];
  rows: EncodedRow[];
}

export async function readPreparedTsv(path: string, inputs: ModelInput[]): Promise<PreparedRows> {
  const text = await readFile(path, 'utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const header = lines.shift()?.split('\t') ?? [];
  const expected = ['label', ...inputs.map((i) => i.name)];
  if (header.join('\t') !== expected.join('\t')) throw new Error(`${path}: header does not match the input schema (prepare and export disagree)`);
  const labels: number[] = [];
  const rows: EncodedRow[] = [];
  for (const line of lines) {
    const cells = line.split('\t');
    labels.push(cells[0] === '' ? Number.NaN : Number(cells[0]));
    rows.push(inputs.map((input, j) => {
      const cell = cells[j + 1] ?? '';
      return input.type === 'Numeric' ? (cell === '' ? Number.NaN : Number(cell)) : cell;
    }));
  }
  return { labels, rows };
}

export function encodedRowsToTsv(inputs: ModelInput[], rows: EncodedRow[], labels?: number[]): string {
  const lines = [['label', ...inputs.map((i) => i.name)].join('\t')];
  rows.forEach((row, r) => {
    const label = labels?.[r];
    lines.push([label === undefined || Number.isNaN(label) ? '' : String(label), ...row.map((v) => (typeof v === 'number' ? (Number.isNaN(v) ? '' : String(v)) : v))].join('\t'));
  });
  return `${lines.join('\n')}\n`;
}
