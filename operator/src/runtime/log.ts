// Structured JSON logs, one object per line, with the fields a line is about.
export type Fields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  debug(msg: string, fields?: Fields): void;
  with(fields: Fields): Logger;
}

export function jsonLogger(base: Fields = {}, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`), debug = process.env.ORCHARD_LOG_LEVEL === 'debug'): Logger {
  const emit = (level: string, msg: string, fields?: Fields) => {
    const err = fields?.err;
    const extra = err instanceof Error ? { ...fields, err: err.message } : fields;
    write(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...base, ...extra }));
  };
  return {
    info: (msg, fields) => emit('info', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    debug: (msg, fields) => (debug ? emit('debug', msg, fields) : undefined),
    with: (fields) => jsonLogger({ ...base, ...fields }, write, debug),
  };
}

export const silentLogger: Logger = { info() {}, error() {}, debug() {}, with: () => silentLogger };
