/** The DuckDB adapter: reads CSV, Parquet and JSON-lines files in-process. */
import { DuckDBDataChunk, DuckDBInstance, DuckDBTypeId } from '@duckdb/node-api';
import bindings from '@duckdb/node-bindings';
import { Source } from '../config/types';
import { AUDIT_COLUMNS } from '../audit/record';
import { ArrowKind, ArrowValue, ColumnBuilder, recordBatch, scanSchema } from './arrow';
import { CompiledScan, SourceColumn } from './compile';
import { duckdbDialect } from './dialect';
import { ArrowResult, QueryEngine, SourceError } from './engine';
import { Params, quoteIdent } from './sql';

/** Rows per Arrow record batch: DuckDB hands out 2,048-row chunks; fewer, larger batches stream faster. */
const BATCH_ROWS = 65_536;

const KIND_BY_TYPE: Partial<Record<DuckDBTypeId, ArrowKind>> = {
  [DuckDBTypeId.BOOLEAN]: 'bool',
  [DuckDBTypeId.TINYINT]: 'int8',
  [DuckDBTypeId.SMALLINT]: 'int16',
  [DuckDBTypeId.INTEGER]: 'int32',
  [DuckDBTypeId.BIGINT]: 'int64',
  [DuckDBTypeId.UTINYINT]: 'uint8',
  [DuckDBTypeId.USMALLINT]: 'uint16',
  [DuckDBTypeId.UINTEGER]: 'uint32',
  [DuckDBTypeId.UBIGINT]: 'uint64',
  [DuckDBTypeId.FLOAT]: 'float32',
  [DuckDBTypeId.DOUBLE]: 'float64',
  [DuckDBTypeId.DECIMAL]: 'float64',
  [DuckDBTypeId.DATE]: 'date',
  [DuckDBTypeId.TIMESTAMP]: 'timestamp',
  [DuckDBTypeId.TIMESTAMP_TZ]: 'timestamptz',
  [DuckDBTypeId.VARCHAR]: 'utf8'
};

/** DuckDB types whose vector memory already has Arrow's layout for their kind. */
const SAME_LAYOUT = new Set<DuckDBTypeId>([
  DuckDBTypeId.TINYINT, DuckDBTypeId.SMALLINT, DuckDBTypeId.INTEGER, DuckDBTypeId.BIGINT,
  DuckDBTypeId.UTINYINT, DuckDBTypeId.USMALLINT, DuckDBTypeId.UINTEGER, DuckDBTypeId.UBIGINT,
  DuckDBTypeId.FLOAT, DuckDBTypeId.DOUBLE, DuckDBTypeId.DATE, DuckDBTypeId.TIMESTAMP, DuckDBTypeId.TIMESTAMP_TZ
]);

/** Normalises one DuckDB value for the Arrow builder of its kind (the slow path, for the rest). */
function normalise(value: unknown, kind: ArrowKind): ArrowValue {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'date':
      return (value as { days: number }).days;
    case 'timestamp':
    case 'timestamptz':
      return (value as { micros: bigint }).micros;
    case 'float64':
      return typeof value === 'object' ? (value as { toDouble(): number }).toDouble() : (value as number);
    case 'utf8':
      return typeof value === 'string' ? value : String(value);
    default:
      return value as ArrowValue;
  }
}

export class DuckDBEngine implements QueryEngine {
  readonly dialect = duckdbDialect;

  private constructor(private readonly instance: DuckDBInstance) {}

  static async create(): Promise<DuckDBEngine> {
    // Extensions cannot be downloaded here, and nothing should try.
    const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false' });
    // Timestamps with time zone render (and their year_only masks read) in UTC, whatever the
    // host's zone, as on PostgreSQL: masks give the same values on both engines.
    const connection = await instance.connect();
    try {
      await connection.run("SET GLOBAL TimeZone = 'UTC'");
    } finally {
      connection.closeSync();
    }
    return new DuckDBEngine(instance);
  }

  relation(source: Source, params: Params): string {
    switch (source.format) {
      case 'parquet':
        return `read_parquet(${params.add(source.path)})`;
      case 'csv':
        return `read_csv(${params.add(source.path)}, header = true, auto_detect = true)`;
      case 'jsonl':
        return `read_json(${params.add(source.path)}, format = 'newline_delimited')`;
      case 'audit': {
        const columns = AUDIT_COLUMNS.map(column => `${quoteIdent(column.name)}: '${column.type}'`).join(', ');
        return `read_json(${params.add(source.path)}, format = 'newline_delimited', columns = {${columns}})`;
      }
      case 'postgres':
        throw new SourceError(`DuckDB does not read ${source.format} sources`);
    }
  }

  async describe(source: Source): Promise<SourceColumn[]> {
    const params = new Params();
    const connection = await this.instance.connect();
    try {
      const reader = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${this.relation(source, params)}`, params.values);
      return reader.getRowObjectsJS().map(row => ({ name: String(row.column_name), type: String(row.column_type) }));
    } catch (error) {
      throw new SourceError((error as Error).message);
    } finally {
      connection.closeSync();
    }
  }

  async stream(scan: CompiledScan, metadata: Map<string, string>): Promise<ArrowResult> {
    const connection = await this.instance.connect();
    let result;
    try {
      result = await connection.stream(scan.sql, scan.params);
    } catch (error) {
      connection.closeSync();
      throw error;
    }
    const typeIds = result.columnTypes().map(type => type.typeId);
    const kinds = typeIds.map(typeId => KIND_BY_TYPE[typeId] ?? 'utf8');
    const schema = scanSchema(scan.columns, kinds, metadata);
    let cancelled = false;
    const streamed = result;
    return {
      schema,
      cancel: () => {
        cancelled = true;
        connection.interrupt();
      },
      batches: (async function* () {
        // Start at one DuckDB chunk and grow: a 100-row preview must not reserve a 65,536-row batch.
        const builders = kinds.map(kind => new ColumnBuilder(kind, 2048));
        try {
          for (;;) {
            const chunk = cancelled ? null : await streamed.fetchChunk();
            if (!chunk || chunk.rowCount === 0) break;
            appendChunk(builders, typeIds, chunk);
            if (builders[0].length >= BATCH_ROWS) {
              yield recordBatch(schema, builders);
            }
          }
          if (!cancelled && builders[0].length > 0) {
            yield recordBatch(schema, builders);
          }
        } finally {
          connection.closeSync();
        }
      })()
    };
  }

  async close(): Promise<void> {
    this.instance.closeSync();
  }
}

/** Copies one DuckDB chunk into the column builders, from DuckDB's vector memory where layouts match. */
function appendChunk(builders: ColumnBuilder[], typeIds: DuckDBTypeId[], chunk: DuckDBDataChunk): void {
  const rows = chunk.rowCount;
  for (let c = 0; c < builders.length; c++) {
    const builder = builders[c];
    const vector = bindings.data_chunk_get_vector(chunk.chunk, c);
    const validity = bindings.vector_get_validity(vector, ((rows + 63) >> 6) * 8) ?? null;
    if (SAME_LAYOUT.has(typeIds[c])) {
      builder.appendFixed(bindings.vector_get_data(vector, rows * builder.width), rows, validity);
    } else if (typeIds[c] === DuckDBTypeId.VARCHAR) {
      appendStrings(builder, bindings.vector_get_data(vector, rows * 16), rows, validity);
    } else {
      const values = chunk.getColumnVector(c);
      for (let r = 0; r < rows; r++) builder.append(normalise(values.getItem(r), builder.kind));
    }
  }
}

/**
 * DuckDB strings are 16-byte `duckdb_string_t`s: a length, then up to 12 bytes inline or a
 * prefix and a pointer. Their UTF-8 bytes go to Arrow as they are: no decoding, no encoding.
 */
function appendStrings(builder: ColumnBuilder, data: Uint8Array, rows: number, validity: Uint8Array | null): void {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let r = 0; r < rows; r++) {
    if (validity && !(validity[r >> 3] & (1 << (r & 7)))) {
      builder.appendUtf8(null);
      continue;
    }
    const offset = r * 16;
    const length = view.getUint32(offset, true);
    builder.appendUtf8(
      length <= 12
        ? data.subarray(offset + 4, offset + 4 + length)
        : bindings.get_data_from_pointer(data.buffer as ArrayBuffer, data.byteOffset + offset + 8, length)
    );
  }
}
