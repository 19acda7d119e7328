/** Resolves `user.*` references against a principal, giving an expression of columns and literals only. */
import { AttributeValue, Principal } from '../../common/api';
import { Expr, LiteralValue } from './ast';

export class BindError extends Error {}

function attributeOf(principal: Principal, attribute: string): AttributeValue | null {
  if (attribute === 'name') {
    return principal.user;
  }
  if (attribute === 'groups') {
    return principal.groups;
  }
  return Object.prototype.hasOwnProperty.call(principal.attributes, attribute)
    ? principal.attributes[attribute]
    : null;
}

function literal(value: LiteralValue): Expr {
  return { kind: 'literal', value };
}

function scalar(principal: Principal, attribute: string): Expr {
  const value = attributeOf(principal, attribute);
  if (Array.isArray(value)) {
    throw new BindError(`user.${attribute} is a list: compare it with IN, e.g. "column IN user.${attribute}"`);
  }
  // A missing attribute is NULL, which matches no row: policies fail closed.
  return literal(value);
}

export function bindUser(expr: Expr, principal: Principal): Expr {
  const bind = (e: Expr): Expr => bindUser(e, principal);
  switch (expr.kind) {
    case 'user':
      return scalar(principal, expr.attribute);
    case 'compare':
      return { ...expr, left: bind(expr.left), right: bind(expr.right) };
    case 'and':
    case 'or':
      return { ...expr, left: bind(expr.left), right: bind(expr.right) };
    case 'in':
      return {
        ...expr,
        operand: bind(expr.operand),
        list: expr.list.flatMap(item => {
          if (item.kind !== 'user') {
            return [bind(item)];
          }
          const value = attributeOf(principal, item.attribute);
          if (value === null) {
            return [];
          }
          return (Array.isArray(value) ? value : [value]).map(literal);
        })
      };
    case 'like':
      return { ...expr, operand: bind(expr.operand), pattern: bind(expr.pattern) };
    case 'is_null':
    case 'not':
      return { ...expr, operand: bind(expr.operand) };
    default:
      return expr;
  }
}
