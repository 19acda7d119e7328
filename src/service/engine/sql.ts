/** SQL building blocks shared by every dialect: bound parameters and quoted identifiers. */

export type SqlValue = string | number | boolean | null;

/** Collects bound values; `add` returns the placeholder to put in the SQL text. */
export class Params {
  readonly values: SqlValue[] = [];

  add(value: SqlValue): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** A query ready for an engine: text with placeholders, and the values bound to them. */
export interface SqlQuery {
  sql: string;
  params: SqlValue[];
}

/** Standard SQL identifier quoting: the only way a name enters SQL text. */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) {
    throw new Error('identifier contains a NUL character');
  }
  return name.includes('"') ? `"${name.replace(/"/g, '""')}"` : `"${name}"`;
}
