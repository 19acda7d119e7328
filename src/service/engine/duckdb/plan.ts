/**
 * Which queries are heavy, from DuckDB's physical plan (`EXPLAIN (FORMAT json)`): an operator
 * that holds memory in proportion to its input (ORDER_BY, HASH_GROUP_BY, HASH_JOIN, WINDOW...)
 * makes the query heavy. The rule lists the operators known to stream, not the heavy ones, so
 * that any shape a later feature compiles to (a join, an aggregate, a window) counts as heavy
 * until it is known not to be.
 */
import type { DuckDBInstance } from '@duckdb/node-api';
import { CompiledScan } from '../compile';
import { ScanCost } from '../engine';

const MIB = 1024 * 1024;

/** Operators whose memory does not grow with the data: scans, filters, projections, limits. */
const STREAMING = new Set(['PROJECTION', 'FILTER', 'LIMIT', 'STREAMING_LIMIT', 'LIMIT_PERCENT', 'TABLE_SCAN', 'SEQ_SCAN', 'COLUMN_DATA_SCAN', 'DUMMY_SCAN', 'EMPTY_RESULT', 'STREAMING_WINDOW']);
/** Table functions that read files (READ_PARQUET, READ_CSV, READ_JSON...) stream too. */
const FILE_READER = /^READ_[A-Z_]+$/;
/** A TOP_N keeps its N rows: up to this many, it is as light as a preview. */
export const LIGHT_TOP_N_ROWS = 100_000;
/** Operators that give at most the rows of their (first) input. */
const ROW_PRESERVING = new Set(['PROJECTION', 'FILTER', 'ORDER_BY', 'LIMIT', 'STREAMING_LIMIT']);
/** Columns that name one row of a source: a join on them matches each row at most once. */
const ROW_IDENTIFIERS = new Set(['rowid', 'file_row_number', 'file_index']);

interface PlanNode {
  name?: string;
  children?: PlanNode[];
  extra_info?: Record<string, unknown>;
}

const nameOf = (node: PlanNode) => String(node.name ?? '').trim();

/**
 * Whether a join matches each of its build side's rows to at most one row: its conditions
 * compare row identifiers only, one of them unique within a file (DuckDB's late
 * materialization of a small top-N: the TOP_N picks row numbers, the join fetches their rows).
 */
function joinsOnRowIdentity(node: PlanNode): boolean {
  const conditions = node.extra_info?.Conditions;
  const list = Array.isArray(conditions) ? conditions.map(String) : typeof conditions === 'string' ? [conditions] : [];
  const columns = list.map(condition => /^(\w+) = (\w+)$/.exec(condition.trim())).map(match => (match && match[1] === match[2] ? match[1] : null));
  return columns.length > 0 && columns.every(column => column !== null && ROW_IDENTIFIERS.has(column)) && columns.some(column => column !== 'file_index');
}

/** At most how many rows a node gives, where the plan bounds it (a TOP_N below it); Infinity otherwise. */
function rowBound(node: PlanNode): number {
  const name = nameOf(node);
  const children = node.children ?? [];
  if (name === 'EMPTY_RESULT') return 0;
  if (name === 'TOP_N') return Math.min(Number(node.extra_info?.Top ?? Infinity), children.length ? rowBound(children[0]) : Infinity);
  if (ROW_PRESERVING.has(name) && children.length === 1) return rowBound(children[0]);
  if (name === 'HASH_JOIN' && node.extra_info?.['Join Type'] === 'SEMI' && children.length === 2) {
    return joinsOnRowIdentity(node) ? Math.min(rowBound(children[0]), rowBound(children[1])) : rowBound(children[0]);
  }
  return Infinity;
}

/** What an operator holds in memory, in rows, as far as the plan bounds it: a sort its input, a hash join its build side. */
function rowsHeld(node: PlanNode): number {
  const name = nameOf(node);
  const children = node.children ?? [];
  if (name === 'TOP_N') return Number(node.extra_info?.Top);
  if (name === 'ORDER_BY' && children.length === 1) return rowBound(children[0]);
  if (name === 'HASH_JOIN' && children.length === 2) return rowBound(children[1]);
  return Infinity;
}

/**
 * The heavy operators of a plan (names, with a TOP_N's row count), in plan order; empty when
 * it streams. An operator that holds at most LIGHT_TOP_N_ROWS rows, by the plan's own bounds,
 * is light: a small top-N, and DuckDB's late materialization of one (an ORDER_BY of the rows
 * a SEMI join fetched by row number for a TOP_N).
 */
export function heavyOperators(plan: unknown): string[] {
  const heavy: string[] = [];
  const visit = (node: PlanNode) => {
    const name = nameOf(node);
    if (!STREAMING.has(name) && !FILE_READER.test(name) && !(rowsHeld(node) <= LIGHT_TOP_N_ROWS)) {
      heavy.push(name === 'TOP_N' ? `TOP_N(${node.extra_info?.Top ?? '?'})` : name || 'an unnamed operator');
    }
    for (const child of node.children ?? []) visit(child);
  };
  for (const root of Array.isArray(plan) ? plan : [plan]) visit(root as PlanNode);
  return heavy;
}

/**
 * What one stream may hold ahead of a client that does not read: finished batches waiting
 * (batches.ts reads ahead by 8 MiB), DuckDB's streaming buffer (open-stream.ts: at most
 * 48 MiB of real memory), the row groups its scan is decoding and the batch being built or
 * sent. Measured on the 100M-row demo lake (bench/resources.ts): stalled scans held about
 * 95 MiB each on the JavaScript path, 72 MiB on the native one.
 */
const STREAM_READ_AHEAD = 96 * MIB;
/** Per row of a limited read, for its read-ahead: generous for the demo's rows of about 150 bytes. */
const ROW_BYTES_ESTIMATE = 1024;
/** Plans are read once per query text and values (previews repeat); this many are kept. */
const MAX_CACHED_PLANS = 1000;

/** The costs of compiled scans, from DuckDB's physical plan (EXPLAIN), kept per query text and values. */
export class ScanCosts {
  private readonly known = new Map<string, ScanCost>();

  async of(scan: CompiledScan, instance: DuckDBInstance): Promise<ScanCost> {
    const key = `${scan.sql}\0${JSON.stringify(scan.params)}`;
    const known = this.known.get(key);
    if (known) return known;
    const connection = await instance.connect();
    let plan: unknown;
    try {
      const reader = await connection.runAndReadAll(`EXPLAIN (FORMAT json) ${scan.sql}`, scan.params);
      plan = JSON.parse(String(reader.getRowObjectsJS()[0].explain_value));
    } finally {
      connection.closeSync();
    }
    const limited = scan.limit !== undefined ? Math.max(1, scan.limit) * ROW_BYTES_ESTIMATE : Infinity;
    const cost = { heavyOperators: heavyOperators(plan), readAheadBytes: Math.min(STREAM_READ_AHEAD, limited) };
    if (this.known.size >= MAX_CACHED_PLANS) this.known.delete(this.known.keys().next().value!);
    this.known.set(key, cost);
    return cost;
  }
}
