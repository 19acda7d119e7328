/** Syntax tree of the Warden expression language (row filters, cell-mask conditions, scan filters). */

export type LiteralValue = string | number | boolean | null;

export type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

export type Expr =
  | { kind: 'literal'; value: LiteralValue; date?: boolean }
  | { kind: 'column'; name: string }
  | { kind: 'user'; attribute: string }
  | { kind: 'compare'; op: CompareOp; left: Expr; right: Expr }
  | { kind: 'in'; negated: boolean; operand: Expr; list: Expr[] }
  | { kind: 'like'; negated: boolean; operand: Expr; pattern: Expr }
  | { kind: 'is_null'; negated: boolean; operand: Expr }
  | { kind: 'and'; left: Expr; right: Expr }
  | { kind: 'or'; left: Expr; right: Expr }
  | { kind: 'not'; operand: Expr };

/** Every column an expression reads. */
export function columnsOf(expr: Expr, into = new Set<string>()): Set<string> {
  switch (expr.kind) {
    case 'column':
      into.add(expr.name);
      break;
    case 'compare':
    case 'and':
    case 'or':
      columnsOf(expr.left, into);
      columnsOf(expr.right, into);
      break;
    case 'in':
      columnsOf(expr.operand, into);
      expr.list.forEach(item => columnsOf(item, into));
      break;
    case 'like':
      columnsOf(expr.operand, into);
      columnsOf(expr.pattern, into);
      break;
    case 'is_null':
    case 'not':
      columnsOf(expr.operand, into);
      break;
  }
  return into;
}

/** Whether an expression reads `user.*` attributes (scan filters may not, policies may). */
export function readsUser(expr: Expr): boolean {
  switch (expr.kind) {
    case 'user':
      return true;
    case 'compare':
    case 'and':
    case 'or':
      return readsUser(expr.left) || readsUser(expr.right);
    case 'in':
      return readsUser(expr.operand) || expr.list.some(readsUser);
    case 'like':
      return readsUser(expr.operand) || readsUser(expr.pattern);
    case 'is_null':
    case 'not':
      return readsUser(expr.operand);
    default:
      return false;
  }
}
