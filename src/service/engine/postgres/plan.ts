/**
 * Which queries are heavy, from PostgreSQL's plan (`EXPLAIN (FORMAT JSON)`): as for DuckDB
 * (../duckdb/plan.ts), the rule lists the nodes known to stream, so that any other node (a
 * Sort, a Hash, an Aggregate, a WindowAgg, a join) makes the query heavy.
 */

const STREAMING = new Set([
  'Seq Scan', 'Index Scan', 'Index Only Scan', 'Bitmap Heap Scan', 'Bitmap Index Scan', 'Tid Scan', 'Tid Range Scan',
  'Sample Scan', 'Foreign Scan', 'Result', 'Limit', 'Subquery Scan', 'Gather', 'Append', 'Values Scan'
]);
/** A Sort right under a Limit of at most this many rows is a top-N heapsort: its memory is N rows. */
const LIGHT_TOP_N_ROWS = 100_000;

interface PlanNode {
  'Node Type'?: string;
  Plans?: PlanNode[];
}

/** The heavy nodes of a plan, in plan order; empty when it streams. `limit` is the scan's row limit. */
export function heavyNodes(plan: unknown, limit: number | undefined): string[] {
  const heavy: string[] = [];
  const visit = (node: PlanNode, parent: string | undefined) => {
    const type = node['Node Type'] ?? 'an unnamed node';
    const topN = type === 'Sort' && parent === 'Limit' && limit !== undefined && limit <= LIGHT_TOP_N_ROWS;
    if (!STREAMING.has(type) && !topN) heavy.push(type);
    for (const child of node.Plans ?? []) visit(child, type);
  };
  for (const root of Array.isArray(plan) ? plan : [plan]) visit((root as { Plan: PlanNode }).Plan ?? (root as PlanNode), undefined);
  return heavy;
}
