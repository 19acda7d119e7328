/** Renders expressions back to canonical text, for people ("rows where country = 'US'"). */
import { Expr, LiteralValue } from './ast';

function literalText(value: LiteralValue, date?: boolean): string {
  if (value === null) {
    return 'NULL';
  }
  if (typeof value === 'string') {
    const quoted = `'${value.replace(/'/g, "''")}'`;
    return date ? `DATE ${quoted}` : quoted;
  }
  return typeof value === 'boolean' ? (value ? 'TRUE' : 'FALSE') : String(value);
}

function columnText(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** Precedence, so that parentheses appear only where needed. */
function rank(expr: Expr): number {
  return expr.kind === 'or' ? 1 : expr.kind === 'and' ? 2 : expr.kind === 'not' ? 3 : 4;
}

export function describeExpression(expr: Expr): string {
  const sub = (e: Expr, min: number) => (rank(e) < min ? `(${describeExpression(e)})` : describeExpression(e));
  switch (expr.kind) {
    case 'literal':
      return literalText(expr.value, expr.date);
    case 'column':
      return columnText(expr.name);
    case 'user':
      return `user.${expr.attribute}`;
    case 'compare':
      return `${sub(expr.left, 4)} ${expr.op} ${sub(expr.right, 4)}`;
    case 'in': {
      const list = expr.list.length === 1 && expr.list[0].kind === 'user'
        ? describeExpression(expr.list[0])
        : `(${expr.list.map(describeExpression).join(', ')})`;
      return `${sub(expr.operand, 4)} ${expr.negated ? 'NOT IN' : 'IN'} ${list}`;
    }
    case 'like':
      return `${sub(expr.operand, 4)} ${expr.negated ? 'NOT LIKE' : 'LIKE'} ${sub(expr.pattern, 4)}`;
    case 'is_null':
      return `${sub(expr.operand, 4)} IS ${expr.negated ? 'NOT NULL' : 'NULL'}`;
    case 'and':
      return `${sub(expr.left, 2)} AND ${sub(expr.right, 2)}`;
    case 'or':
      return `${sub(expr.left, 1)} OR ${sub(expr.right, 1)}`;
    case 'not':
      return `NOT ${sub(expr.operand, 3)}`;
  }
}
