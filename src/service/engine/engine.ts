/**
 * The engine boundary: what the service needs from a query engine. DuckDB implements it
 * today; a PostgreSQL or Trino adapter is one more implementation of this interface.
 */
import type { RecordBatch, Schema } from 'apache-arrow';
import { Source } from '../config/types';
import { CompiledScan, SourceColumn } from './compile';
import { Dialect } from './dialect';
import { Params } from './sql';

export interface ArrowResult {
  schema: Schema;
  batches: AsyncIterable<RecordBatch>;
  /** Stops the query early (client went away). */
  cancel(): void;
}

export interface QueryEngine {
  readonly dialect: Dialect;
  /** The raw relation of a source, as SQL using `params` for every value. */
  relation(source: Source, params: Params): string;
  /** Column names and engine types of a source. */
  describe(source: Source): Promise<SourceColumn[]>;
  /** Runs a compiled scan, streaming Arrow record batches with `metadata` on the schema. */
  stream(scan: CompiledScan, metadata: Map<string, string>): Promise<ArrowResult>;
  close(): Promise<void>;
}

export class SourceError extends Error {}
