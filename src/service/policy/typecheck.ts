/**
 * Types in expressions: a column is compared only with values of its own kind (text, number,
 * boolean, date), whether literals, other columns or `user.*` attributes. A mismatch would
 * make the engine convert values row by row and fail, and engines name the offending raw value
 * in their errors (`Could not convert string 'DE' to INT32`), from rows the caller may not
 * see. So every expression is checked before it runs: policies at load (for the users of
 * directory.yaml, config/policy-checks.ts) and again when bound to a principal (decide.ts:
 * attributes may come from token claims), the caller's filter against the columns as the
 * caller sees them (engine/compile.ts).
 */
import { AttributeValue } from '../../common/api';
import { TypeFamily } from '../../common/masks';
import { Expr } from './ast';
import { describeExpression } from './describe';

export type ValueKind = 'text' | 'number' | 'boolean' | 'date';

const KIND_OF_FAMILY: Partial<Record<TypeFamily, ValueKind>> = {
  text: 'text',
  integer: 'number',
  decimal: 'number',
  float: 'number',
  boolean: 'boolean',
  date: 'date',
  timestamp: 'date'
};

/** A column as the check sees it: its engine type (for messages) and type family. */
export interface TypedColumn {
  name: string;
  type: string;
  family: TypeFamily;
}

/** A column whose type may not be known (a dataset's facts before its source is read): typed only if it is. */
export function typedColumn(column: { name: string; type?: string; family?: TypeFamily } | undefined): TypedColumn | undefined {
  return column?.type && column.family ? { name: column.name, type: column.type, family: column.family } : undefined;
}

/** What the names in an expression stand for. */
export interface TypeScope {
  column(name: string): TypedColumn | undefined;
  /** Where the columns are, for messages (` in drug_xyz.trial_july2020`); empty for the caller's own view. */
  where: string;
  /** The users `user.*` stands for, with their attributes; none where expressions may not read `user.*`. */
  users: readonly (readonly [string, Readonly<Record<string, AttributeValue>>])[];
  /** Where the users' attributes come from, for messages (` in directory.yaml`). */
  usersFrom: string;
}

/** The kinds an operand may have, with the users giving each (for user attributes), and words for it. */
interface Operand {
  kinds: Map<ValueKind, string[]>;
  what: string;
}

function kindOfValue(value: AttributeValue | string | number | boolean): ValueKind {
  if (Array.isArray(value)) return 'text';
  return typeof value === 'string' ? 'text' : typeof value === 'number' ? 'number' : 'boolean';
}

function operand(expr: Expr, scope: TypeScope): Operand | undefined {
  switch (expr.kind) {
    case 'column': {
      const column = scope.column(expr.name);
      const kind = column && KIND_OF_FAMILY[column.family];
      return kind && { kinds: new Map([[kind, []]]), what: `column "${expr.name}" (${column.type}${scope.where})` };
    }
    case 'literal':
      if (expr.value === null) return undefined;
      return { kinds: new Map([[expr.date ? 'date' : kindOfValue(expr.value), []]]), what: describeExpression(expr) };
    case 'user': {
      if (expr.attribute === 'name' || expr.attribute === 'groups') return { kinds: new Map([['text', []]]), what: `user.${expr.attribute}` };
      const kinds = new Map<ValueKind, string[]>();
      for (const [user, attributes] of scope.users) {
        const value = Object.prototype.hasOwnProperty.call(attributes, expr.attribute) ? attributes[expr.attribute] : undefined;
        if (value === undefined || value === null) continue;
        const kind = kindOfValue(value);
        kinds.set(kind, [...(kinds.get(kind) ?? []), user]);
      }
      return kinds.size ? { kinds, what: `user.${expr.attribute}` } : undefined;
    }
    default:
      return undefined;
  }
}

/** Text that reads as an ISO date is a date to the engines too. */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}(:?\d{2})?|Z)?)?$/;

function compatible(column: ValueKind, value: ValueKind, other: Expr): boolean {
  return column === value || (column === 'date' && value === 'text' && other.kind === 'literal' && ISO_DATE.test(String(other.value)));
}

function listed(names: string[]): string {
  return names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
}

const ARTICLE: Record<ValueKind, string> = { text: 'text', number: 'a number', boolean: 'a boolean', date: 'a date' };

/**
 * What is wrong with the types of `expr`, in words (`compares column "country" (VARCHAR) with
 * 5, which is a number: compare values of the column's type (text)`); undefined if nothing.
 * The words name columns, literals and attributes of the expression, never a value of a row.
 */
export function typeProblem(expr: Expr, scope: TypeScope): string | undefined {
  const pair = (left: Expr, right: Expr, verb: string): string | undefined => {
    const [a, b] = [operand(left, scope), operand(right, scope)];
    if (!a || !b) return undefined;
    // Checked from the column's side: it has one kind; the other side may have several (users differ).
    const [column, value, other] = left.kind === 'column' ? [a, b, right] : [b, a, left];
    const [columnKind] = [...column.kinds.keys()];
    for (const [kind, users] of value.kinds) {
      if (!compatible(columnKind, kind, other)) {
        const whose = users.length ? ` for ${listed(users)}${scope.usersFrom}` : '';
        return `${verb} ${column.what} with ${value.what}, which is ${ARTICLE[kind]}${whose}: compare values of the column's type (${columnKind})`;
      }
    }
    return undefined;
  };
  switch (expr.kind) {
    case 'compare':
      return pair(expr.left, expr.right, 'compares');
    case 'in':
      return expr.list.map(item => pair(expr.operand, item, 'looks up')).find(Boolean);
    case 'like': {
      const matched = operand(expr.operand, scope);
      const kind = matched && [...matched.kinds.keys()][0];
      return kind && kind !== 'text' ? `matches ${matched.what} with LIKE, which needs text` : pair(expr.operand, expr.pattern, 'matches');
    }
    case 'and':
    case 'or':
      return typeProblem(expr.left, scope) ?? typeProblem(expr.right, scope);
    case 'not':
    case 'is_null':
      return typeProblem(expr.operand, scope);
    default:
      return undefined;
  }
}
