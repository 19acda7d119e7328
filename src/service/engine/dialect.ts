/**
 * What differs between SQL engines: mask expressions and type names. Both dialects produce
 * the same masked values for the same input (same keyed SHA-256, same tokens), so tokenized
 * columns join across engines.
 */
import { MaskSpec } from '../../common/api';
import { DEFAULT_REDACTION } from '../policy/masks';
import { Params } from './sql';

/** Broad type families, enough to choose mask SQL and output types. */
export type TypeFamily = 'text' | 'integer' | 'decimal' | 'float' | 'boolean' | 'date' | 'timestamp' | 'other';

export interface MaskKeys {
  /** Keys `hash`: mixed with the dataset name, so hashes do not join across datasets. */
  hash: string;
  /** Keys `tokenize`: the same everywhere, so tokens join across datasets and engines. */
  token: string;
}

export interface Dialect {
  readonly name: string;
  familyOf(engineType: string): TypeFamily;
  /** The SQL type a mask produces, given the column's own type. */
  maskedType(mask: MaskSpec, engineType: string): string;
  /** SQL for `mask` applied to the SQL expression `value` of type `engineType`. */
  mask(mask: MaskSpec, value: string, engineType: string, keys: MaskKeys, params: Params): string;
  textType: string;
}

export const duckdbDialect: Dialect = {
  name: 'duckdb',
  textType: 'VARCHAR',

  familyOf(engineType) {
    const type = engineType.toUpperCase();
    if (/^(VARCHAR|TEXT|STRING|CHAR|UUID)/.test(type)) return 'text';
    if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|INT)/.test(type)) return 'integer';
    if (/^DECIMAL|^NUMERIC/.test(type)) return 'decimal';
    if (/^(FLOAT|DOUBLE|REAL)/.test(type)) return 'float';
    if (type === 'BOOLEAN') return 'boolean';
    if (type === 'DATE') return 'date';
    if (type.startsWith('TIMESTAMP')) return 'timestamp';
    return 'other';
  },

  maskedType(mask, engineType) {
    switch (mask.type) {
      case 'null':
      case 'hide':
        return engineType;
      case 'year_only':
        return 'INTEGER';
      case 'round':
        return 'DOUBLE';
      case 'bucket':
        return this.familyOf(engineType) === 'integer' ? 'BIGINT' : 'DOUBLE';
      default:
        return 'VARCHAR';
    }
  },

  mask(mask, value, engineType, keys, params) {
    const text = `CAST(${value} AS VARCHAR)`;
    switch (mask.type) {
      case 'redact':
        return `CAST(${params.add(mask.value ?? DEFAULT_REDACTION)} AS VARCHAR)`;
      case 'null':
      case 'hide':
        return `CAST(NULL AS ${engineType})`;
      case 'hash':
        return `sha256(${params.add(keys.hash)} || ${text})`;
      case 'tokenize':
        return `'tok_' || left(sha256(${params.add(keys.token)} || ${text}), 16)`;
      case 'show_first': {
        const n = `CAST(${params.add(mask.n)} AS INTEGER)`;
        return `left(${text}, ${n}) || repeat('*', greatest(length(${text}) - ${n}, 0))`;
      }
      case 'show_last': {
        const n = `CAST(${params.add(mask.n)} AS INTEGER)`;
        return `repeat('*', greatest(length(${text}) - ${n}, 0)) || right(${text}, ${n})`;
      }
      case 'year_only':
        return `CAST(EXTRACT(YEAR FROM ${value}) AS INTEGER)`;
      case 'round':
        return `round(CAST(${value} AS DOUBLE), CAST(${params.add(mask.digits)} AS INTEGER))`;
      case 'bucket': {
        const width = `CAST(${params.add(mask.width)} AS DOUBLE)`;
        const bucket = `floor(CAST(${value} AS DOUBLE) / ${width}) * ${width}`;
        return this.familyOf(engineType) === 'integer' ? `CAST(${bucket} AS BIGINT)` : bucket;
      }
      case 'email_domain':
        return `'***@' || split_part(${text}, '@', 2)`;
    }
  }
};
