/** DuckDB data chunks into Arrow column builders: types, layouts, and the copy itself. */
import { DuckDBDataChunk, DuckDBTypeId } from '@duckdb/node-api';
import bindings from '@duckdb/node-bindings';
import { ArrowKind, ArrowValue, ColumnBuilder } from '../arrow';
import { appendStrings } from './strings';

/** The Arrow kind of each DuckDB type (others go as text). */
export const KIND_BY_TYPE: Partial<Record<DuckDBTypeId, ArrowKind>> = {
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

/** Bytes of DuckDB vector memory per row of a chunk, by type (strings: their 16-byte headers). */
export function vectorWidth(typeId: DuckDBTypeId): number {
  switch (typeId) {
    case DuckDBTypeId.BOOLEAN:
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.UTINYINT:
      return 1;
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.USMALLINT:
      return 2;
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DATE:
      return 4;
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
      return 8;
    default:
      return 16;
  }
}

/** DuckDB types whose vector memory already has Arrow's layout for their kind. */
export const SAME_LAYOUT = new Set<DuckDBTypeId>([
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

/**
 * Copies one DuckDB chunk into the column builders, from DuckDB's vector memory where layouts
 * match. Returns the bytes of string data it held.
 */
export function appendChunk(builders: ColumnBuilder[], typeIds: DuckDBTypeId[], chunk: DuckDBDataChunk): number {
  const rows = chunk.rowCount;
  let stringBytes = 0;
  for (let c = 0; c < builders.length; c++) {
    const builder = builders[c];
    const vector = bindings.data_chunk_get_vector(chunk.chunk, c);
    const validity = bindings.vector_get_validity(vector, ((rows + 63) >> 6) * 8) ?? null;
    if (SAME_LAYOUT.has(typeIds[c])) {
      builder.appendFixed(bindings.vector_get_data(vector, rows * builder.width), rows, validity);
    } else if (typeIds[c] === DuckDBTypeId.VARCHAR) {
      stringBytes += appendStrings(builder, bindings.vector_get_data(vector, rows * 16), rows, validity);
    } else {
      const values = chunk.getColumnVector(c);
      for (let r = 0; r < rows; r++) builder.append(normalise(values.getItem(r), builder.kind));
    }
  }
  return stringBytes;
}
