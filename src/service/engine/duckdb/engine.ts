/** The DuckDB adapter: reads CSV, Parquet and JSON-lines files in-process. */
import { scanSchema } from '../arrow';
import { CompiledScan } from '../compile';
import { ArrowResult, EngineFailure, QueryEngine, ScanCost, SourceError } from '../engine';
import { Source, SourceColumn, isConnectionSource } from '../source';
import { Params, quoteIdent } from '../sql';
import { batchesOf } from './batches';
import { KIND_BY_TYPE } from './chunks';
import { duckdbDialect } from './dialect';
import { diagnoseDuckDB } from './errors';
import { checkFileAtOpen, rotatedFilesGlob } from './file-sources';
import { DuckDBInstances, DuckDBResources } from './instances';
import { openStream } from './open-stream';
import { ScanCosts } from './plan';

export class DuckDBEngine implements QueryEngine {
  readonly dialect = duckdbDialect;
  private readonly costs = new ScanCosts();

  private constructor(private readonly instances: DuckDBInstances) {}

  /** Two instances (./instances.ts): one for scans, one with its own thread for interactive reads. */
  static async create(resources?: DuckDBResources): Promise<DuckDBEngine> {
    return new DuckDBEngine(await DuckDBInstances.open(resources));
  }

  /** Applies changed resources (a reload). */
  configure(resources: DuckDBResources): Promise<void> {
    return this.instances.configure(resources);
  }

  /** A setting of an instance as DuckDB reports it (for tests and the benchmarks). */
  setting(role: 'scans' | 'interactive', name: string): Promise<string> {
    return this.instances.setting(role, name);
  }

  relation(source: Source, params: Params): string {
    if (isConnectionSource(source)) {
      throw new SourceError(`DuckDB reads files, not ${source.format} sources`);
    }
    // The audit log is the service's own file, not one from a data root: read with its rotated files.
    const path = params.add(source.log ? rotatedFilesGlob(source.path) : checkFileAtOpen(source.path));
    switch (source.format) {
      case 'parquet':
        return `read_parquet(${path})`;
      case 'csv':
        return `read_csv(${path}, header = true, auto_detect = true)`;
      case 'jsonl': {
        if (!source.columns) return `read_json(${path}, format = 'newline_delimited')`;
        // read_json takes its column types as a constant: they come from code (the audit log's
        // declaration), and are checked to be type names all the same.
        const columns = source.columns.map(column => {
          if (!/^[A-Z][A-Z0-9_]*$/.test(column.type)) throw new SourceError(`not a DuckDB type name: ${column.type}`);
          return `${quoteIdent(column.name)}: '${column.type}'`;
        });
        // A log's line that is not JSON reads as a row of NULLs (only compliance sees it: its user_name is NULL).
        const lenient = source.log ? ', ignore_errors = true' : '';
        return `read_json(${path}, format = 'newline_delimited', columns = {${columns.join(', ')}}${lenient})`;
      }
    }
  }

  async describe(source: Source): Promise<SourceColumn[]> {
    const params = new Params();
    const connection = await this.instances.interactive.connect();
    try {
      const reader = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${this.relation(source, params)}`, params.values);
      return reader.getRowObjectsJS().map(row => ({ name: String(row.column_name), type: String(row.column_type) }));
    } catch (error) {
      throw new SourceError((error as Error).message);
    } finally {
      connection.closeSync();
    }
  }

  /** From DuckDB's physical plan (EXPLAIN), read on the interactive instance. */
  cost(scan: CompiledScan): Promise<ScanCost> {
    return this.costs.of(scan, this.instances.interactive);
  }

  async stream(scan: CompiledScan, metadata: Map<string, string>): Promise<ArrowResult> {
    const connection = await this.instances.forRead(await this.cost(scan), scan.limit).connect();
    let opened;
    try {
      opened = await openStream(connection, scan);
    } catch (error) {
      connection.closeSync();
      throw error;
    }
    const { result, probed, ended } = opened;
    const typeIds = result.columnTypes().map(type => type.typeId);
    const kinds = typeIds.map(typeId => KIND_BY_TYPE[typeId] ?? 'utf8');
    const schema = scanSchema(scan.columns, kinds, metadata);
    const state = { cancelled: false };
    return {
      schema,
      cancel: () => {
        state.cancelled = true;
        connection.interrupt();
      },
      batches: batchesOf(result, probed, ended, connection, schema, typeIds, kinds, state)
    };
  }

  diagnose(error: unknown): EngineFailure {
    return diagnoseDuckDB(error);
  }

  async ready(): Promise<void> {
    const connection = await this.instances.scans.connect();
    try {
      await connection.run('SELECT 1');
    } finally {
      connection.closeSync();
    }
  }

  async close(): Promise<void> {
    this.instances.close();
  }
}
