/**
 * What the Trino tests share: clients of the running cluster (scripts/trino/cluster.sh, whose
 * cluster.env scripts/trino/test.sh exports), the service's `lake` connection as warden.yaml
 * writes it, the demo lake read from Trino, and Trino's own record of a query.
 */
import { trinoConnectionFromEnv, trinoDemoConnectionFromEnv } from '../demo/trino-lake';
import { generateDemo } from '../demo/generate';
import { TrinoClient, TrinoConnection, TrinoEngine } from '../engine/trino';
import { tempDir } from './helpers';

/** The engine the service would make, as its read-only account. */
export function wardenEngine(overrides: Partial<TrinoConnection> = {}): TrinoEngine {
  return new TrinoEngine({ ...trinoConnectionFromEnv('service'), ...overrides });
}

/** The writer account, which may also see every query Trino ran. */
export function loaderClient(): TrinoClient {
  return new TrinoClient(trinoConnectionFromEnv('loader'));
}

/** Rows of a statement as JSON values. */
export async function query(client: TrinoClient, sql: string, params: (string | number)[] = []): Promise<unknown[][]> {
  const rows: unknown[][] = [];
  for await (const row of client.rows(sql, params, 'warden test')) rows.push(row);
  return rows;
}

/**
 * A `kind: trino` connection of warden.yaml to the running cluster as the service account
 * (its password in WARDEN_TRINO_PASSWORD), one line under `connections:`.
 */
export function trinoConnectionYaml(name: string, overrides: Record<string, string | number> = {}): string {
  const demo = trinoDemoConnectionFromEnv();
  const settings = { kind: 'trino', url: demo.url, user: demo.user, password_env: demo.passwordEnv, ca_file: demo.caFile, catalog: demo.catalog, ...overrides };
  return `  ${name}: ${JSON.stringify(settings)}\n`;
}

/** The demo lake whose trial datasets the service reads from Trino (loaded there by scripts/trino/test.sh with DEMO_ROWS rows). */
export async function demoOnTrino(): Promise<{ out: string; configDir: string; lakeDir: string; remove: () => void }> {
  const dir = tempDir('demo-trino');
  const { configDir, lakeDir } = await generateDemo({ out: dir.path, rows: DEMO_ROWS, trino: trinoDemoConnectionFromEnv() });
  return { out: dir.path, configDir, lakeDir, remove: dir.remove };
}

/** Rows of the demo's main trial in the lake (scripts/trino/test.sh loads it with as many). */
const DEMO_ROWS = Number(process.env.WARDEN_TRINO_DEMO_ROWS ?? 2000);

export interface QueryInfo {
  queryId: string;
  state: string;
  query: string;
  errorCode?: { name: string };
  session: { source: string; clientInfo?: string; user: string };
  queryStats: { outputPositions: number; physicalInputPositions: number };
}

/** Trino's record of a query, by id (as the loader, who may see every query). */
export async function queryInfo(loader: TrinoClient, queryId: string): Promise<QueryInfo> {
  const answer = await loader.request('GET', `/v1/query/${encodeURIComponent(queryId)}`, undefined, {}, AbortSignal.timeout(10_000));
  return JSON.parse(answer.body.toString('utf8')) as QueryInfo;
}

/** The queries Trino ran with `clientInfo` (the request id Warden sends), from its query list. */
export async function queriesWithClientInfo(loader: TrinoClient, clientInfo: string): Promise<QueryInfo[]> {
  const answer = await loader.request('GET', '/v1/query', undefined, {}, AbortSignal.timeout(10_000));
  const listed = JSON.parse(answer.body.toString('utf8')) as QueryInfo[];
  return Promise.all(listed.filter(info => info.session.clientInfo === clientInfo).map(info => queryInfo(loader, info.queryId)));
}
