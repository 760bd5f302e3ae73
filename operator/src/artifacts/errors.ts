/**
 * A problem with a data file or an artifact location that a user must fix. The message is one line
 * that names the file or URI and, where possible, the fix; CLIs print it as is.
 */
export class DataError extends Error {
  override name = 'DataError';

  constructor(message: string, options?: ErrorOptions) {
    // Messages quote other errors (storage client errors span lines); keep the one-line promise.
    super(message.replace(/\s*[\r\n]+\s*/g, ' '), options);
  }
}

/** Longest text read from a data file (a column name, a cell) that an error message quotes whole. */
export const MAX_QUOTED_CHARS = 32;

/**
 * Text read from a data file, fit to quote in an error: errors become a TrainingRun's status, and a
 * file:// source may name a file that holds a secret. Short text is quoted with control and
 * non-printable characters escaped; longer text is only described, since any prefix could be the
 * part that matters (a password, the start of a token).
 */
export function quoteFileText(text: string, max = MAX_QUOTED_CHARS): string {
  if (text.length > max) return `<${text.length} characters>`;
  return JSON.stringify(text).replace(/\p{C}/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/** Names read from a file (columns, zip members), quoted, at most `count` of them, with how many more. */
export function previewFileNames(names: readonly string[], count = 12): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, count).map((n) => quoteFileText(n)).join(', ');
  return names.length > count ? `${shown} and ${names.length - count} more` : shown;
}
