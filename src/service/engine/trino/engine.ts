/**
 * The Trino adapter: a compiled scan runs as one Trino query (row filters, masks, the
 * caller's projection, filter and limit all inside it, so Trino pushes them into its scans),
 * and its rows come back page by page over Trino's client protocol (./protocol.ts), each page
 * decoded into Arrow and handed over before the next page is fetched.
 */
import type { Schema } from 'apache-arrow';
import { ARROW_META } from '../../../common/api';
import { ArrowKind, recordBatch, scanSchema } from '../arrow';
import { CompiledScan } from '../compile';
import { ArrowResult, EngineFailure, EngineUnavailableError, QueryEngine, ScanCost, SourceError } from '../engine';
import { Source, SourceColumn, isConnectionSource } from '../source';
import { Params, quoteIdent } from '../sql';
import { kindOf } from './decode';
import { PageDecoder, RawPage } from './pages';
import { trinoDialect } from './dialect';
import { diagnoseTrino } from './errors';
import { TrinoClient, TrinoConnection, TrinoQuery, describeTrino, rawRows } from './protocol';

/** Rows decoded into one Arrow batch before it is handed over (pages are smaller). */
const BATCH_ROWS = 16_384;
/** Or fewer rows when they are wide: the string bytes a batch holds at most. */
const BATCH_BYTES = 8 * 1024 * 1024;
/** What a stream holds ahead of a client that does not read: the page being decoded and the batch built from it. */
const STREAM_READ_AHEAD = 4 * BATCH_BYTES;

export class TrinoEngine implements QueryEngine {
  readonly dialect = trinoDialect;
  readonly client: TrinoClient;

  constructor(readonly connection: TrinoConnection) {
    this.client = new TrinoClient(connection);
  }

  /** Catalog, schema and table of a source, as named (the connection's catalog when left out). */
  private tableOf(source: Source): string[] {
    if (!isConnectionSource(source) || source.format !== 'trino') {
      throw new SourceError(`Trino does not read ${source.format} sources`);
    }
    const parts = source.table.split('.');
    if (parts.length < 2 || parts.length > 3 || parts.some(part => part === '')) {
      throw new SourceError(`Trino table "${source.table}": name it schema.table or catalog.schema.table`);
    }
    return parts.length === 2 ? [this.connection.catalog, ...parts] : parts;
  }

  relation(source: Source, _params: Params): string {
    return this.tableOf(source).map(quoteIdent).join('.');
  }

  async describe(source: Source): Promise<SourceColumn[]> {
    const [catalog, schema, table] = this.tableOf(source);
    const relation = this.relation(source, new Params());
    const where = describeTrino(this.connection);
    const columns: SourceColumn[] = [];
    try {
      const sql = `SELECT column_name, data_type FROM ${quoteIdent(catalog)}.information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`;
      for await (const row of this.client.rows(sql, [schema.toLowerCase(), table.toLowerCase()], 'warden describe')) {
        columns.push({ name: row[0] as string, type: row[1] as string });
      }
      if (columns.length > 0) {
        // Missing privileges show now, at start-up, rather than at the first scan.
        for await (const _row of this.client.rows(`SELECT * FROM ${relation} LIMIT 0`, [], 'warden describe'));
      }
    } catch (error) {
      if (error instanceof EngineUnavailableError) throw error;
      throw new SourceError(`${where}: ${(error as Error).message}`);
    }
    if (columns.length === 0) {
      throw new SourceError(`${where}: no table or view ${relation} (or user ${this.connection.user} cannot see it)`);
    }
    return columns;
  }

  /**
   * A Trino query's sorts, aggregates and joins run in the cluster, within its own memory limits
   * and resource groups, not in the service: no Trino query is heavy here. The service holds a
   * page and a batch per stream.
   */
  async cost(_scan: CompiledScan): Promise<ScanCost> {
    return { heavyOperators: [], readAheadBytes: STREAM_READ_AHEAD };
  }

  async stream(scan: CompiledScan, metadata: Map<string, string>): Promise<ArrowResult> {
    // The request id goes to Trino's query log with the query: the audit record's key.
    const query = this.client.query(scan.sql, scan.params, metadata.get(ARROW_META.requestId) ?? 'warden', rawRows);
    let kinds: ArrowKind[];
    try {
      kinds = (await query.columns()).map(column => kindOf(column.type));
    } catch (error) {
      await query.cancel();
      throw error;
    }
    const schema = scanSchema(scan.columns, kinds, metadata);
    return { schema, cancel: () => void query.cancel(), batches: batchesOf(query, schema, kinds) };
  }

  diagnose(error: unknown): EngineFailure {
    return diagnoseTrino(error);
  }

  /** Trino answers its info route and has finished starting. */
  async ready(): Promise<void> {
    const answer = await this.client.request('GET', '/v1/info', undefined, {}, AbortSignal.timeout(this.connection.requestTimeoutMs));
    if (answer.status !== 200) throw new EngineUnavailableError(`${describeTrino(this.connection)}: /v1/info answered ${answer.status}`);
    if ((JSON.parse(answer.body.toString('utf8')) as { starting?: boolean }).starting) throw new EngineUnavailableError(`${describeTrino(this.connection)} is starting`);
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** Pages decoded into record batches of up to BATCH_ROWS rows (or BATCH_BYTES), as they are fetched. */
async function* batchesOf(query: TrinoQuery<RawPage>, schema: Schema, kinds: ArrowKind[]) {
  const decoder = new PageDecoder(kinds, BATCH_ROWS, BATCH_BYTES);
  const batch = () => {
    decoder.flush();
    return recordBatch(schema, decoder.builders);
  };
  try {
    for (let page = await query.nextPage(); page; page = await query.nextPage()) {
      for (let at = page.rows; at !== -1; ) {
        at = decoder.decode(page.body, at);
        if (decoder.full) yield batch();
      }
    }
    if (decoder.length > 0) yield batch();
  } finally {
    // Also when the consumer stops early (return() on the generator): the query is cancelled.
    await query.cancel();
  }
}
