/**
 * Compiles a policy decision plus the caller's request into one SQL query, in the
 * enforcement order of DESIGN.md:
 *   1. row filters on raw values,
 *   2. cell masks, then column masks, then hidden columns dropped,
 *   3. only then the caller's projection, filter, order and limit, on the masked view.
 * Identifiers are quoted and every value is a bound parameter.
 */
import { ColumnAccess, MaskSpec } from '../../common/api';
import { Expr, columnsOf } from '../policy/ast';
import { Decision } from '../policy/decide';
import { maskLabel, restrictiveness } from '../policy/masks';
import { Dialect, MaskKeys, maskedType } from './dialect';
import { Params, SqlQuery, quoteIdent } from './sql';

export interface SourceColumn {
  name: string;
  /** The engine's own type name, e.g. VARCHAR, DATE, DECIMAL(10,2). */
  type: string;
}

/** The caller's part of a query: all optional, all applied to the masked view. */
export interface ScanPlan {
  columns?: string[];
  filter?: Expr;
  orderBy?: { column: string; descending: boolean }[];
  limit?: number;
}

export interface OutputColumn {
  name: string;
  type: string;
  access: ColumnAccess;
  /** Compact mask label (`show_last(4)`) when masked. */
  mask?: string;
  /** Whether some rows of this column may carry a cell mask. */
  cellMasked: boolean;
}

export interface CompiledScan extends SqlQuery {
  columns: OutputColumn[];
}

/** A caller error in the plan (unknown column...): reported as 400, never as a leak. */
export class PlanError extends Error {
  constructor(
    readonly code: 'unknown_column' | 'invalid_filter' | 'bad_request',
    message: string
  ) {
    super(message);
  }
}

/** Masks that cannot apply to a column's type fall back to redaction: fail closed. */
function applicableMask(mask: MaskSpec, dialect: Dialect, type: string): MaskSpec {
  const family = dialect.familyOf(type);
  const numeric = family === 'integer' || family === 'decimal' || family === 'float';
  if (mask.type === 'year_only' && family !== 'date' && family !== 'timestamp') return { type: 'redact' };
  if ((mask.type === 'round' || mask.type === 'bucket') && !numeric) return { type: 'redact' };
  return mask;
}

export function compileExpr(expr: Expr, scope: { has(name: string): boolean }, dialect: Dialect, params: Params): string {
  const sub = (e: Expr) => compileExpr(e, scope, dialect, params);
  switch (expr.kind) {
    case 'literal':
      if (expr.value === null) return 'NULL';
      if (typeof expr.value === 'boolean') return expr.value ? 'TRUE' : 'FALSE';
      return expr.date ? `CAST(${params.add(expr.value)} AS DATE)` : dialect.literal(expr.value, params);
    case 'column':
      if (!scope.has(expr.name)) {
        throw new PlanError('unknown_column', `unknown column "${expr.name}"`);
      }
      return quoteIdent(expr.name);
    case 'user':
      // Policies are bound to the principal before compilation; callers may not read user.*.
      throw new PlanError('invalid_filter', `user.${expr.attribute} cannot be used here`);
    case 'compare':
      return `(${sub(expr.left)} ${expr.op === '!=' ? '<>' : expr.op} ${sub(expr.right)})`;
    case 'in':
      if (expr.list.length === 0) return expr.negated ? 'TRUE' : 'FALSE';
      return `(${sub(expr.operand)} ${expr.negated ? 'NOT IN' : 'IN'} (${expr.list.map(sub).join(', ')}))`;
    case 'like':
      return `(${sub(expr.operand)} ${expr.negated ? 'NOT LIKE' : 'LIKE'} ${sub(expr.pattern)})`;
    case 'is_null':
      return `(${sub(expr.operand)} IS ${expr.negated ? 'NOT NULL' : 'NULL'})`;
    case 'and':
      return `(${sub(expr.left)} AND ${sub(expr.right)})`;
    case 'or':
      return `(${sub(expr.left)} OR ${sub(expr.right)})`;
    case 'not':
      return `(NOT ${sub(expr.operand)})`;
  }
}

const scopes = new WeakMap<SourceColumn[], ReadonlySet<string>>();

/** The raw column names of a source, computed once per catalog entry. */
function scopeOf(columns: SourceColumn[]): ReadonlySet<string> {
  let scope = scopes.get(columns);
  if (!scope) {
    scope = new Set(columns.map(column => column.name));
    scopes.set(columns, scope);
  }
  return scope;
}

interface MaskedColumn {
  sql: string;
  output: OutputColumn;
}

function maskColumn(
  column: SourceColumn,
  decision: Decision['columns'][number],
  rawScope: ReadonlySet<string>,
  dialect: Dialect,
  keys: MaskKeys,
  params: Params
): MaskedColumn {
  const raw = quoteIdent(column.name);
  if (!decision.mask && decision.cellMasks.length === 0) {
    return { sql: raw, output: { name: column.name, type: column.type, access: 'clear', cellMasked: false } };
  }
  const columnMask = decision.mask && applicableMask(decision.mask, dialect, column.type);
  const apply = (mask: MaskSpec) => dialect.mask(mask, raw, column.type, keys, params);
  let sql = columnMask ? apply(columnMask) : raw;
  let type = columnMask ? maskedType(dialect, columnMask, column.type) : column.type;

  // Cell masks wrap the column mask: rows where the condition holds (or is unknown: fail
  // closed) get the more restrictive of the cell mask and the column mask.
  for (let i = decision.cellMasks.length - 1; i >= 0; i--) {
    const cell = decision.cellMasks[i];
    const cellMask = applicableMask(cell.mask, dialect, column.type);
    if (columnMask && restrictiveness(columnMask) >= restrictiveness(cellMask)) {
      continue;
    }
    const cellType = maskedType(dialect, cellMask, column.type);
    const sameType = cellType === type;
    const masked = apply(cellMask);
    const condition = compileExpr(cell.when, rawScope, dialect, params);
    sql = sameType
      ? `CASE WHEN ${condition} IS NOT FALSE THEN ${masked} ELSE ${sql} END`
      : `CASE WHEN ${condition} IS NOT FALSE THEN ${dialect.toText(masked, cellType)} ELSE ${dialect.toText(sql, type)} END`;
    type = sameType ? type : dialect.types.text;
  }
  return {
    sql: sql === raw ? raw : `${sql} AS ${raw}`,
    output: {
      name: column.name,
      type,
      access: columnMask ? 'masked' : 'clear',
      mask: columnMask ? maskLabel(columnMask) : undefined,
      cellMasked: decision.cellMasks.length > 0
    }
  };
}

/**
 * @param source SQL for the raw relation (e.g. `read_parquet($1)`), using `params`.
 */
export function compileScan(
  decision: Decision,
  sourceColumns: SourceColumn[],
  plan: ScanPlan,
  dialect: Dialect,
  keys: MaskKeys,
  source: (params: Params) => string
): CompiledScan {
  if (!decision.allowed) {
    throw new Error('compileScan called for a denied decision');
  }
  const params = new Params();
  const rawScope = scopeOf(sourceColumns);
  const relation = source(params);
  const rowFilter = decision.rowFilters.map(filter => compileExpr(filter.expr, rawScope, dialect, params));
  const masked: MaskedColumn[] = [];
  sourceColumns.forEach((column, i) => {
    // decide() lists columns in the dataset's order; look up by name only if that ever differs.
    const columnDecision = decision.columns[i]?.name === column.name ? decision.columns[i] : decision.columns.find(c => c.name === column.name)!;
    if (columnDecision.mask?.type !== 'hide') masked.push(maskColumn(column, columnDecision, rawScope, dialect, keys, params));
  });
  if (masked.length === 0) {
    throw new PlanError('bad_request', 'every column of this dataset is hidden from you');
  }

  // The caller sees only the masked view: its names are the only scope for the caller's plan.
  const visible = new Map(masked.map(column => [column.output.name, column.output]));
  const available = () => [...visible.keys()].join(', ');
  const projection = plan.columns ?? masked.map(column => column.output.name);
  if (projection.length === 0) {
    throw new PlanError('bad_request', 'columns is empty: name at least one column, or leave it out for all');
  }
  const missing = plan.columns ? projection.filter(name => !visible.has(name)) : [];
  if (missing.length) {
    throw new PlanError('unknown_column', `unknown column${missing.length > 1 ? 's' : ''} ${missing.map(name => `"${name}"`).join(', ')}; available: ${available()}`);
  }
  for (const name of plan.filter ? columnsOf(plan.filter) : []) {
    if (!visible.has(name)) {
      throw new PlanError('unknown_column', `unknown column "${name}" in filter; available: ${available()}`);
    }
  }

  let sql =
    `SELECT ${masked.map(column => column.sql).join(', ')} FROM ${relation} AS raw_source` +
    (rowFilter.length ? ` WHERE ${rowFilter.join(' AND ')}` : '');
  sql = `SELECT ${plan.columns ? projection.map(quoteIdent).join(', ') : '*'} FROM (${sql}) AS governed`;
  if (plan.filter) {
    sql += ` WHERE ${compileExpr(plan.filter, visible, dialect, params)}`;
  }
  if (plan.orderBy?.length) {
    const keysSql = plan.orderBy.map(key => {
      if (!visible.has(key.column)) {
        throw new PlanError('unknown_column', `unknown column "${key.column}" in orderBy`);
      }
      // NULLS LAST spelled out: engines differ in where NULLs go by default (PostgreSQL: first when descending).
      return `${quoteIdent(key.column)} ${key.descending ? 'DESC' : 'ASC'} NULLS LAST`;
    });
    sql += ` ORDER BY ${keysSql.join(', ')}`;
  }
  if (plan.limit !== undefined) {
    sql += ` LIMIT ${params.add(plan.limit)}`;
  }
  return { sql, params: params.values, columns: plan.columns ? projection.map(name => visible.get(name)!) : masked.map(column => column.output) };
}

