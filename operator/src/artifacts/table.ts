/** A data file read into memory: every cell as text, null where the value is missing. */
export interface Table {
  columns: string[];
  rows: (string | null)[][];
  /** The file's URI (with `!/member` for a zip member), for messages. */
  source: string;
}
