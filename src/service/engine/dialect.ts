/**
 * What differs between SQL engines: mask expressions, type names and how literals are bound.
 * Every dialect produces the same masked values for the same input (same keyed SHA-256, same
 * tokens, same rounding), so tokenized columns join across engines; docs/engines.md lists
 * the few inputs that still render differently.
 */
import { MaskSpec } from '../../common/api';
import { DEFAULT_REDACTION } from '../policy/masks';
import { Params, SqlValue } from './sql';

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
  /** SQL for `mask` applied to the SQL expression `value` of type `engineType`. */
  mask(mask: MaskSpec, value: string, engineType: string, keys: MaskKeys, params: Params): string;
  /** SQL rendering `value` (of type `engineType`) as text the same way on every engine. */
  toText(value: string, engineType: string): string;
  /** SQL for a literal of an expression (a bound parameter, typed where the engine needs it). */
  literal(value: Exclude<SqlValue, null | boolean>, params: Params): string;
  /** Names of the types masks produce. */
  types: { text: string; integer: string; bigint: string; double: string };
}

export const duckdbDialect: Dialect = {
  name: 'duckdb',
  types: { text: 'VARCHAR', integer: 'INTEGER', bigint: 'BIGINT', double: 'DOUBLE' },

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

  mask(mask, value, engineType, keys, params) {
    const text = this.toText(value, engineType);
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
  },

  toText(value) {
    return `CAST(${value} AS VARCHAR)`;
  },

  literal(value, params) {
    return params.add(value);
  }
};

/** Largest finite double: `x * 10^d` stays finite while `abs(x)` is at most this over `10^d`. */
const MAX_DOUBLE = '1.7976931348623157e308';

/** `y` rounded half away from zero, exactly in double precision and keeping -0 (C's round(), as DuckDB uses). */
function roundHalfAwayFromZero(y: string): string {
  return `CASE WHEN abs(${y} - trunc(${y})) >= 0.5 THEN trunc(${y}) + sign(${y}) ELSE trunc(${y}) END`;
}

/**
 * PostgreSQL 12 or later. Sessions run with TimeZone UTC, DateStyle ISO and shortest-exact
 * float output (engine/postgres.ts), so text casts of dates, timestamps and numbers read as
 * DuckDB's do, and masks built on them (hash, tokenize, show_first...) give the same values.
 */
export const postgresDialect: Dialect = {
  name: 'postgres',
  types: { text: 'text', integer: 'integer', bigint: 'bigint', double: 'double precision' },

  familyOf(engineType) {
    const type = engineType.toLowerCase();
    if (type.endsWith('[]')) return 'other';
    if (/^(text|character|char|bpchar|varchar|name|citext|uuid)\b/.test(type)) return 'text';
    if (/^(smallint|integer|bigint|int2|int4|int8)\b/.test(type)) return 'integer';
    if (/^(numeric|decimal)\b/.test(type)) return 'decimal';
    if (/^(real|double precision|float4|float8)\b/.test(type)) return 'float';
    if (type === 'boolean') return 'boolean';
    if (type === 'date') return 'date';
    if (type.startsWith('timestamp')) return 'timestamp';
    return 'other';
  },

  mask(mask, value, engineType, keys, params) {
    const text = this.toText(value, engineType);
    const sha256Hex = (key: string) => `encode(sha256(convert_to(${params.add(key)} || ${text}, 'UTF8')), 'hex')`;
    const double = `CAST(${value} AS double precision)`;
    switch (mask.type) {
      case 'redact':
        return `CAST(${params.add(mask.value ?? DEFAULT_REDACTION)} AS text)`;
      case 'null':
      case 'hide':
        return `CAST(NULL AS ${engineType})`;
      case 'hash':
        return sha256Hex(keys.hash);
      case 'tokenize':
        return `'tok_' || left(${sha256Hex(keys.token)}, 16)`;
      case 'show_first': {
        const n = `CAST(${params.add(mask.n)} AS integer)`;
        return `left(${text}, ${n}) || repeat('*', greatest(length(${text}) - ${n}, 0))`;
      }
      case 'show_last': {
        const n = `CAST(${params.add(mask.n)} AS integer)`;
        return `repeat('*', greatest(length(${text}) - ${n}, 0)) || right(${text}, ${n})`;
      }
      case 'year_only':
        return `CAST(EXTRACT(YEAR FROM ${value}) AS integer)`;
      case 'round': {
        // DuckDB's round(double, d): round(x * 10^d) / 10^d, or round(x / 10^-d) * 10^-d for
        // negative d, in double precision. Rounding through numeric would differ on values
        // such as 0.049999999999999996 (numeric keeps 15 digits: 0.05, which rounds up).
        const scale = `power(CAST(10 AS double precision), CAST(${params.add(Math.abs(mask.digits))} AS double precision))`;
        if (mask.digits >= 0) {
          return `CASE WHEN abs(${double}) <= ${MAX_DOUBLE} / ${scale} THEN ${roundHalfAwayFromZero(`${double} * ${scale}`)} / ${scale} ELSE ${double} END`;
        }
        return `CASE WHEN ${double} IN ('NaN', 'Infinity', '-Infinity') THEN 0 ELSE ${roundHalfAwayFromZero(`${double} / ${scale}`)} * ${scale} END`;
      }
      case 'bucket': {
        const width = `CAST(${params.add(mask.width)} AS double precision)`;
        const bucket = `floor(${double} / ${width}) * ${width}`;
        return this.familyOf(engineType) === 'integer' ? `CAST(${bucket} AS bigint)` : bucket;
      }
      case 'email_domain':
        return `'***@' || split_part(${text}, '@', 2)`;
    }
  },

  toText(value, engineType) {
    if (this.familyOf(engineType) !== 'float') return `CAST(${value} AS text)`;
    // PostgreSQL writes whole floats without DuckDB's ".0" and spells infinities and NaN its own way.
    return (
      `CASE WHEN CAST(${value} AS text) = '-0' THEN '-0.0' ` +
      `WHEN ${value} = trunc(${value}) AND abs(${value}) < 1e16 THEN CAST(CAST(${value} AS bigint) AS text) || '.0' ` +
      `WHEN ${value} = 'Infinity' THEN 'inf' WHEN ${value} = '-Infinity' THEN '-inf' WHEN ${value} = 'NaN' THEN 'nan' ` +
      `ELSE CAST(${value} AS text) END`
    );
  },

  literal(value, params) {
    // Unknown-typed parameters take the type of what they are compared with, which would let
    // `text_column > 5` compare as text; numbers are typed, so such a filter fails as on DuckDB.
    if (typeof value === 'string') return params.add(value);
    return `CAST(${params.add(value)} AS ${Number.isSafeInteger(value) ? 'bigint' : 'numeric'})`;
  }
};

/** The type a mask produces, given the column's own type: the same rule in every dialect. */
export function maskedType(dialect: Dialect, mask: MaskSpec, engineType: string): string {
  switch (mask.type) {
    case 'null':
    case 'hide':
      return engineType;
    case 'year_only':
      return dialect.types.integer;
    case 'round':
      return dialect.types.double;
    case 'bucket':
      return dialect.familyOf(engineType) === 'integer' ? dialect.types.bigint : dialect.types.double;
    default:
      return dialect.types.text;
  }
}
