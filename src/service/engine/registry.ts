/**
 * Which engine reads which source: DuckDB for files and the audit log file, one PostgreSQL
 * engine (one connection pool) per configured connection. Adding an engine (Trino, say) is
 * one QueryEngine implementation and one case in `engineFor`.
 */
import { PostgresConnection, Source } from '../config/types';
import { DuckDBEngine } from './duckdb';
import { EngineSelector, QueryEngine, SourceError } from './engine';
import { PostgresEngine } from './postgres';

export class EngineRegistry implements EngineSelector {
  private constructor(
    private readonly duckdb: DuckDBEngine,
    private readonly postgres: ReadonlyMap<string, PostgresEngine>
  ) {}

  static create(duckdb: DuckDBEngine, connections: ReadonlyMap<string, PostgresConnection>): EngineRegistry {
    return new EngineRegistry(duckdb, new Map()).derive(connections);
  }

  /**
   * The registry for a reloaded configuration: a connection whose settings did not change
   * keeps its engine (and its pool); others get a new one. Nothing connects until first used.
   */
  derive(connections: ReadonlyMap<string, PostgresConnection>): EngineRegistry {
    const engines = new Map<string, PostgresEngine>();
    for (const [name, connection] of connections) {
      const current = this.postgres.get(name);
      engines.set(name, current && sameSettings(current.connection, connection) ? current : new PostgresEngine(connection));
    }
    return new EngineRegistry(this.duckdb, engines);
  }

  engineFor(source: Source): QueryEngine {
    switch (source.format) {
      case 'csv':
      case 'parquet':
      case 'jsonl':
      case 'audit':
        return this.duckdb;
      case 'postgres': {
        const engine = this.postgres.get(source.connection);
        if (!engine) throw new SourceError(`no connection named ${source.connection}`);
        return engine;
      }
    }
  }

  /**
   * Closes this registry's PostgreSQL engines that `successor` does not share (all of them
   * without one). Streams already running finish first: a pool ends as its clients return.
   */
  async retire(successor?: EngineRegistry): Promise<void> {
    const kept = new Set(successor?.postgres.values());
    await Promise.all([...this.postgres.values()].filter(engine => !kept.has(engine)).map(engine => engine.close()));
  }
}

function sameSettings(a: PostgresConnection, b: PostgresConnection): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
