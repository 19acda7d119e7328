/**
 * The engine boundary: what the service needs from a query engine, and what an engine kind
 * provides to be configured. DuckDB reads files (built in); every other engine is an
 * EngineKind registered in ./kinds.ts under the `kind` its connections carry in warden.yaml
 * (PostgreSQL, Trino). docs/engines.md lists the files a new engine touches.
 */
import { Type } from '@sinclair/typebox';
import type { Static, TObject, TString } from '@sinclair/typebox';
import type { RecordBatch, Schema } from 'apache-arrow';
import { CompiledScan } from './compile';
import { Dialect } from './dialect';
import { Source, SourceColumn } from './source';
import { Params } from './sql';

export interface ArrowResult {
  schema: Schema;
  /**
   * The rows, batch by batch. The engine reads ahead by a bounded amount only: a consumer
   * that stops pulling holds the query back (backpressure).
   */
  batches: AsyncIterable<RecordBatch>;
  /** Stops the query early (the client went away); the batches then end. */
  cancel(): void;
}

/** What running a compiled scan takes, read from the engine's own plan of it. */
export interface ScanCost {
  /**
   * The plan's operators that hold memory in proportion to the data (sorts, aggregates, joins,
   * windows, and any operator the engine does not know to stream): empty for a light query.
   * A heavy query is admitted against the engine's budget of heavy queries.
   */
  heavyOperators: string[];
  /** The most bytes a stream of it holds in the service ahead of a client that does not read. */
  readAheadBytes: number;
}

/**
 * What kind of failure an engine error is, in Warden's terms: callers are told a code and
 * words chosen from the kind alone (access/errors.ts), never the engine's text, which may
 * quote values of rows the caller may not see (`Could not convert string 'DE' to INT32`).
 */
export type FailureKind =
  /** A value could not be converted to the type it is compared with or cast to. */
  | 'conversion'
  /** A value out of its type's range: an overflow, a division by zero. */
  | 'arithmetic'
  /** The source cannot be read as configured: a file or table gone or malformed, a privilege missing. */
  | 'source'
  /** The engine cannot be reached now: connection refused or lost, shutting down, too many clients. */
  | 'unavailable'
  /** Out of memory, disk or time. */
  | 'resources'
  /** The query was cancelled. */
  | 'cancelled'
  | 'internal';

export interface EngineFailure {
  kind: FailureKind;
  /** The engine's own words: for the service log and the compliance-only audit fields only. */
  detail: string;
}

export interface QueryEngine {
  readonly dialect: Dialect;
  /** The raw relation of a source, as SQL using `params` for every value. */
  relation(source: Source, params: Params): string;
  /** Catalog introspection: column names and engine types of a source. */
  describe(source: Source): Promise<SourceColumn[]>;
  /** What running a compiled scan takes (admission control reads it before the scan runs). */
  cost(scan: CompiledScan): Promise<ScanCost>;
  /** Runs a compiled scan, streaming Arrow record batches with `metadata` on the schema. */
  stream(scan: CompiledScan, metadata: Map<string, string>): Promise<ArrowResult>;
  /**
   * What an error thrown by `cost`, `stream`, its batches or `describe` is (each engine knows its
   * own codes: PostgreSQL's SQLSTATE, DuckDB's error types, Trino's error names).
   */
  diagnose(error: unknown): EngineFailure;
  /** Resolves if the engine can run queries now (for health checks); rejects with the reason otherwise. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** What every connection has; an engine kind adds its own settings. */
export interface ConnectionSettings {
  kind: string;
  name: string;
}

/** What an engine kind may need while loading a connection's settings. */
/**
 * The schema of a `*_env` setting: it names the environment variable holding a secret (secrets
 * never sit in the YAML; the Jupyter server keeps every `*_env` variable from kernels).
 */
export const ENV_NAME = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'an environment variable name' });

export interface ConnectionContext {
  /**
   * Reads a file the settings name (relative to the config directory), and counts it among the
   * configuration's files, so that a change to it reloads the configuration.
   */
  readFile(fileName: string): string;
  /** Stops loading, naming the file and line of the key at `at` (under this connection). */
  fail(at: string[], problem: string): never;
  /** The password in the environment variable `password_env` names; fails if that is unset. */
  passwordFromEnv(variable: string | undefined): string | undefined;
}

/**
 * An engine kind: how warden.yaml configures its connections and the catalog its sources
 * (`source: { format: <kind>, connection: <name>, table: ... }`), and how it makes an engine.
 */
export interface EngineKind<C extends ConnectionSettings = ConnectionSettings, S extends TObject = TObject> {
  readonly kind: string;
  /** The SQL its engines speak: the registry checks it covers every declared mask. */
  readonly dialect: Dialect;
  /** The keys of a connection of this kind in warden.yaml, besides `kind`. */
  readonly connectionSchema: S;
  /** A catalog source's `table`: how this engine names a table. */
  readonly tableSchema: TString;
  /** A connection's settings from its validated YAML: secrets from the environment, files read. */
  connection(name: string, yaml: Static<S>, context: ConnectionContext): C;
  /** The engine for a connection; nothing connects before its first query. */
  engine(connection: C): QueryEngine;
}

export class SourceError extends Error {}

/**
 * The engine cannot be reached, or did not answer in time: nothing is wrong with the request,
 * so callers are told to try again later (503 engine_unavailable), not to fix it.
 */
export class EngineUnavailableError extends SourceError {}

/** The engine's text of an error, whole: for the log and compliance only. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
