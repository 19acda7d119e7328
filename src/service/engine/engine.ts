/**
 * The engine boundary: what the service needs from a query engine. DuckDB (files) and
 * PostgreSQL (tables and views) implement it; another engine such as Trino is one more
 * implementation with its own Dialect, and one more case in EngineRegistry.engineFor
 * (docs/engines.md).
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

/** Picks the engine that reads a source. */
export interface EngineSelector {
  engineFor(source: Source): QueryEngine;
}

export class SourceError extends Error {}
