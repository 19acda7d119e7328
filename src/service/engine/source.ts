/** Where a dataset's rows come from, and what its columns are there. */

export type FileFormat = 'csv' | 'parquet' | 'jsonl';
export const FILE_FORMATS: readonly FileFormat[] = ['csv', 'parquet', 'jsonl'];

/** A file inside a data root, read in-process by DuckDB. */
export interface FileSource {
  format: FileFormat;
  /** Absolute, resolved inside a data root. */
  path: string;
  /**
   * Column names and DuckDB types, for a JSON-lines file whose columns must not be guessed
   * (an empty file has none to guess from): the audit log declares its own.
   */
  columns?: SourceColumn[];
  /**
   * An append-only log the service writes itself (the audit log): the files `path` was rotated
   * to are read too (`audit.jsonl.1`, `audit.jsonl-20260101`...), and a line that is not JSON
   * (a torn line, a hand edit) reads as a row of NULLs, so the log always stays readable.
   */
  log?: boolean;
}

/**
 * A table or view behind a named connection of warden.yaml; `format` is the connection's
 * engine kind (`postgres`), so the catalog says which engine reads it.
 */
export interface ConnectionSource {
  format: string;
  connection: string;
  /** As named in the engine (`table`, `schema.table`...), quoted when used. */
  table: string;
}

export type Source = FileSource | ConnectionSource;

export function isConnectionSource(source: Source): source is ConnectionSource {
  return 'connection' in source;
}

export interface SourceColumn {
  name: string;
  /** The engine's own type name, e.g. VARCHAR, DATE, DECIMAL(10,2). */
  type: string;
}
