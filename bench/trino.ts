/**
 * Warden on Trino, on the running cluster (scripts/trino/cluster.sh; export its cluster.env):
 *   1. governed scan throughput: the bundled service (a separate process) scanning a 2M-row
 *      Iceberg table as `analyst` (row filter on the partition column, two masks), over HTTP
 *      as Arrow IPC, against the same rows and columns unmasked read by direct Trino clients as
 *      the service account: the Trino CLI (CSV to a pipe) and the REST protocol with the same
 *      paging (JSON pages parsed, no Arrow). Runs interleaved, ratio to the faster client;
 *   2. preview p95: 100 rows through the service, against the same LIMIT 100 query direct.
 *
 *   bash scripts/trino/cluster.sh start /tmp/lake && set -a && . /tmp/lake/cluster.env && set +a
 *   npm run build:service && node bench/run.mjs trino [--rows 2000000] [--runs 5] [--previews 40] [--cpu-prof DIR]
 *
 * The table (lake.bench.trial) is made once by Trino itself (CREATE TABLE AS), kept between runs.
 */
import { ChildProcess, spawn } from 'node:child_process';
import https from 'node:https';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { tableFromIPC } from 'apache-arrow';
import { SignJWT } from 'jose';
import { trinoConnectionFromEnv, trinoDemoConnectionFromEnv } from '../src/service/demo/trino-lake';
import { TrinoClient } from '../src/service/engine/trino';
import { Timing, summarise, table } from './stats';

const TABLE = 'lake.bench.trial';
const COLUMNS = ['participant_id', 'name', 'ssn', 'date_of_birth', 'email', 'country', 'site', 'arm', 'outcome', 'adverse_events', 'enrolled_on'];
const SECRET = 'trino-bench-secret-0123456789abcdefghijklmnop';
const JAVA = `${process.env.WARDEN_TRINO_JAVA_HOME ?? '/usr/lib/jvm/temurin-25-jdk-amd64'}/bin/java`;
const CLI_JAR = join(process.env.WARDEN_CACHE ?? join(process.env.HOME ?? '/root', '.cache/warden'), 'm2/io/trino/trino-cli/476/trino-cli-476-executable.jar');
/** The rows the analyst's row filter keeps, as the direct clients ask for them. */
const DIRECT_SQL = `SELECT ${COLUMNS.join(', ')} FROM ${TABLE} WHERE country = 'US'`;

async function rowsOf(client: TrinoClient, sql: string): Promise<unknown[][]> {
  const rows: unknown[][] = [];
  for await (const row of client.rows(sql, [], 'warden bench')) rows.push(row);
  return rows;
}

/** lake.bench.trial with `rows` rows, made by Trino (partitioned by country, 3 in 8 rows US). */
async function ensureTable(loader: TrinoClient, rows: number): Promise<void> {
  const existing = await rowsOf(loader, "SELECT count(*) FROM lake.information_schema.tables WHERE table_schema = 'bench' AND table_name = 'trial'");
  if (existing[0][0] === 1 && (await rowsOf(loader, `SELECT count(*) FROM ${TABLE}`))[0][0] === rows) return;
  const started = Date.now();
  await rowsOf(loader, 'CREATE SCHEMA IF NOT EXISTS lake.bench');
  await rowsOf(loader, `DROP TABLE IF EXISTS ${TABLE}`);
  const pick = (values: string[], salt: number) => `element_at(ARRAY[${values.map(value => `'${value}'`).join(', ')}], CAST((i * ${salt} + ${salt >> 3}) % ${values.length} AS integer) + 1)`;
  const first = pick(['Alice', 'Bruno', 'Chen', 'Dana', 'Emeka', 'Fatima', 'Goran', 'Hana', 'Ivan', 'Julia', 'Kenji', 'Lena'], 7919);
  const last = pick(['Anders', 'Baker', 'Costa', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Hoffmann', 'Ito', 'Jensen'], 104729);
  await rowsOf(
    loader,
    `CREATE TABLE ${TABLE} WITH (partitioning = ARRAY['country']) AS
     SELECT 'P' || lpad(CAST(i AS varchar), 8, '0') AS participant_id,
       ${first} || ' ' || ${last} AS name,
       lpad(CAST(100 + i * 7 % 800 AS varchar), 3, '0') || '-' || lpad(CAST(10 + i * 13 % 89 AS varchar), 2, '0') || '-' || lpad(CAST(1000 + i * 31 % 8999 AS varchar), 4, '0') AS ssn,
       DATE '1940-01-01' + (i * 37 % 22000) * INTERVAL '1' DAY AS date_of_birth,
       lower(${first}) || '.' || lower(${last}) || CAST(i AS varchar) || '@example.com' AS email,
       ${pick(['US', 'US', 'US', 'DE', 'FR', 'UK', 'JP', 'CA'], 1)} AS country,
       'Site-' || lpad(CAST(1 + i * 11 % 12 AS varchar), 2, '0') AS site,
       ${pick(['placebo', 'treatment'], 3)} AS arm,
       CAST(i * 7 % 10000 AS double) / 100 AS outcome,
       IF(i % 3 = 0, NULL, ${pick(['headache', 'nausea', 'fatigue', 'dizziness', 'rash'], 17)}) AS adverse_events,
       DATE '2020-07-01' + (i % 28) * INTERVAL '1' DAY AS enrolled_on
     FROM (SELECT h * 10000 + l AS i FROM UNNEST(sequence(0, ${Math.ceil(rows / 10_000) - 1})) AS a(h) CROSS JOIN UNNEST(sequence(1, 10000)) AS b(l) WHERE h * 10000 + l <= ${rows})`
  );
  console.log(`made ${TABLE} (${rows} rows) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function writeConfig(dir: string): void {
  const lake = trinoDemoConnectionFromEnv();
  mkdirSync(join(dir, 'catalog'), { recursive: true });
  mkdirSync(join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'mask.key'), 'trino-bench-mask-key-0123456789abcdef\n');
  writeFileSync(
    join(dir, 'warden.yaml'),
    `data_roots: [${dir}]\nidentity: { audience: warden, issuer: warden-bench, hs256_secret_env: WARDEN_JWT_SECRET }\n` +
      `connections:\n  lake: ${JSON.stringify({ kind: 'trino', url: lake.url, user: lake.user, password_env: lake.passwordEnv, ca_file: lake.caFile, catalog: lake.catalog })}\n` +
      `audit:\n  path: ${join(dir, 'audit.jsonl')}\nmasking: { key_file: mask.key }\n`
  );
  writeFileSync(
    join(dir, 'catalog', 'bench.yaml'),
    'datasets:\n  - name: bench.trial\n    source: { format: trino, connection: lake, table: bench.trial }\n    columns:\n      - { name: ssn, tags: [pii] }\n      - { name: date_of_birth, tags: [quasi] }\n'
  );
  writeFileSync(join(dir, 'directory.yaml'), 'users:\n  analyst: { groups: [analysts], attributes: { region: US } }\n');
  writeFileSync(
    join(dir, 'policies', 'bench.yaml'),
    `policies:
  - { name: read, effect: grant, datasets: { names: [bench.trial] }, principals: { everyone: true } }
  - { name: own-region, effect: row_filter, datasets: { names: [bench.trial] }, principals: { groups: [analysts] }, filter: country = user.region }
  - { name: ssn-last-four, effect: column_mask, datasets: { names: [bench.trial] }, principals: { groups: [analysts] }, columns: { tags: [pii] }, mask: { type: show_last, n: 4 } }
  - { name: dob-year, effect: column_mask, datasets: { names: [bench.trial] }, principals: { groups: [analysts] }, columns: { tags: [quasi] }, mask: { type: year_only } }
`
  );
}

async function startService(configDir: string, cpuProfDir: string | undefined): Promise<{ url: string; child: ChildProcess }> {
  const profiling = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [];
  const child = spawn(process.execPath, [...profiling, 'warden/service/warden-service.cjs', '--config', configDir, '--port', '0', '--no-watch'], {
    env: { ...process.env, WARDEN_JWT_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'inherit']
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      const match = /listening on (http:\/\/\S+)/.exec(chunk.toString());
      if (match) resolve(`${match[1]}/api/v1`);
    });
    child.on('exit', code => reject(new Error(`the service exited with ${code}`)));
  });
  return { url, child };
}

/** The functions the service spent most of its CPU in (self time), from the profile --cpu-prof wrote. */
function printProfile(dir: string): void {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }
  const file = readdirSync(dir).find(name => name.endsWith('.cpuprofile'));
  if (!file) return console.log(`no profile in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const nodes = new Map(profile.nodes.map(node => [node.id, node]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    const name = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + profile.timeDeltas[i] / 1000);
  });
  const busy = [...self].filter(([name]) => !name.startsWith('(idle)')).reduce((sum, [, ms]) => sum + ms, 0);
  console.log(`\nservice CPU profile (${dir}/${file}): ${(busy / 1000).toFixed(1)} s busy on the JS thread; top self time:`);
  console.log(table(['function', 'self', 'share of busy'], [...self].filter(([name]) => !name.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 15).map(([name, ms]) => [name, `${(ms / 1000).toFixed(2)} s`, `${((100 * ms) / busy).toFixed(0)}%`])));
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The processes whose CPU a scan uses: Trino's two JVMs (cluster.sh's pid files), the service, this client. */
function cpuMeters(servicePid: number): Record<string, number> {
  const trinoPid = (role: string) => Number(readFileSync(join(process.env.WARDEN_TRINO_DIR!, `trino-${role}.pid`), 'utf8'));
  return { 'Trino coordinator': trinoPid('coordinator'), 'Trino worker': trinoPid('worker'), 'Warden service': servicePid, 'client (this process)': process.pid };
}

/** CPU seconds each metered process used while `work` ran. */
async function cpuOf(meters: Record<string, number>, work: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = Object.fromEntries(Object.entries(meters).map(([name, pid]) => [name, cpuSeconds(pid)]));
  await work();
  return Object.fromEntries(Object.entries(meters).map(([name, pid]) => [name, cpuSeconds(pid) - before[name]]));
}

interface Run {
  rows: number;
  bytes: number;
  ms: number;
}

async function governedScan(url: string, token: string): Promise<Run> {
  const started = performance.now();
  const response = await fetch(`${url}/datasets/bench.trial/scan`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{}' });
  if (response.status !== 200) throw new Error(`scan: ${response.status} ${await response.text()}`);
  const body = new Uint8Array(await response.arrayBuffer());
  const rows = tableFromIPC(body).numRows;
  return { rows, bytes: body.byteLength, ms: performance.now() - started };
}

/**
 * A direct client of Trino's REST protocol as a user would write one (or get from the
 * `trino-client` package): POST, then GET each nextUri with Trino's default paging, JSON.parse
 * each page, keep-alive connections. Nothing of Warden's client.
 */
class DirectRestClient {
  private readonly agent: https.Agent;
  private readonly authorization: string;

  constructor(private readonly base: string, ca: string, private readonly user: string, password: string) {
    this.agent = new https.Agent({ keepAlive: true, ca });
    this.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }

  private request(method: string, url: string, body?: string): Promise<{ nextUri?: string; data?: unknown[][]; error?: { message: string } }> {
    return new Promise((resolve, reject) => {
      const request = https.request(new URL(url, this.base), { method, agent: this.agent, headers: { authorization: this.authorization, 'x-trino-user': this.user, 'x-trino-source': 'warden-bench-direct' } }, response => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end(body);
    });
  }

  async count(sql: string): Promise<number> {
    let rows = 0;
    for (let page = await this.request('POST', '/v1/statement', sql); ; page = await this.request('GET', page.nextUri)) {
      if (page.error) throw new Error(page.error.message);
      rows += page.data?.length ?? 0;
      if (!page.nextUri) return rows;
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

async function directRest(client: DirectRestClient, sql = DIRECT_SQL): Promise<Run> {
  const started = performance.now();
  const rows = await client.count(sql);
  return { rows, bytes: 0, ms: performance.now() - started };
}

function directCli(sql = DIRECT_SQL): Promise<Run> {
  const { url, password, user } = trinoConnectionFromEnv('service');
  const started = performance.now();
  const cli = spawn(JAVA, ['-jar', CLI_JAR, '--server', url, '--truststore-path', process.env.WARDEN_TRINO_CA!, '--user', user, '--password', '--output-format', 'CSV', '--execute', sql], {
    env: { ...process.env, TRINO_PASSWORD: password },
    stdio: ['ignore', 'pipe', 'ignore']
  });
  let bytes = 0;
  let rows = 0;
  cli.stdout.on('data', (chunk: Buffer) => {
    bytes += chunk.byteLength;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++;
  });
  return new Promise((resolve, reject) =>
    cli.on('exit', code => (code === 0 ? resolve({ rows, bytes, ms: performance.now() - started }) : reject(new Error(`trino CLI exited with ${code}`))))
  );
}

const seconds = (value: number) => `${(value / 1000).toFixed(2)} s`;
const rate = (rows: number, ms: number) => `${Math.round(rows / (ms / 1000)).toLocaleString('en-US')} rows/s`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rows: { type: 'string', default: '2000000' }, runs: { type: 'string', default: '5' }, previews: { type: 'string', default: '40' }, 'cpu-prof': { type: 'string' } }
  });
  const tableRows = Number(values.rows);
  const runs = Number(values.runs);
  const loader = new TrinoClient(trinoConnectionFromEnv('loader'));
  const account = trinoConnectionFromEnv('service');
  const direct = new DirectRestClient(account.url, readFileSync(process.env.WARDEN_TRINO_CA!, 'utf8'), account.user, account.password!);
  const configDir = mkdtempSync(join(tmpdir(), 'warden-trino-bench-'));
  let service: { url: string; child: ChildProcess } | undefined;
  try {
    await ensureTable(loader, tableRows);
    writeConfig(configDir);
    service = await startService(configDir, values['cpu-prof']);
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('analyst').setAudience('warden').setIssuer('warden-bench').setExpirationTime('2h').sign(new TextEncoder().encode(SECRET));

    // The same rows both ways (and a warm-up of each path).
    const [governed, rest, cli] = [await governedScan(service.url, token), await directRest(direct), await directCli()];
    if (governed.rows !== rest.rows || cli.rows !== rest.rows) throw new Error(`rows differ: service ${governed.rows}, REST ${rest.rows}, CLI ${cli.rows}`);
    console.log(`machine: 2 cores, load ${loadavg()[0].toFixed(1)}; node ${process.version}; Trino 476 (coordinator + 1 worker, 1 GB heaps); ${tableRows.toLocaleString('en-US')}-row table, ${governed.rows.toLocaleString('en-US')} rows x ${COLUMNS.length} columns per scan; ${runs} runs after 1 warm-up, interleaved`);

    const samples: Record<'governed' | 'rest' | 'cli', number[]> = { governed: [], rest: [], cli: [] };
    for (let run = 0; run < runs; run++) {
      samples.governed.push((await governedScan(service.url, token)).ms);
      samples.rest.push((await directRest(direct)).ms);
      samples.cli.push((await directCli()).ms);
    }
    const timing: Record<string, Timing> = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, summarise(values)]));
    const baseline = Math.min(timing.rest.median, timing.cli.median);
    const ratio = (name: string) => (baseline / timing[name].median).toFixed(3);
    console.log(`\n1. scan throughput: ${governed.rows.toLocaleString('en-US')} rows (the US partition), the same query unmasked direct / through Warden with a row filter and 2 masks`);
    console.log(
      table(
        ['what', 'median', 'p95', 'median rate', 'throughput ratio to the faster direct client', 'target'],
        [
          ['Warden service, analyst (Arrow IPC over HTTP, decoded)', seconds(timing.governed.median), seconds(timing.governed.p95), rate(governed.rows, timing.governed.median), ratio('governed'), Number(ratio('governed')) >= 0.85 ? 'met (>= 0.85)' : 'MISSED (>= 0.85)'],
          ['direct: Trino CLI 476, CSV to a pipe (JVM start included)', seconds(timing.cli.median), seconds(timing.cli.p95), rate(governed.rows, timing.cli.median), ratio('cli'), ''],
          ['direct: REST protocol, same paging, JSON.parse of each page', seconds(timing.rest.median), seconds(timing.rest.p95), rate(governed.rows, timing.rest.median), ratio('rest'), '']
        ]
      )
    );

    // Where the CPU goes: each process's CPU during one scan of each kind (2 cores in all).
    const meters = cpuMeters(service.child.pid!);
    const governedCpu = await cpuOf(meters, () => governedScan(service!.url, token));
    const directCpu = await cpuOf(meters, () => directRest(direct));
    console.log(`\nCPU seconds per scan, by process (one more scan of each; the machine has 2 cores)`);
    console.log(
      table(
        ['process', 'Warden service scan', 'direct REST scan'],
        [...Object.keys(meters), 'total'].map(name => {
          const sum = (cpu: Record<string, number>) => (name === 'total' ? Object.values(cpu).reduce((a, b) => a + b, 0) : cpu[name]);
          return [name, `${sum(governedCpu).toFixed(2)} s`, `${sum(directCpu).toFixed(2)} s`];
        })
      )
    );

    const previews = Number(values.previews);
    const preview: number[] = [];
    const limited: number[] = [];
    for (let i = 0; i < previews + 3; i++) {
      const started = performance.now();
      const response = await fetch(`${service.url}/datasets/bench.trial/preview?limit=100`, { headers: { authorization: `Bearer ${token}` } });
      const shown = tableFromIPC(new Uint8Array(await response.arrayBuffer())).numRows;
      if (shown !== 100) throw new Error(`preview gave ${shown} rows`);
      if (i >= 3) preview.push(performance.now() - started);
      const direct100 = await directRest(direct, `${DIRECT_SQL} LIMIT 100`);
      if (i >= 3) limited.push(direct100.ms);
    }
    const previewTiming = summarise(preview);
    const limitedTiming = summarise(limited);
    console.log(`\n2. preview of 100 rows, ${previews} runs after 3 warm-up`);
    console.log(
      table(
        ['what', 'median', 'p95'],
        [
          ['Warden preview (analyst: row filter, 2 masks)', `${previewTiming.median.toFixed(0)} ms`, `${previewTiming.p95.toFixed(0)} ms`],
          ['direct REST, the same columns LIMIT 100', `${limitedTiming.median.toFixed(0)} ms`, `${limitedTiming.p95.toFixed(0)} ms`]
        ]
      )
    );
  } finally {
    if (service) {
      const exited = new Promise(resolve => service!.child.once('exit', resolve));
      service.child.kill('SIGTERM');
      await exited;
    }
    if (values['cpu-prof']) printProfile(values['cpu-prof']);
    loader.close();
    direct.close();
    rmSync(configDir, { recursive: true, force: true });
  }
}

void main().catch(error => {
  console.error(error);
  process.exit(1);
});
