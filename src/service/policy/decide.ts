/**
 * The policy engine: a pure function from (principal, dataset, policies) to a decision.
 * No I/O, no SQL: engine adapters compile the decision (see engine/compile.ts).
 */
import { CellMaskEffect, ColumnEffect, MaskSpec, Principal } from '../../common/api';
import { ColumnSelector, DatasetSelector, Policy, PrincipalSelector } from './types';
import { Expr, columnsOf } from './ast';
import { BindError, bindUser } from './bind';
import { describeExpression } from './describe';
import { TypeFamily, describeMask, moreRestrictive } from '../../common/masks';
import { typeProblem, typedColumn } from './typecheck';

/** The parts of a dataset the engine needs to decide: names and tags, and the columns' types where known. */
export interface DatasetFacts {
  name: string;
  tags: string[];
  /** `type` (the engine's) and `family`: known once the source was read; policies are then type-checked when bound. */
  columns: { name: string; tags: string[]; type?: string; family?: TypeFamily }[];
}

export interface RowFilter {
  policy: string;
  /** With `user.*` resolved: only columns and literals. */
  expr: Expr;
}

export interface CellMask {
  policy: string;
  mask: MaskSpec;
  when: Expr;
}

export interface ColumnDecision {
  name: string;
  /** The winning whole-column mask; undefined means clear. */
  mask?: MaskSpec;
  cellMasks: CellMask[];
  effect: ColumnEffect;
}

export interface Decision {
  allowed: boolean;
  /** Why access was refused (for the audit log; callers are told "not found"). */
  denial?: string;
  rowFilters: RowFilter[];
  columns: ColumnDecision[];
  /**
   * Names of every policy that shaped this view, in policy order: the grants, the row filters,
   * each column's winning mask and the cell masks of columns left visible; not a mask that a
   * more restrictive one overrode, nor a cell mask on a hidden column.
   */
  policies: string[];
}

const globs = new Map<string, RegExp | string>();

/**
 * `*` and `?` wildcards, which match any characters, line breaks too (`s`: a source's column
 * named with one must not slip past a mask on `*`); compiled once per pattern, plain names
 * compared as they are.
 */
export function globMatches(pattern: string, value: string): boolean {
  let compiled = globs.get(pattern);
  if (compiled === undefined) {
    compiled = /[*?]/.test(pattern)
      ? new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's')
      : pattern;
    globs.set(pattern, compiled);
  }
  return typeof compiled === 'string' ? compiled === value : compiled.test(value);
}

export function principalMatches(selector: PrincipalSelector, principal: Principal): boolean {
  if (selector.everyone) {
    return true;
  }
  if (selector.users?.includes(principal.user)) {
    return true;
  }
  if (selector.groups?.some(group => principal.groups.includes(group))) {
    return true;
  }
  const wanted = Object.entries(selector.attributes ?? {});
  return (
    wanted.length > 0 &&
    wanted.every(([key, expected]) => {
      const actual = principal.attributes[key];
      const actualValues: readonly (string | number | boolean)[] = Array.isArray(actual) ? actual : actual === undefined ? [] : [actual];
      const expectedValues = Array.isArray(expected) ? expected : [expected];
      return expectedValues.some(value => actualValues.includes(value));
    })
  );
}

/** Whether a policy concerns this principal: selected by `principals` and not exempted by `unless`. */
export function policyAppliesTo(policy: Policy, principal: Principal): boolean {
  return principalMatches(policy.principals, principal) && !(policy.unless && principalMatches(policy.unless, principal));
}

export function datasetMatches(selector: DatasetSelector, dataset: { name: string; tags: string[] }): boolean {
  return (
    (selector.names ?? []).some(pattern => globMatches(pattern, dataset.name)) ||
    (selector.tags ?? []).some(tag => dataset.tags.includes(tag))
  );
}

/**
 * Policies by what their dataset selector can match (exact name, tag, or the literal prefix of
 * a name pattern), so that a decision looks at the few policies that can concern a dataset,
 * not at all of them. Built once per policy set.
 */
interface PolicyIndex {
  byName: Map<string, number[]>;
  byTag: Map<string, number[]>;
  byPrefix: Map<string, number[]>;
}

const policyIndexes = new WeakMap<readonly Policy[], PolicyIndex>();

function policyIndex(policies: readonly Policy[]): PolicyIndex {
  let index = policyIndexes.get(policies);
  if (!index) {
    index = { byName: new Map(), byTag: new Map(), byPrefix: new Map() };
    const add = (map: Map<string, number[]>, key: string, position: number) => map.set(key, [...(map.get(key) ?? []), position]);
    policies.forEach((policy, position) => {
      for (const pattern of policy.datasets.names ?? []) {
        const wildcard = pattern.search(/[*?]/);
        if (wildcard < 0) add(index!.byName, pattern, position);
        else add(index!.byPrefix, pattern.slice(0, wildcard), position);
      }
      for (const tag of policy.datasets.tags ?? []) add(index!.byTag, tag, position);
    });
    policyIndexes.set(policies, index);
  }
  return index;
}

/** The policies whose dataset selector might match, in policy order (a superset: still checked exactly). */
function candidatePolicies(policies: readonly Policy[], dataset: DatasetFacts): Policy[] {
  const index = policyIndex(policies);
  const positions = new Set<number>(index.byName.get(dataset.name));
  for (const tag of dataset.tags) index.byTag.get(tag)?.forEach(position => positions.add(position));
  for (let end = 0; end <= dataset.name.length; end++) {
    index.byPrefix.get(dataset.name.slice(0, end))?.forEach(position => positions.add(position));
  }
  return [...positions].sort((a, b) => a - b).map(position => policies[position]);
}

type Column = DatasetFacts['columns'][number];

/** Columns by name and by tag, so that selecting columns does not scan them all per policy. */
interface ColumnIndex {
  byName: Map<string, Column>;
  byTag: Map<string, Column[]>;
}

const columnIndexes = new WeakMap<DatasetFacts, ColumnIndex>();

function indexOf(dataset: DatasetFacts): ColumnIndex {
  let index = columnIndexes.get(dataset);
  if (!index) {
    index = { byName: new Map(), byTag: new Map() };
    for (const column of dataset.columns) {
      index.byName.set(column.name, column);
      for (const tag of column.tags) index.byTag.set(tag, [...(index.byTag.get(tag) ?? []), column]);
    }
    columnIndexes.set(dataset, index);
  }
  return index;
}

/**
 * The columns a selector picks, each with the reason shown to the user: the first of the
 * selector's tags that the column has, else its name.
 */
function selectColumns(selector: ColumnSelector, dataset: DatasetFacts): Map<Column, string> {
  const index = indexOf(dataset);
  const picked = new Map<Column, string>();
  for (const tag of selector.tags ?? []) {
    for (const column of index.byTag.get(tag) ?? []) if (!picked.has(column)) picked.set(column, `tag ${tag}`);
  }
  for (const pattern of selector.names ?? []) {
    const matches = /[*?]/.test(pattern) ? dataset.columns.filter(column => globMatches(pattern, column.name)) : [index.byName.get(pattern)].filter((column): column is Column => !!column);
    for (const column of matches) if (!picked.has(column)) picked.set(column, `column ${column.name}`);
  }
  return picked;
}

interface MaskCandidate {
  policy: string;
  mask: MaskSpec;
  reason: string;
}

/** Shared by every column left in the clear: wide datasets decide without an object per column. */
const CLEAR: ColumnEffect = Object.freeze({ access: 'clear', description: 'clear', cellMasks: Object.freeze([]) as never });
const NO_CELL_MASKS: CellMask[] = Object.freeze([]) as never;

function effectOf(winner: MaskCandidate | undefined, cellMasks: CellMask[]): ColumnEffect {
  if (!winner && cellMasks.length === 0) return CLEAR;
  const cells: CellMaskEffect[] = cellMasks.map(cell => ({
    policy: cell.policy,
    mask: cell.mask,
    description: describeMask(cell.mask),
    condition: describeExpression(cell.when)
  }));
  if (!winner) {
    return { access: 'clear', description: cells.length ? 'clear except where a cell mask applies' : 'clear', cellMasks: cells };
  }
  return {
    access: winner.mask.type === 'hide' ? 'hidden' : 'masked',
    mask: winner.mask,
    description: describeMask(winner.mask),
    policy: winner.policy,
    reason: winner.reason,
    cellMasks: winner.mask.type === 'hide' ? [] : cells
  };
}

function denied(denial: string): Decision {
  return { allowed: false, denial, rowFilters: [], columns: [], policies: [] };
}

export function decide(principal: Principal, dataset: DatasetFacts, policies: readonly Policy[]): Decision {
  const applicable = candidatePolicies(policies, dataset).filter(policy => datasetMatches(policy.datasets, dataset) && policyAppliesTo(policy, principal));
  const deny = applicable.find(policy => policy.effect === 'deny');
  if (deny) {
    return denied(`denied by policy ${deny.name}`);
  }
  const grants = applicable.filter(policy => policy.effect === 'grant');
  if (grants.length === 0) {
    return denied('no grant matches');
  }

  const columnNames = indexOf(dataset).byName;
  const rowFilters: RowFilter[] = [];
  const masks = new Map<string, MaskCandidate>();
  const cellMasks = new Map<string, CellMask[]>();

  try {
    for (const policy of applicable) {
      if (policy.effect === 'row_filter') {
        requireColumns(policy.name, policy.filter, columnNames, dataset.name);
        requireTypes(policy.name, 'filter', policy.filter, dataset, principal);
        rowFilters.push({ policy: policy.name, expr: bindUser(policy.filter, principal) });
      } else if (policy.effect === 'column_mask' || policy.effect === 'cell_mask') {
        if (policy.effect === 'cell_mask') {
          requireColumns(policy.name, policy.when, columnNames, dataset.name);
          requireTypes(policy.name, 'when', policy.when, dataset, principal);
        }
        for (const [column, reason] of selectColumns(policy.columns, dataset)) {
          if (policy.effect === 'column_mask') {
            const candidate = { policy: policy.name, mask: policy.mask, reason };
            const current = masks.get(column.name);
            masks.set(column.name, current ? moreRestrictive(current, candidate) : candidate);
          } else {
            const cell = { policy: policy.name, mask: policy.mask, when: bindUser(policy.when, principal) };
            cellMasks.set(column.name, [...(cellMasks.get(column.name) ?? []), cell]);
          }
        }
      }
    }
  } catch (error) {
    // A policy that cannot be applied to this dataset or principal must not widen access.
    if (error instanceof BindError || error instanceof PolicyScopeError) {
      return denied(error.message);
    }
    throw error;
  }

  const used = new Set<string>([...grants.map(grant => grant.name), ...rowFilters.map(filter => filter.policy)]);
  const columns = dataset.columns.map(column => {
    const winner = masks.get(column.name);
    const cells = winner?.mask.type === 'hide' ? NO_CELL_MASKS : (cellMasks.get(column.name) ?? NO_CELL_MASKS);
    if (winner) used.add(winner.policy);
    cells.forEach(cell => used.add(cell.policy));
    return { name: column.name, mask: winner?.mask, cellMasks: cells, effect: effectOf(winner, cells) };
  });
  return {
    allowed: true,
    rowFilters,
    columns,
    policies: policies.filter(policy => used.has(policy.name)).map(policy => policy.name)
  };
}

export class PolicyScopeError extends Error {}

/**
 * A policy whose values have other types for this principal than the columns they are compared
 * with (an attribute from a token claim, which the load-time check of directory.yaml cannot
 * see) cannot be applied: the engine would fail on rows outside the filter, naming their values.
 */
function requireTypes(policy: string, part: 'filter' | 'when', expr: Expr, dataset: DatasetFacts, principal: Principal): void {
  const columns = indexOf(dataset).byName;
  const column = (name: string) => typedColumn(columns.get(name));
  const problem = typeProblem(expr, { column, where: ` in ${dataset.name}`, users: [[principal.user, principal.attributes]], usersFrom: '' });
  if (problem) throw new BindError(`policy ${policy}: ${part} ${problem}`);
}

function requireColumns(policy: string, expr: Expr, columns: ReadonlyMap<string, unknown>, dataset: string): void {
  for (const name of columnsOf(expr)) {
    if (!columns.has(name)) {
      throw new PolicyScopeError(`policy ${policy} reads column "${name}", which ${dataset} does not have`);
    }
  }
}
