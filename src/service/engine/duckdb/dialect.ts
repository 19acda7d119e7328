/** DuckDB's SQL for masks, types and literals (see ../dialect.ts). */
import { DEFAULT_REDACTION } from '../../../common/masks';
import { Dialect } from '../dialect';

const nullOf = (_mask: unknown, { engineType }: { engineType: string }) => `CAST(NULL AS ${engineType})`;

export const duckdbDialect: Dialect = {
  name: 'duckdb',
  types: { text: 'VARCHAR', integer: 'INTEGER', bigint: 'BIGINT', double: 'DOUBLE', boolean: 'BOOLEAN' },

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

  masks: {
    redact: (mask, { params }) => `CAST(${params.add(mask.value ?? DEFAULT_REDACTION)} AS VARCHAR)`,
    null: nullOf,
    hide: nullOf,
    hash: (_mask, { text, keys, params }) => `sha256(${params.add(keys.hash)} || ${text})`,
    tokenize: (_mask, { text, keys, params }) => `'tok_' || left(sha256(${params.add(keys.token)} || ${text}), 16)`,
    show_first: (mask, { text, params }) => {
      const n = `CAST(${params.add(mask.n)} AS INTEGER)`;
      return `left(${text}, ${n}) || repeat('*', greatest(length(${text}) - ${n}, 0))`;
    },
    show_last: (mask, { text, params }) => {
      const n = `CAST(${params.add(mask.n)} AS INTEGER)`;
      return `repeat('*', greatest(length(${text}) - ${n}, 0)) || right(${text}, ${n})`;
    },
    year_only: (_mask, { value }) => `CAST(EXTRACT(YEAR FROM ${value}) AS INTEGER)`,
    round: (mask, { value, params }) => `round(CAST(${value} AS DOUBLE), CAST(${params.add(mask.digits)} AS INTEGER))`,
    bucket: (mask, { value, family, params }) => {
      const width = `CAST(${params.add(mask.width)} AS DOUBLE)`;
      const bucket = `floor(CAST(${value} AS DOUBLE) / ${width}) * ${width}`;
      return family === 'integer' ? `CAST(${bucket} AS BIGINT)` : bucket;
    },
    email_domain: (_mask, { text }) => `'***@' || split_part(${text}, '@', 2)`
  },

  toText(value) {
    return `CAST(${value} AS VARCHAR)`;
  },

  literal(value, params) {
    return params.add(value);
  }
};
