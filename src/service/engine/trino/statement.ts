/**
 * The statement Trino runs for a compiled query: `EXECUTE IMMEDIATE '<query>' USING <values>`.
 * The compiler's `$n` become Trino's positional `?`, and each value is a literal made from the
 * value alone (`'it''s'`, `BIGINT '5'`, `DECIMAL '12.5'`), never part of the query text.
 */
import { SqlValue } from '../sql';

/**
 * The compiled SQL with each use of `$n` turned into a `?`, its value listed once per use
 * (Trino's parameters are positional; a compiled query may use one `$n` more than once).
 */
export function toPositional(sql: string, params: SqlValue[]): { sql: string; values: SqlValue[] } {
  const values: SqlValue[] = [];
  // Quoted names and string literals are skipped whole: a `$1` inside them is not a parameter.
  const text = sql.replace(/"(?:[^"]|"")*"|'(?:[^']|'')*'|\$(\d+)/g, (token, index: string | undefined) => {
    if (index === undefined) return token;
    const position = Number(index) - 1;
    if (position < 0 || position >= params.length) throw new Error(`parameter $${index} has no value`);
    values.push(params[position]);
    return '?';
  });
  return { sql: text, values };
}

/** A value as the literal of an `EXECUTE ... USING` list: typed by the value alone, never SQL. */
export function bindValue(value: SqlValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot bind ${value}: not a finite number`);
    if (Number.isSafeInteger(value)) return `BIGINT '${value}'`;
    // Decimal like DuckDB's and PostgreSQL's literals: `amount < 12.5` compares exactly.
    const text = String(value);
    return /e/i.test(text) ? `DOUBLE '${text}'` : `DECIMAL '${text}'`;
  }
  return `'${value.replace(/'/g, "''")}'`;
}

/** The statement Trino runs: the query text with `?`, its values bound in USING. */
export function executeStatement(sql: string, params: SqlValue[]): string {
  const positional = toPositional(sql, params);
  const statement = `EXECUTE IMMEDIATE ${bindValue(positional.sql)}`;
  return positional.values.length ? `${statement} USING ${positional.values.map(bindValue).join(', ')}` : statement;
}
