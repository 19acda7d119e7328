/**
 * PostgreSQL 12 or later (see ../dialect.ts). Sessions run with TimeZone UTC, DateStyle ISO
 * and shortest-exact float output (./pool.ts), so text casts of dates, timestamps and numbers
 * read as DuckDB's do, and masks built on them (hash, tokenize, show_first...) give the same values.
 */
import { DEFAULT_REDACTION } from '../../../common/masks';
import { Dialect } from '../dialect';
import { Params } from '../sql';

/** Largest finite double: `x * 10^d` stays finite while `abs(x)` is at most this over `10^d`. */
const MAX_DOUBLE = '1.7976931348623157e308';

/** `y` rounded half away from zero, exactly in double precision and keeping -0 (C's round(), as DuckDB uses). */
function roundHalfAwayFromZero(y: string): string {
  return `CASE WHEN abs(${y} - trunc(${y})) >= 0.5 THEN trunc(${y}) + sign(${y}) ELSE trunc(${y}) END`;
}

const sha256Hex = (key: string, text: string, params: Params) => `encode(sha256(convert_to(${params.add(key)} || ${text}, 'UTF8')), 'hex')`;
const double = (value: string) => `CAST(${value} AS double precision)`;
const nullOf = (_mask: unknown, { engineType }: { engineType: string }) => `CAST(NULL AS ${engineType})`;

export const postgresDialect: Dialect = {
  name: 'postgres',
  types: { text: 'text', integer: 'integer', bigint: 'bigint', double: 'double precision', boolean: 'boolean' },

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

  masks: {
    redact: (mask, { params }) => `CAST(${params.add(mask.value ?? DEFAULT_REDACTION)} AS text)`,
    null: nullOf,
    hide: nullOf,
    hash: (_mask, { text, keys, params }) => sha256Hex(keys.hash, text, params),
    tokenize: (_mask, { text, keys, params }) => `'tok_' || left(${sha256Hex(keys.token, text, params)}, 16)`,
    show_first: (mask, { text, params }) => {
      const n = `CAST(${params.add(mask.n)} AS integer)`;
      return `left(${text}, ${n}) || repeat('*', greatest(length(${text}) - ${n}, 0))`;
    },
    show_last: (mask, { text, params }) => {
      const n = `CAST(${params.add(mask.n)} AS integer)`;
      return `repeat('*', greatest(length(${text}) - ${n}, 0)) || right(${text}, ${n})`;
    },
    year_only: (_mask, { value }) => `CAST(EXTRACT(YEAR FROM ${value}) AS integer)`,
    round: (mask, { value, params }) => {
      // DuckDB's round(double, d): round(x * 10^d) / 10^d, or round(x / 10^-d) * 10^-d for
      // negative d, in double precision. Rounding through numeric would differ on values
      // such as 0.049999999999999996 (numeric keeps 15 digits: 0.05, which rounds up).
      const x = double(value);
      const scale = `power(CAST(10 AS double precision), CAST(${params.add(Math.abs(mask.digits))} AS double precision))`;
      if (mask.digits >= 0) {
        return `CASE WHEN abs(${x}) <= ${MAX_DOUBLE} / ${scale} THEN ${roundHalfAwayFromZero(`${x} * ${scale}`)} / ${scale} ELSE ${x} END`;
      }
      return `CASE WHEN ${x} IN ('NaN', 'Infinity', '-Infinity') THEN 0 ELSE ${roundHalfAwayFromZero(`${x} / ${scale}`)} * ${scale} END`;
    },
    bucket: (mask, { value, family, params }) => {
      const width = `CAST(${params.add(mask.width)} AS double precision)`;
      const bucket = `floor(${double(value)} / ${width}) * ${width}`;
      return family === 'integer' ? `CAST(${bucket} AS bigint)` : bucket;
    },
    email_domain: (_mask, { text }) => `'***@' || split_part(${text}, '@', 2)`
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
