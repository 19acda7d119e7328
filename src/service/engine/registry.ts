/**
 * Which engine reads which source: the built-in DuckDB engine reads files, and each
 * connection of warden.yaml gets an engine of its kind (./kinds.ts), one pool per connection.
 */
import { DuckDBEngine } from './duckdb';
import { ConnectionSettings, QueryEngine, SourceError } from './engine';
import { ENGINE_KINDS } from './kinds';
import { Source, isConnectionSource } from './source';

interface ConnectionEngine {
  connection: ConnectionSettings;
  engine: QueryEngine;
}

export class EngineRegistry {
  private constructor(
    private readonly files: DuckDBEngine,
    private readonly byConnection: ReadonlyMap<string, ConnectionEngine>
  ) {}

  static create(files: DuckDBEngine, connections: ReadonlyMap<string, ConnectionSettings>): EngineRegistry {
    return new EngineRegistry(files, new Map()).derive(connections);
  }

  /**
   * The registry for a reloaded configuration: a connection whose settings did not change
   * keeps its engine (and its pool); others get a new one. Nothing connects until first used.
   */
  derive(connections: ReadonlyMap<string, ConnectionSettings>): EngineRegistry {
    const engines = new Map<string, ConnectionEngine>();
    for (const [name, connection] of connections) {
      const current = this.byConnection.get(name);
      if (current && JSON.stringify(current.connection) === JSON.stringify(connection)) {
        engines.set(name, current);
        continue;
      }
      const kind = ENGINE_KINDS.get(connection.kind);
      if (!kind) throw new SourceError(`connection ${name}: no engine of kind ${connection.kind}`);
      engines.set(name, { connection, engine: kind.engine(connection) });
    }
    return new EngineRegistry(this.files, engines);
  }

  /** Every engine, by what it serves: `built-in` for the one that reads files, else the connection's name. */
  all(): { name: string; engine: QueryEngine; builtIn: boolean }[] {
    return [{ name: 'built-in', engine: this.files, builtIn: true }, ...[...this.byConnection].map(([name, { engine }]) => ({ name, engine, builtIn: false }))];
  }

  engineFor(source: Source): QueryEngine {
    if (!isConnectionSource(source)) return this.files;
    const entry = this.byConnection.get(source.connection);
    if (!entry) throw new SourceError(`no connection named ${source.connection}`);
    if (entry.connection.kind !== source.format) {
      throw new SourceError(`connection ${source.connection} is of kind ${entry.connection.kind}, not ${source.format}`);
    }
    return entry.engine;
  }

  /**
   * Closes this registry's connection engines that `successor` does not share (all of them
   * without one). Streams already running finish first: a pool ends as its clients return.
   */
  async retire(successor?: EngineRegistry): Promise<void> {
    const kept = new Set([...(successor?.byConnection.values() ?? [])].map(entry => entry.engine));
    await Promise.all([...this.byConnection.values()].filter(entry => !kept.has(entry.engine)).map(entry => entry.engine.close()));
  }
}
