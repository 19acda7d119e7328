/**
 * Trino's SQL for every mask, giving the same values as DuckDB and PostgreSQL for the same
 * input (docs/engines.md lists each difference handled here). The text rendering of a value
 * (`toText`) is the input of hashes, tokens and partial masks, so it follows DuckDB's spelling
 * exactly: timestamps without trailing fractional zeros, UTC offsets as `+00`, doubles as
 * shortest round-trip digits in DuckDB's positional/scientific layout.
 */
import { DEFAULT_REDACTION } from '../../../common/masks';
import { Dialect } from '../dialect';
import { Params } from '../sql';

/** Largest finite double: `x * 10^d` stays finite while `abs(x)` is at most this over `10^d`. */
const MAX_DOUBLE = '1.7976931348623157e308';

/** `y` rounded half away from zero in double precision, keeping -0 (as DuckDB's round). */
function roundHalfAwayFromZero(y: string): string {
  return `CASE WHEN abs(${y} - truncate(${y})) >= 0.5 THEN truncate(${y}) + sign(${y}) ELSE truncate(${y}) END`;
}

/**
 * An integral double as bigint, halves to even: DuckDB's and PostgreSQL's casts round so,
 * Trino's cast rounds halves up (2.5 gives 3 there, 2 on the others).
 */
function bigintHalfEven(x: string): string {
  return `CAST(CASE WHEN abs(${x} - truncate(${x})) = 0.5 THEN 2 * round(${x} / 2) ELSE round(${x}) END AS bigint)`;
}

/** `timestamp(p) without time zone` text as DuckDB writes it: trailing fractional zeros dropped. */
function trimFraction(text: string): string {
  return `regexp_replace(regexp_replace(${text}, '(\\.[0-9]*?)0+$', '$1'), '\\.$', '')`;
}

/**
 * A double (or real) as DuckDB writes it. Trino prints the same shortest round-trip digits,
 * but always in scientific notation (`8.1234567E4`, `-0E0`), where DuckDB is positional from
 * 10^-4 to 10^16 and writes `81234.567`, `-0.0`, `1e+20`, `1.5e-05`, `inf`, `nan`. So Trino's
 * form is taken apart (sign, digits, exponent) and laid out again.
 */
function floatText(value: string): string {
  const java = `CAST(${value} AS varchar)`;
  // From the text, not `value < 0`: -0 keeps its sign.
  const sign = `IF(starts_with(${java}, '-'), '-', '')`;
  const exponent = `CAST(split_part(${java}, 'E', 2) AS integer)`;
  // The significant digits without sign, point or trailing zeros (Trino writes d.dddEn).
  const digits = `regexp_replace(regexp_replace(split_part(${java}, 'E', 1), '[-.]', ''), '(.)0+$', '$1')`;
  const count = `length(${digits})`;
  const positionalWhole = `${digits} || lpad('', ${exponent} + 1 - ${count}, '0') || '.0'`;
  const positionalFraction = `substr(${digits}, 1, ${exponent} + 1) || '.' || substr(${digits}, ${exponent} + 2)`;
  const positionalSmall = `'0.' || lpad('', -${exponent} - 1, '0') || ${digits}`;
  const scientific =
    `substr(${digits}, 1, 1) || IF(${count} > 1, '.' || substr(${digits}, 2), '') || 'e' || ` +
    `IF(${exponent} < 0, '-', '+') || lpad(CAST(abs(${exponent}) AS varchar), 2, '0')`;
  return (
    `CASE WHEN is_nan(${value}) THEN 'nan' WHEN is_infinite(${value}) THEN ${sign} || 'inf' ` +
    `WHEN ${exponent} BETWEEN 0 AND 15 THEN ${sign} || IF(${count} <= ${exponent} + 1, ${positionalWhole}, ${positionalFraction}) ` +
    `WHEN ${exponent} BETWEEN -4 AND -1 THEN ${sign} || ${positionalSmall} ` +
    `ELSE ${sign} || ${scientific} END`
  );
}

const sha256Hex = (key: string, text: string, params: Params) => `lower(to_hex(sha256(to_utf8(${params.add(key)} || ${text}))))`;
const double = (value: string) => `CAST(${value} AS double)`;
const nullOf = (_mask: unknown, { engineType }: { engineType: string }) => `CAST(NULL AS ${engineType})`;

/**
 * Trino 476 or later. The same values as DuckDB need Trino's own spellings in a few places
 * (docs/engines.md). Every value is a parameter (`$n`), which the Trino engine turns into a
 * `?` of `EXECUTE IMMEDIATE ... USING` (./statement.ts).
 */
export const trinoDialect: Dialect = {
  name: 'trino',
  types: { text: 'varchar', integer: 'integer', bigint: 'bigint', double: 'double', boolean: 'boolean' },

  familyOf(engineType) {
    const type = engineType.toLowerCase();
    if (/^(varchar|char|uuid)\b/.test(type)) return 'text';
    if (/^(tinyint|smallint|integer|bigint)$/.test(type)) return 'integer';
    if (/^decimal\b/.test(type)) return 'decimal';
    if (type === 'double' || type === 'real') return 'float';
    if (type === 'boolean') return 'boolean';
    if (type === 'date') return 'date';
    if (/^timestamp\b/.test(type)) return 'timestamp';
    return 'other';
  },

  masks: {
    redact: (mask, { params }) => `CAST(${params.add(mask.value ?? DEFAULT_REDACTION)} AS varchar)`,
    null: nullOf,
    hide: nullOf,
    hash: (_mask, { text, keys, params }) => sha256Hex(keys.hash, text, params),
    tokenize: (_mask, { text, keys, params }) => `'tok_' || substr(${sha256Hex(keys.token, text, params)}, 1, 16)`,
    // `repeat` is an array function in Trino: lpad('', n, '*') writes the stars.
    show_first: (mask, { text, params }) => {
      const n = `CAST(${params.add(mask.n)} AS integer)`;
      return `substr(${text}, 1, ${n}) || lpad('', greatest(length(${text}) - ${n}, 0), '*')`;
    },
    show_last: (mask, { text, params }) => {
      const n = `CAST(${params.add(mask.n)} AS integer)`;
      return `lpad('', greatest(length(${text}) - ${n}, 0), '*') || substr(${text}, greatest(length(${text}) - ${n} + 1, 1))`;
    },
    year_only: (_mask, { value }) => `CAST(EXTRACT(YEAR FROM ${value}) AS integer)`,
    round: (mask, { value, params }) => {
      // DuckDB's round(double, d) as double arithmetic, as in the PostgreSQL dialect.
      const x = double(value);
      const scale = `power(CAST(10 AS double), CAST(${params.add(Math.abs(mask.digits))} AS double))`;
      if (mask.digits >= 0) {
        return `CASE WHEN abs(${x}) <= ${MAX_DOUBLE} / ${scale} THEN ${roundHalfAwayFromZero(`${x} * ${scale}`)} / ${scale} ELSE ${x} END`;
      }
      return `CASE WHEN is_nan(${x}) OR is_infinite(${x}) THEN 0 ELSE ${roundHalfAwayFromZero(`${x} / ${scale}`)} * ${scale} END`;
    },
    bucket: (mask, { value, family, params }) => {
      const width = `CAST(${params.add(mask.width)} AS double)`;
      const bucket = `floor(${double(value)} / ${width}) * ${width}`;
      return family === 'integer' ? bigintHalfEven(bucket) : bucket;
    },
    // Trino's split_part gives NULL past the last field, DuckDB's gives ''.
    email_domain: (_mask, { text }) => `CASE WHEN strpos(${text}, '@') = 0 THEN '***@' ELSE '***@' || split_part(${text}, '@', 2) END`
  },

  toText(value, engineType) {
    const type = engineType.toLowerCase();
    switch (this.familyOf(engineType)) {
      case 'float':
        return floatText(value);
      case 'timestamp':
        // With a time zone: the instant in UTC, written as DuckDB writes TIMESTAMPTZ in UTC.
        return type.includes('with time zone')
          ? `${trimFraction(`CAST(CAST(${value} AT TIME ZONE 'UTC' AS timestamp(6)) AS varchar)`)} || '+00'`
          : trimFraction(`CAST(${value} AS varchar)`);
      default:
        return `CAST(${value} AS varchar)`;
    }
  },

  literal(value, params) {
    // Bound as typed literals by the engine (see bindValue in ./statement.ts): a number is
    // never a string, so `text_column > 5` fails as on DuckDB instead of comparing text.
    return params.add(value);
  }
};
