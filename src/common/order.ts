/**
 * Row order in the API: `orderBy` entries such as `"age DESC"` (scan bodies, previews, a
 * dataset's default order). No dependencies: the extension reads and writes them too.
 */

/** An `orderBy` entry: a column name (double-quoted if need be), optionally ASC or DESC. */
export const ORDER_KEY = /^\s*(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_]*))(?:\s+([Aa][Ss][Cc]|[Dd][Ee][Ss][Cc]))?\s*$/;

export interface OrderKey {
  column: string;
  descending: boolean;
}

/** An `orderBy` entry read, or null when it is not one. */
export function parseOrderKey(text: string): OrderKey | null {
  const match = ORDER_KEY.exec(text);
  if (!match) return null;
  const [, quoted, bare, direction] = match;
  return { column: quoted ? quoted.replace(/""/g, '"') : bare, descending: direction?.toUpperCase() === 'DESC' };
}

/** An `orderBy` entry for a key, quoting the column name when it needs it. */
export function formatOrderKey(key: OrderKey): string {
  const column = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key.column) ? key.column : `"${key.column.replace(/"/g, '""')}"`;
  return key.descending ? `${column} DESC` : column;
}
