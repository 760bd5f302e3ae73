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
