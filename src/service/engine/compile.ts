/**
 * Compiles a policy decision plus the caller's request into one SQL query, in the
 * enforcement order (README, "Enforcement order"):
 *   1. row filters on raw values,
 *   2. cell masks, then column masks, then hidden columns dropped,
 *   3. only then the caller's projection, filter, order and limit, on the masked view.
 * Identifiers are quoted and every value is a bound parameter.
 */
import { ColumnAccess, MASK_INDICATOR_PREFIX } from '../../common/api';
import { MaskSpec, TypeFamily, applicableMask, maskLabel, restrictiveness } from '../../common/masks';
import { Expr, columnsOf } from '../policy/ast';
import { ColumnDecision, Decision } from '../policy/decide';
import { typeProblem } from '../policy/typecheck';
import { Dialect, MaskKeys, maskSql, maskedType } from './dialect';
import { SourceColumn } from './source';
import { Params, SqlQuery, quoteIdent } from './sql';

/** The caller's part of a query: all optional, all applied to the masked view. */
export interface ScanPlan {
  columns?: string[];
  filter?: Expr;
  orderBy?: { column: string; descending: boolean }[];
  limit?: number;
  /**
   * Also return the indicator column of each projected cell-masked column (MASK_INDICATOR_PREFIX).
   * The indicator then says which cells are masked, so those cells are withheld: NULL in the
   * column's own type, not the cell mask's value (which would mix a marker such as
   * '[blinded]' into the data, or turn a date column into text).
   */
  indicators?: boolean;
}

export interface OutputColumn {
  name: string;
  type: string;
  access: ColumnAccess;
  /** Compact mask label (`show_last(4)`) when masked. */
  mask?: string;
  /** Whether some rows of this column may carry a cell mask. */
  cellMasked: boolean;
  /** On an indicator column: the column whose cell masks it marks. */
  indicatorFor?: string;
}

export interface CompiledScan extends SqlQuery {
  /** The columns of the result, in order: the projection, then its indicator columns. */
  columns: OutputColumn[];
  /** The caller's row limit, when there is one: engines size their work by it. */
  limit?: number;
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

/** One mask on a column: the column mask (no condition) or a cell mask, with the type it produces. */
interface MaskLayer {
  mask: MaskSpec;
  type: string;
  when?: Expr;
  /** A cell mask whose cells are withheld: NULL of `type` (ScanPlan.indicators). */
  withheld?: boolean;
}

/** How one column is masked: what its SQL and its output type are built from. */
interface MaskedColumn {
  source: SourceColumn;
  family: TypeFamily;
  /**
   * The column mask (made to fit the column's type), then the cell masks that change
   * something, each wrapping the ones before: the first policy's cell mask is outermost.
   */
  layers: MaskLayer[];
  output: OutputColumn;
}

const NO_LAYERS: MaskLayer[] = [];

function maskColumn(column: SourceColumn, decision: ColumnDecision, dialect: Dialect, withheldCells: boolean): MaskedColumn {
  if (!decision.mask && decision.cellMasks.length === 0) {
    return { source: column, family: 'other', layers: NO_LAYERS, output: { name: column.name, type: column.type, access: 'clear', cellMasked: false } };
  }
  const family = dialect.familyOf(column.type);
  const columnMask = decision.mask && applicableMask(decision.mask, family);
  const layers: MaskLayer[] = columnMask ? [{ mask: columnMask, type: maskedType(dialect, columnMask, column.type, family) }] : [];
  let type = columnMask ? layers[0].type : column.type;
  for (let i = decision.cellMasks.length - 1; i >= 0; i--) {
    const mask = applicableMask(decision.cellMasks[i].mask, family);
    // A cell mask no more restrictive than the column mask would weaken it on its rows: skipped.
    if (columnMask && restrictiveness(mask) <= restrictiveness(columnMask)) continue;
    if (withheldCells) {
      layers.push({ mask, type, when: decision.cellMasks[i].when, withheld: true });
      continue;
    }
    const layer = { mask, type: maskedType(dialect, mask, column.type, family), when: decision.cellMasks[i].when };
    // The branches of a cell mask's CASE share one type, or both become text (see columnSql).
    if (layer.type !== type) type = dialect.types.text;
    layers.push(layer);
  }
  return {
    source: column,
    family,
    layers,
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
 * True where `condition` holds or is unknown (NULL): cell masks fail closed. Spelt
 * `IS DISTINCT FROM FALSE`, which DuckDB, PostgreSQL and Trino all read (Trino has no `IS NOT FALSE`).
 */
function holdsOrUnknown(condition: string): string {
  return `(${condition}) IS DISTINCT FROM FALSE`;
}

/** The SQL of a masked column, named as the column. */
function columnSql(masked: MaskedColumn, rawScope: ReadonlySet<string>, dialect: Dialect, keys: MaskKeys, params: Params): string {
  const { source, family, layers } = masked;
  const raw = quoteIdent(source.name);
  if (layers.length === 0) return raw;
  let sql = raw;
  let type = source.type;
  for (const layer of layers) {
    const value = layer.withheld ? `CAST(NULL AS ${layer.type})` : maskSql(dialect, layer.mask, raw, source.type, keys, params, family);
    if (!layer.when) {
      sql = value;
      type = layer.type;
      continue;
    }
    // Rows where the condition holds, or is unknown (fail closed), get the cell mask.
    const condition = compileExpr(layer.when, rawScope, dialect, params);
    sql =
      layer.type === type
        ? `CASE WHEN ${holdsOrUnknown(condition)} THEN ${value} ELSE ${sql} END`
        : `CASE WHEN ${holdsOrUnknown(condition)} THEN ${dialect.toText(value, layer.type)} ELSE ${dialect.toText(sql, type)} END`;
    if (layer.type !== type) type = dialect.types.text;
  }
  return `${sql} AS ${raw}`;
}

/** True in the rows where a cell mask replaced the column's value: where one of its conditions holds or is unknown. */
function indicatorSql(masked: MaskedColumn, rawScope: ReadonlySet<string>, dialect: Dialect, params: Params): string {
  const conditions = masked.layers.filter(layer => layer.when).map(layer => holdsOrUnknown(compileExpr(layer.when!, rawScope, dialect, params)));
  return `${conditions.length ? conditions.join(' OR ') : 'FALSE'} AS ${quoteIdent(MASK_INDICATOR_PREFIX + masked.source.name)}`;
}

function indicatorColumn(column: OutputColumn, dialect: Dialect): OutputColumn {
  return { name: MASK_INDICATOR_PREFIX + column.name, type: dialect.types.boolean, access: 'clear', cellMasked: false, indicatorFor: column.name };
}

/** The columns a decision leaves visible, masked: hidden ones dropped, in the dataset's order. */
function maskColumns(decision: Decision, sourceColumns: SourceColumn[], dialect: Dialect, withheldCells: boolean): MaskedColumn[] {
  if (!decision.allowed) {
    throw new Error('compiling for a denied decision');
  }
  const masked: MaskedColumn[] = [];
  sourceColumns.forEach((column, i) => {
    // decide() lists columns in the dataset's order; look up by name only if that ever differs.
    const columnDecision = decision.columns[i]?.name === column.name ? decision.columns[i] : decision.columns.find(c => c.name === column.name)!;
    if (columnDecision.mask?.type !== 'hide') masked.push(maskColumn(column, columnDecision, dialect, withheldCells));
  });
  return masked;
}

/**
 * What a principal receives of a dataset, column by column (names, types after masking), without
 * compiling a query: as previews and the Python client receive it, with indicators.
 */
export function outputColumns(decision: Decision, sourceColumns: SourceColumn[], dialect: Dialect): OutputColumn[] {
  return maskColumns(decision, sourceColumns, dialect, true).map(column => column.output);
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
  const masked = maskColumns(decision, sourceColumns, dialect, plan.indicators === true);
  if (masked.length === 0) {
    throw new PlanError('bad_request', 'every column of this dataset is hidden from you');
  }
  const params = new Params();
  const rawScope = scopeOf(sourceColumns);
  const relation = source(params);
  const rowFilter = decision.rowFilters.map(filter => compileExpr(filter.expr, rawScope, dialect, params));

  // The caller sees only the masked view: its names are the only scope for the caller's plan.
  const visible = new Map(masked.map(column => [column.output.name, column]));
  const available = () => [...visible.keys()].join(', ');
  const projection = plan.columns ?? [...visible.keys()];
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
  if (plan.filter) {
    // Checked here, not left to the engine: its conversion errors would quote values of rows.
    const column = (name: string) => {
      const type = visible.get(name)?.output.type;
      return type === undefined ? undefined : { name, type, family: dialect.familyOf(type) };
    };
    const problem = typeProblem(plan.filter, { column, where: '', users: [], usersFrom: '' });
    if (problem) throw new PlanError('invalid_filter', `invalid filter: it ${problem}`);
  }

  const indicated = plan.indicators ? projection.map(name => visible.get(name)!).filter(column => column.output.cellMasked) : [];
  const selected = [
    ...masked.map(column => columnSql(column, rawScope, dialect, keys, params)),
    ...indicated.map(column => indicatorSql(column, rawScope, dialect, params))
  ];
  let sql = `SELECT ${selected.join(', ')} FROM ${relation} AS raw_source` + (rowFilter.length ? ` WHERE ${rowFilter.join(' AND ')}` : '');
  const outer = plan.columns ? [...projection, ...indicated.map(column => MASK_INDICATOR_PREFIX + column.source.name)].map(quoteIdent).join(', ') : '*';
  sql = `SELECT ${outer} FROM (${sql}) AS governed`;
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
  const columns = plan.columns ? projection.map(name => visible.get(name)!.output) : masked.map(column => column.output);
  const compiled: CompiledScan = { sql, params: params.values, columns: [...columns, ...indicated.map(column => indicatorColumn(column.output, dialect))] };
  if (plan.limit !== undefined) compiled.limit = plan.limit;
  return compiled;
}

/**
 * Counts the rows a decision lets through (its row filters; masks change no count), stopping
 * at `limit` so that a count over a huge source stays cheap: the result is one BIGINT column,
 * `rows`, at most `limit`.
 */
export function compileCount(decision: Decision, sourceColumns: SourceColumn[], dialect: Dialect, limit: number, source: (params: Params) => string): CompiledScan {
  if (!decision.allowed) {
    throw new Error('compiling for a denied decision');
  }
  const params = new Params();
  const rawScope = scopeOf(sourceColumns);
  const relation = source(params);
  const rowFilter = decision.rowFilters.map(filter => compileExpr(filter.expr, rawScope, dialect, params));
  const where = rowFilter.length ? ` WHERE ${rowFilter.join(' AND ')}` : '';
  const sql = `SELECT count(*) AS "rows" FROM (SELECT 1 AS counted FROM ${relation} AS raw_source${where} LIMIT ${params.add(limit)}) AS governed`;
  return { sql, params: params.values, columns: [{ name: 'rows', type: dialect.types.bigint, access: 'clear', cellMasked: false }] };
}
