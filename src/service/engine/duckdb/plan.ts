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

interface PlanNode {
  name?: string;
  children?: PlanNode[];
  extra_info?: Record<string, unknown>;
}

/** The heavy operators of a plan (names, with a TOP_N's row count), in plan order; empty when it streams. */
export function heavyOperators(plan: unknown): string[] {
  const heavy: string[] = [];
  const visit = (node: PlanNode) => {
    const name = String(node.name ?? '').trim();
    if (name === 'TOP_N') {
      const rows = Number(node.extra_info?.Top);
      if (!(rows <= LIGHT_TOP_N_ROWS)) heavy.push(`TOP_N(${node.extra_info?.Top ?? '?'})`);
    } else if (!STREAMING.has(name) && !FILE_READER.test(name)) {
      heavy.push(name || 'an unnamed operator');
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
