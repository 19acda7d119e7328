/**
 * Resources: what warden.yaml lets the service take of the machine, what DuckDB is given, which
 * queries count as heavy (from the engine's own plan), and admission against a running
 * service: heavy queries queued then refused with 503 and Retry-After, stream buffers shared
 * between users, clients that stop reading cut after the stall timeout. All audited.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { Socket, connect } from 'node:net';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { AUDIT_BUILTINS } from '../audit/dataset';
import { ConfigError, loadConfig } from '../config/load';
import { resourceSettings } from '../config/resources';
import { CompiledScan } from '../engine/compile';
import { DuckDBEngine } from '../engine/duckdb';
import { RunningService, api, demoLake, rows, startService, tempDir, token, until } from './helpers';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const TRIAL = 'drug_xyz.trial_july2020';
type Row = Record<string, unknown>;

describe('resources in warden.yaml', () => {
  test('defaults come from the machine: a quarter of its memory for DuckDB, a heavy query per 512 MiB up to one per core', () => {
    assert.deepEqual(resourceSettings(undefined, '/etc/warden', { memory: 24 * GIB, cores: 2, tmpdir: '/var/tmp' }), {
      memoryLimit: 6 * GIB,
      spillDirectory: `/var/tmp/warden-spill-${process.getuid!()}`,
      spillLimit: undefined,
      threads: 2,
      heavyQueries: 2,
      queueLength: 64,
      queueWaitMs: 30_000,
      streamBuffers: 1.5 * GIB,
      streamBuffersPerUser: 0.75 * GIB,
      stallTimeoutMs: 60_000
    });
    const small = resourceSettings(undefined, '/etc/warden', { memory: 512 * MIB, cores: 8, tmpdir: '/tmp' });
    assert.deepEqual([small.memoryLimit, small.heavyQueries, small.threads, small.streamBuffers], [256 * MIB, 1, 8, 256 * MIB]);
  });

  let demo: Awaited<ReturnType<typeof demoLake>>;
  before(async () => {
    demo = await demoLake(100);
  });
  after(() => demo.remove());

  /** The demo config with `resources` added to warden.yaml. */
  function withResources(yaml: string): string {
    const dir = tempDir('resources');
    const config = join(dir.path, 'config');
    spawnSync('cp', ['-r', demo.configDir, config]);
    const settings = readFileSync(join(config, 'warden.yaml'), 'utf8')
      .replace('data_roots: [../lake]', `data_roots: [${demo.lakeDir}]`)
      .replace('path: ../audit/audit.jsonl', `path: ${dir.path}/audit.jsonl`);
    writeFileSync(join(config, 'warden.yaml'), `${settings}resources:\n${yaml}`);
    return config;
  }

  test('values are taken as written; a spill directory is relative to the config directory', () => {
    const config = withResources('  memory_limit_mib: 1024\n  spill_directory: spill\n  spill_limit_mib: 2048\n  threads: 3\n  heavy_queries: 4\n  queue_length: 5\n  queue_wait_seconds: 1.5\n  stream_buffers_mib: 64\n  stream_buffers_per_user: 0.25\n  stall_timeout_seconds: 7\n');
    assert.deepEqual(loadConfig(config, AUDIT_BUILTINS).settings.resources, {
      memoryLimit: GIB,
      spillDirectory: join(config, 'spill'),
      spillLimit: 2 * GIB,
      threads: 3,
      heavyQueries: 4,
      queueLength: 5,
      queueWaitMs: 1500,
      streamBuffers: 64 * MIB,
      streamBuffersPerUser: 16 * MIB,
      stallTimeoutMs: 7000
    });
  });

  for (const [yaml, message] of [
    ['  memory_limit_mib: 100\n', /resources\.memory_limit_mib: must be >= 128/],
    ['  stream_buffers_per_user: 2\n', /resources\.stream_buffers_per_user: must be <= 1/],
    ['  stall_timeout_seconds: soon\n', /resources\.stall_timeout_seconds: must be number/],
    ['  memory_limit: 2GB\n', /resources: unknown key "memory_limit"|must NOT have additional properties/]
  ] as const) {
    test(`a mistake is refused with file and line: ${yaml.trim()}`, () => {
      const config = withResources(yaml);
      assert.throws(
        () => loadConfig(config, AUDIT_BUILTINS),
        (error: unknown) => error instanceof ConfigError && error.file.endsWith('warden.yaml') && error.line >= 12 && message.test(error.message)
      );
    });
  }
});

describe('heavy queries, from DuckDB\'s own plan', () => {
  let engine: DuckDBEngine;
  let dir: ReturnType<typeof tempDir>;
  let file: string;
  before(async () => {
    dir = tempDir('plans');
    engine = await DuckDBEngine.create({ memoryLimit: 512 * MIB, threads: 2, spillDirectory: join(dir.path, 'spill') });
    file = join(dir.path, 't.parquet');
    const writer = await DuckDBInstance.create(':memory:');
    const connection = await writer.connect();
    await connection.run(`COPY (SELECT range AS a, range % 7 AS b, 'x' || range AS s FROM range(50000)) TO '${file}' (FORMAT parquet)`);
    connection.closeSync();
    writer.closeSync();
  });
  after(async () => {
    await engine.close();
    dir.remove();
  });
  const scan = (sql: string, limit?: number): CompiledScan => ({ sql, params: [file], columns: [], ...(limit !== undefined ? { limit } : {}) });

  for (const [shape, sql, limit, heavy] of [
    ['a filtered preview', 'SELECT * FROM read_parquet($1) WHERE b = 3 LIMIT 100', 100, []],
    ['a projection with a filter', 'SELECT a, s FROM read_parquet($1) WHERE s LIKE \'x1%\'', undefined, []],
    ['a sort', 'SELECT * FROM read_parquet($1) ORDER BY s', undefined, ['ORDER_BY']],
    ['a small top-N', 'SELECT * FROM read_parquet($1) ORDER BY s LIMIT 100', 100, []],
    // DuckDB fetches the rows of a top-N of at most 50 by row number: a TOP_N, a SEMI join, an ORDER_BY of those rows.
    ['a top-5', 'SELECT * FROM read_parquet($1) ORDER BY s LIMIT 5', 5, []],
    ['a top-10 of masked cells with their indicator, filtered', 'SELECT * FROM (SELECT a, CASE WHEN (b = 3) IS DISTINCT FROM FALSE THEN NULL ELSE s END AS s, (b = 3) IS DISTINCT FROM FALSE AS ind FROM read_parquet($1) WHERE b <> 1) AS governed WHERE a > 5 ORDER BY s DESC NULLS LAST, a LIMIT 10', 10, []],
    ['a top-50 of a hashed column', 'SELECT s FROM (SELECT a, md5(s) AS s FROM read_parquet($1)) AS governed ORDER BY s LIMIT 50', 50, []],
    ['a join whose build side is a small top-N', 'SELECT * FROM read_parquet($1) x JOIN (SELECT * FROM read_parquet($1) ORDER BY s LIMIT 10) y USING (a)', undefined, []],
    ['a join with a filtered build side', 'SELECT * FROM read_parquet($1) x SEMI JOIN (SELECT a FROM read_parquet($1) WHERE b = 2) y USING (a)', undefined, ['HASH_JOIN']],
    ['a top-N of ten million rows', 'SELECT * FROM read_parquet($1) ORDER BY s LIMIT 10000000', 10_000_000, ['ORDER_BY']],
    ['an aggregate', 'SELECT s, count(*) AS n FROM read_parquet($1) GROUP BY s', undefined, ['HASH_GROUP_BY']],
    ['a distinct', 'SELECT DISTINCT s FROM read_parquet($1)', undefined, ['HASH_GROUP_BY']],
    ['a join', 'SELECT * FROM read_parquet($1) x JOIN read_parquet($1) y USING (a)', undefined, ['HASH_JOIN']],
    ['a window', 'SELECT *, row_number() OVER (PARTITION BY b ORDER BY a) AS n FROM read_parquet($1)', undefined, ['WINDOW']]
  ] as const) {
    test(`${shape}: ${heavy.length ? `heavy (${heavy.join(', ')})` : 'light'}`, async () => {
      const cost = await engine.cost(scan(sql, limit));
      for (const operator of heavy) assert.ok(cost.heavyOperators.some(found => found.startsWith(operator)), `${operator} in ${cost.heavyOperators}`);
      if (heavy.length === 0) assert.deepEqual(cost.heavyOperators, []);
      assert.ok(cost.readAheadBytes > 0 && cost.readAheadBytes <= 96 * MIB);
    });
  }

  test('a spill directory that is not this OS user\'s own is refused, not written into; an open one is closed', async () => {
    // Spilled pages hold the rows being sorted: another user's directory (a link, or one made
    // in a shared /tmp) would hand them over.
    const elsewhere = join(dir.path, 'elsewhere');
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(dir.path, 'linked'));
    await assert.rejects(DuckDBEngine.create({ memoryLimit: 512 * MIB, threads: 1, spillDirectory: join(dir.path, 'linked') }), /spill directory .*linked is not a directory of this service's OS user/);
    if (process.getuid!() === 0) {
      const foreign = join(dir.path, 'foreign');
      mkdirSync(foreign);
      chownSync(foreign, 65534, 65534);
      await assert.rejects(DuckDBEngine.create({ memoryLimit: 512 * MIB, threads: 1, spillDirectory: foreign }), /resources\.spill_directory in warden\.yaml/);
    }
    const open = join(dir.path, 'open');
    mkdirSync(open, { mode: 0o777 });
    const opened = await DuckDBEngine.create({ memoryLimit: 512 * MIB, threads: 1, spillDirectory: open });
    await opened.close();
    assert.equal(statSync(open).mode & 0o777, 0o700);
  });

  test('each instance runs with its settings; short light reads run on the interactive one', async () => {
    assert.deepEqual(
      [await engine.setting('scans', 'memory_limit'), await engine.setting('scans', 'threads'), await engine.setting('interactive', 'memory_limit'), await engine.setting('interactive', 'threads')],
      ['448.0 MiB', '2', '64.0 MiB', '1']
    );
    assert.equal(await engine.setting('scans', 'temp_directory'), join(dir.path, 'spill', `warden-${process.pid}-scans`));
    // Freed memory goes back to the system as DuckDB's threads go idle (instances.ts).
    assert.equal(await engine.setting('scans', 'allocator_flush_threshold'), '1.0 MiB');
    const threadsOf = async (limit?: number) => {
      const result = await engine.stream({ sql: `SELECT current_setting('threads') AS t FROM read_parquet($1)${limit ? ' LIMIT 3' : ''}`, params: [file], columns: [{ name: 't', type: 'BIGINT', access: 'clear', cellMasked: false }], ...(limit ? { limit } : {}) }, new Map());
      const values: number[] = [];
      for await (const batch of result.batches) values.push(Number(batch.getChild('t')!.get(0)));
      return values[0];
    };
    assert.deepEqual([await threadsOf(3), await threadsOf()], [1, 2]);
  });

  test('a sort larger than the memory limit spills to the spill directory and completes', async () => {
    // 64 MiB for the scan instance (the interactive one keeps its 64): a sort of about 110 MB spills.
    await engine.configure({ memoryLimit: 128 * MIB, threads: 2, spillDirectory: join(dir.path, 'spill') });
    assert.equal(await engine.setting('scans', 'memory_limit'), '64.0 MiB');
    const rowCount = 1_200_000;
    const sql = `SELECT range AS a, md5(CAST(range AS VARCHAR)) || md5(CAST(range + 1 AS VARCHAR)) AS s FROM range(${rowCount}) ORDER BY s`;
    const result = await engine.stream({ sql, params: [], columns: [{ name: 'a', type: 'BIGINT', access: 'clear', cellMasked: false }, { name: 's', type: 'VARCHAR', access: 'clear', cellMasked: false }] }, new Map());
    let count = 0;
    let previous = '';
    let spilled = false;
    for await (const batch of result.batches) {
      const first = String(batch.getChild('s')!.get(0));
      const last = String(batch.getChild('s')!.get(batch.numRows - 1));
      assert.ok(previous <= first && first <= last, 'rows come sorted');
      previous = last;
      count += batch.numRows;
      const spill = join(dir.path, 'spill', `warden-${process.pid}-scans`);
      spilled ||= existsSync(spill) && readdirSync(spill).length > 0;
    }
    assert.equal(count, rowCount);
    assert.ok(spilled, 'DuckDB wrote to the spill directory');
  });
});

/** A request on a raw socket that reads the first bytes of the answer, then stops reading. */
async function stalledRequest(url: string, path: string, user: string, body: object): Promise<{ socket: Socket; head: string; closed: Promise<void> }> {
  const { hostname, port, pathname } = new URL(`${url}${path}`);
  const socket = connect(Number(port), hostname);
  const text = JSON.stringify(body);
  socket.write(`POST ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${await token(user)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  const head = await new Promise<string>((resolve, reject) => {
    socket.once('data', chunk => {
      socket.pause();
      resolve(chunk.toString('latin1').split('\r\n\r\n')[0]);
    });
    socket.once('error', reject);
  });
  const closed = new Promise<void>(resolve => socket.once('close', () => resolve()));
  return { socket, head, closed };
}

describe('admission against a running service', () => {
  let demo: Awaited<ReturnType<typeof demoLake>>;
  let running: RunningService;
  let url: string;
  const audit = () => readFileSync(join(demo.out, 'audit/audit.jsonl'), 'utf8').trim().split('\n').map(line => JSON.parse(line) as Row);

  before(async () => {
    // Large enough that a scan (27 MB) does not fit in the sockets' buffers.
    demo = await demoLake(200_000);
    const settings = join(demo.configDir, 'warden.yaml');
    writeFileSync(
      settings,
      `${readFileSync(settings, 'utf8')}resources:\n  heavy_queries: 1\n  queue_length: 2\n  queue_wait_seconds: 2\n  stream_buffers_mib: 200\n  stream_buffers_per_user: 0.5\n  stall_timeout_seconds: 3\n`
    );
    running = await startService(demo.configDir);
    url = running.url;
  });
  after(async () => {
    await running.close();
    demo.remove();
  });

  test('a second sort waits for the first, is refused with 503 and Retry-After, audited; light reads go on; the stalled client is cut', async () => {
    const started = performance.now();
    const first = await stalledRequest(url, `/datasets/${TRIAL}/scan`, 'pat', { orderBy: ['ssn'] });
    assert.match(first.head, /^HTTP\/1\.1 200/);
    const firstId = /x-warden-request-id: (\S+)/i.exec(first.head)![1];

    const refused = await api(`${url}/datasets/${TRIAL}/scan`, 'alice', { method: 'POST', body: JSON.stringify({ orderBy: ['participant_id'] }) });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '2');
    const body = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'overloaded');
    assert.equal(body.error.message, 'the service is busy: a large sort/aggregate is running; waited 2 s, retry in 2 s');

    // Light reads are not held back by the heavy one.
    const preview = await api(`${url}/datasets/${TRIAL}/preview?limit=5`, 'alice');
    assert.equal(preview.status, 200);
    assert.equal(tableFromIPC(new Uint8Array(await preview.arrayBuffer())).numRows, 5);
    const light = await api(`${url}/datasets/${TRIAL}/scan`, 'alice', { method: 'POST', body: JSON.stringify({ limit: 1000, columns: ['participant_id', 'country'] }) });
    assert.deepEqual([...new Set(rows(tableFromIPC(new Uint8Array(await light.arrayBuffer()))).map(row => row.country))], ['US']);

    // The client that stopped reading is cut after the stall timeout, audited so, and what its stream held is given back.
    await until(() => audit().some(record => record.request_id === firstId && record.event === 'complete'), 'the stalled stream to be cut', 20_000);
    const elapsed = (performance.now() - started) / 1000;
    assert.ok(elapsed >= 3, `cut after ${elapsed} s`);
    first.socket.destroy();
    const records = audit();
    const complete = records.find(record => record.request_id === firstId && record.event === 'complete')!;
    assert.equal(complete.outcome, 'aborted');
    assert.match(String(complete.reason), /the client took no data for 3 s: stream cut/);
    assert.ok(Number(complete.rows) < 200_000, `${complete.rows} rows recorded as delivered`);
    assert.equal(running.service.access.admission.heldBytes, 0);
    // Its batches are collected without waiting for other work to make V8 collect (the service runs in this process).
    await until(() => process.memoryUsage().arrayBuffers < 16 * MIB, `the cut stream's batches to be collected (${process.memoryUsage().arrayBuffers} bytes left)`, 5000);
    const refusal = records.find(record => record.user_name === 'alice' && record.outcome === 'refused')!;
    assert.equal(refusal.event, 'access');
    assert.equal(refusal.reason, body.error.message);
    assert.match(String(refusal.actual_reason), /^heavy in the engine's plan: ORDER_BY/);

    // With the slot free again, a sort runs: rows in order.
    const sorted = await api(`${url}/datasets/${TRIAL}/scan`, 'alice', { method: 'POST', body: JSON.stringify({ orderBy: ['participant_id'], columns: ['participant_id'], limit: 50_000 }) });
    const ids = rows(tableFromIPC(new Uint8Array(await sorted.arrayBuffer()))).map(row => String(row.participant_id));
    assert.equal(ids.length, 50_000);
    assert.deepEqual(ids, [...ids].sort());
  });

  test('sorted previews and scans of at most 5,000 rows (DuckDB\'s top-N) are light for every policy shape: answered at once while a sort holds the heavy slot, with the first rows of the sorted view', async () => {
    // Each user's whole view, unsorted (a light read), to know what the first sorted rows are.
    const views: Record<string, Row[]> = {};
    for (const user of ['alice', 'carlos']) {
      const all = await api(`${url}/datasets/${TRIAL}/scan`, user, { method: 'POST', body: JSON.stringify({ columns: ['participant_id', 'site'] }) });
      views[user] = rows(tableFromIPC(new Uint8Array(await all.arrayBuffer())));
    }
    const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const sortedValues = (user: string, column: string) => views[user].map(row => String(row[column])).sort(byText);

    const sorting = await stalledRequest(url, `/datasets/${TRIAL}/scan`, 'pat', { orderBy: ['ssn'] });
    assert.match(sorting.head, /^HTTP\/1\.1 200/);
    // The sort's client takes a little every second: never cut as stalled, it holds the heavy slot throughout.
    const trickle = setInterval(() => {
      sorting.socket.resume();
      setTimeout(() => sorting.socket.pause(), 10);
    }, 1000);
    const reads: [string, string, () => Promise<Response>, string, number][] = [];
    for (const user of ['alice', 'carlos']) {
      for (const [limit, key] of [[5, 'site'], [10, 'site'], [50, 'participant_id'], [51, 'site'], [100, 'site'], [5000, 'participant_id']] as const) {
        reads.push([user, `preview limit=${limit} orderBy=${key}`, () => api(`${url}/datasets/${TRIAL}/preview?limit=${Math.min(limit, 1000)}&orderBy=${key}`, user), key, Math.min(limit, 1000)]);
        reads.push([user, `scan limit ${limit} orderBy ${key}`, () => api(`${url}/datasets/${TRIAL}/scan`, user, { method: 'POST', body: JSON.stringify({ limit, orderBy: [key] }) }), key, limit]);
      }
    }
    for (const [user, what, read, key, limit] of reads) {
      const response = await read();
      assert.equal(response.status, 200, `${user} ${what}: ${response.status} ${response.status === 200 ? '' : await response.text()}`);
      const got = rows(tableFromIPC(new Uint8Array(await response.arrayBuffer())));
      const expected = sortedValues(user, key).slice(0, limit);
      assert.deepEqual(got.map(row => String(row[key])), expected, `${user} ${what}: the first rows of the sorted view`);
      if (user === 'alice') assert.deepEqual([...new Set(got.map(row => row.country))], ['US'], `${user} ${what}: within the row filter`);
      else assert.ok(!('ssn' in got[0]) && !('name' in got[0]), `${user} ${what}: hidden columns stay hidden`);
    }
    // The sort held its slot all along: a heavy read among these would have waited, then got 503.
    const sortId = /x-warden-request-id: (\S+)/i.exec(sorting.head)![1];
    assert.ok(!audit().some(record => record.request_id === sortId && record.event === 'complete'), 'the sort was still running');
    clearInterval(trickle);
    sorting.socket.destroy();
    await sorting.closed;
    await until(() => running.service.access.admission.heldBytes === 0, 'the sort to give its room back');
  });

  test('one user\'s slow streams take at most their share of the stream buffers: their next read waits, other users\' reads do not wait behind it', async () => {
    const stalled = await stalledRequest(url, `/datasets/${TRIAL}/scan`, 'pat', {});
    assert.match(stalled.head, /^HTTP\/1\.1 200/);
    const admission = running.service.access.admission;
    const own = api(`${url}/datasets/${TRIAL}/scan`, 'pat', { method: 'POST', body: '{}' });
    await until(() => admission.waitingReads === 1, "pat's second read to wait");
    // While pat's read waits on pat's share, carlos's whole scan runs.
    const other = await api(`${url}/datasets/${TRIAL}/scan`, 'carlos', { method: 'POST', body: JSON.stringify({ columns: ['participant_id'] }) });
    assert.equal(other.status, 200);
    assert.equal(admission.waitingReads, 1, "carlos's answer started while pat's read waited");
    assert.equal(tableFromIPC(new Uint8Array(await other.arrayBuffer())).numRows, 200_000);
    const refused = await own;
    assert.equal(refused.status, 503);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /yours 96 of 100 MiB/);
    stalled.socket.destroy();
    await stalled.closed;
    // Once the stalled stream is gone, its room is back.
    await until(() => running.service.access.admission.heldBytes === 0, 'the stalled stream to give its room back');
    const again = await api(`${url}/datasets/${TRIAL}/scan`, 'pat', { method: 'POST', body: JSON.stringify({ limit: 10 }) });
    assert.equal(again.status, 200);
    await again.arrayBuffer();
  });
});
