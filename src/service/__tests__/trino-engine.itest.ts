/**
 * The Trino engine against the running cluster (scripts/trino/test.sh): Arrow from Trino's
 * pages, backpressure and cancel, push-down into the Iceberg scan of a partitioned table,
 * the service's read-only login, the request id in Trino's query log, and a Trino that is
 * down or silent failing fast with a clear error.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Server, Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { ARROW_META, REQUEST_ID_HEADER } from '../../common/api';
import { compileRead } from '../access/read';
import { scanRequest } from '../access/requests';
import { CompiledScan } from '../engine/compile';
import { EngineUnavailableError, SourceError } from '../engine/engine';
import { TrinoClient, TrinoEngine, executeStatement } from '../engine/trino';
import { decide } from '../policy/decide';
import { RunningService, startService, token } from './helpers';
import { QueryInfo, demoOnTrino, loaderClient, queriesWithClientInfo, query, queryInfo as queryInfoById, wardenEngine } from './trino-support';

let warden: TrinoEngine;
let loader: TrinoClient;

before(() => {
  warden = wardenEngine();
  loader = loaderClient();
});
after(async () => {
  await warden?.close();
  loader?.close();
});

const compiled = (sql: string, names: string[]): CompiledScan => ({ sql, params: [], columns: names.map(name => ({ name, type: '', access: 'clear', cellMasked: false })) });
const withRequestId = (requestId: string) => new Map([[ARROW_META.requestId, requestId]]);

/** Trino's record of the last query whose text holds `marker` (as the writer account, which may see every query). */
async function queryInfo(marker: string): Promise<QueryInfo> {
  const found = await query(
    loader,
    "SELECT query_id FROM system.runtime.queries WHERE source = 'warden' AND strpos(query, $1) > 0 AND strpos(query, 'system.runtime') = 0 ORDER BY created DESC LIMIT 1",
    [marker]
  );
  assert.equal(found.length, 1, `a query holding ${marker}`);
  return queryInfoById(loader, found[0][0] as string);
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  let value = await read();
  for (let attempt = 0; attempt < 50 && !done(value); attempt++) {
    await new Promise(resolve => setTimeout(resolve, 200));
    value = await read();
  }
  assert.ok(done(value), `${what}: ${JSON.stringify(value)}`);
  return value;
}

describe('Arrow from Trino pages', () => {
  test('every type, nulls and bigints past 2^53, in batches of at most 16,384 rows', async () => {
    const sql = `SELECT
        CASE WHEN i % 3 = 0 THEN NULL ELSE CAST(i AS integer) END AS int_col,
        CASE WHEN i % 5 = 1 THEN NULL ELSE CAST(i AS bigint) * 1000000000000 + 1 END AS big_col,
        CAST(i % 100 AS smallint) AS small_col,
        CAST(i % 100 AS tinyint) AS tiny_col,
        CASE WHEN i % 7 = 2 THEN NULL ELSE i / 4.0E0 END AS double_col,
        CAST(i / 8.0E0 AS real) AS real_col,
        CASE WHEN i % 11 = 3 THEN NULL ELSE CAST(i / 8.0E0 AS decimal(12, 3)) END AS decimal_col,
        CASE WHEN i % 13 = 4 THEN NULL ELSE i % 2 = 0 END AS bool_col,
        CASE WHEN i % 4 = 0 THEN NULL ELSE DATE '2000-01-01' + i * INTERVAL '1' DAY END AS date_col,
        CASE WHEN i % 6 = 0 THEN NULL ELSE CAST(from_unixtime_nanos((1577836800 + i) * 1000000000 + i * 1000) AS timestamp(6)) END AS ts_col,
        at_timezone(CAST(from_unixtime(1593572400 + i * 3600) AS timestamp(6) with time zone), '+05:30') AS tstz_col,
        CASE WHEN i % 9 = 0 THEN NULL ELSE 'text ' || CAST(i AS varchar) || ' é' END AS text_col,
        CASE i % 5 WHEN 0 THEN 'say "hi" \\ ' || CAST(i AS varchar) WHEN 1 THEN 'two' || chr(10) || 'lines' || chr(9) WHEN 2 THEN chr(1) || '/ctl' WHEN 3 THEN '😀 [1,2] {"a": null}' ELSE '' END AS tricky_col,
        ARRAY[i, i + 1] AS array_col
      FROM (SELECT h * 1000 + l AS i FROM UNNEST(sequence(0, 39)) AS a(h) CROSS JOIN UNNEST(sequence(0, 999)) AS b(l))
      ORDER BY i`;
    const names = ['int_col', 'big_col', 'small_col', 'tiny_col', 'double_col', 'real_col', 'decimal_col', 'bool_col', 'date_col', 'ts_col', 'tstz_col', 'text_col', 'tricky_col', 'array_col'];
    const result = await warden.stream(compiled(sql, names), new Map());
    assert.deepEqual(result.schema.fields.map(field => String(field.type)), [
      'Int32', 'Int64', 'Int16', 'Int8', 'Float64', 'Float32', 'Float64', 'Bool', 'Date32<DAY>', 'Timestamp<MICROSECOND>', 'Timestamp<MICROSECOND, UTC>', 'Utf8', 'Utf8', 'Utf8'
    ]);
    let received = 0;
    let batches = 0;
    for await (const batch of result.batches) {
      batches++;
      assert.ok(batch.numRows <= 16_384, `batch of ${batch.numRows} rows`);
      for (let r = 0; r < batch.numRows; r++, received++) {
        const i = received;
        const raw = (c: number) => (batch.getChildAt(c)!.isValid(r) ? (c === 9 || c === 10 ? batch.getChildAt(c)!.data[0].values[r] : batch.getChildAt(c)!.get(r)) : null);
        assert.deepEqual(
          Object.fromEntries(names.map((name, c) => [name, raw(c)])),
          {
            int_col: i % 3 === 0 ? null : i,
            big_col: i % 5 === 1 ? null : BigInt(i) * 1_000_000_000_000n + 1n,
            small_col: i % 100,
            tiny_col: i % 100,
            double_col: i % 7 === 2 ? null : i / 4,
            real_col: Math.fround(i / 8),
            decimal_col: i % 11 === 3 ? null : i / 8,
            bool_col: i % 13 === 4 ? null : i % 2 === 0,
            date_col: i % 4 === 0 ? null : Date.UTC(2000, 0, 1) + i * 86_400_000,
            ts_col: i % 6 === 0 ? null : (1_577_836_800n + BigInt(i)) * 1_000_000n + BigInt(i),
            tstz_col: (1_593_572_400n + BigInt(i) * 3600n) * 1_000_000n,
            text_col: i % 9 === 0 ? null : `text ${i} é`,
            // Escaped in Trino's JSON: quotes, backslashes, control characters.
            tricky_col: [`say "hi" \\ ${i}`, 'two\nlines\t', '\u0001/ctl', '😀 [1,2] {"a": null}', ''][i % 5],
            array_col: `[${i},${i + 1}]`
          },
          `row ${i}`
        );
      }
    }
    assert.equal(received, 40_000);
    assert.ok(batches >= 3, `${batches} batches`);
  });

  test('backpressure: Trino stops producing while the consumer holds a batch; stopping cancels the query', async t => {
    const marker = `held_${randomUUID().slice(0, 8)}`;
    const total = 3000 * 3000;
    const sql = `SELECT x * 10000 + y AS ${marker}, 'some padding to make rows wider ' || CAST(y AS varchar) AS padding
      FROM UNNEST(sequence(1, 3000)) AS a(x) CROSS JOIN UNNEST(sequence(1, 3000)) AS b(y)`;
    const result = await warden.stream(compiled(sql, [marker, 'padding']), withRequestId(marker));
    const batches = result.batches[Symbol.asyncIterator]();
    const first = await batches.next();
    assert.ok(first.value!.numRows > 0 && first.value!.numRows <= 16_384);

    // Held: the output stalls (buffers full) far below the whole result.
    const stalled = await eventually(
      async () => {
        const before = (await queryInfo(marker)).queryStats.outputPositions;
        await new Promise(resolve => setTimeout(resolve, 1000));
        const info = await queryInfo(marker);
        return { before, after: info.queryStats.outputPositions, state: info.state };
      },
      // Trino's statistics lag: 0 until its first update.
      sample => sample.after > 0 && sample.before === sample.after,
      'output stops growing while the batch is held'
    );
    assert.equal(stalled.state, 'RUNNING');
    assert.ok(stalled.after < total / 2, `Trino produced ${stalled.after} of ${total} rows while nothing was read`);
    t.diagnostic(`held after one batch: Trino stalled at ${stalled.after} of ${total} rows (its output buffers full)`);

    await batches.return!();
    const cancelled = await eventually(() => queryInfo(marker), info => info.state === 'FAILED', 'the query ends once the consumer stops');
    assert.equal(cancelled.errorCode?.name, 'USER_CANCELED');
    // The row of system.runtime.queries says the same.
    const [[state, code]] = await query(loader, "SELECT state, error_code FROM system.runtime.queries WHERE strpos(query, $1) > 0 AND strpos(query, 'system.runtime') = 0", [marker]);
    assert.deepEqual([state, code], ['FAILED', 'USER_CANCELED']);
  });

  test('rows per second from Trino pages into Arrow', async t => {
    const rowsWanted = 300_000;
    const started = process.hrtime.bigint();
    const result = await warden.stream(
      compiled(
        `SELECT i AS id, 'P' || lpad(CAST(i AS varchar), 7, '0') AS name, DATE '2000-01-01' + (i % 9000) * INTERVAL '1' DAY AS day, i * 1.5E0 AS amount, i % 2 = 0 AS flag
         FROM (SELECT h * 1000 + l AS i FROM UNNEST(sequence(1, ${rowsWanted / 1000})) AS a(h) CROSS JOIN UNNEST(sequence(0, 999)) AS b(l))`,
        ['id', 'name', 'day', 'amount', 'flag']
      ),
      new Map()
    );
    let received = 0;
    for await (const batch of result.batches) received += batch.numRows;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    assert.equal(received, rowsWanted);
    t.diagnostic(`Trino scan: ${rowsWanted} rows x 5 columns in ${seconds.toFixed(2)} s = ${Math.round(rowsWanted / seconds)} rows/s`);
  });

  test("the request id and the source are in Trino's query log, under the service's own user", async () => {
    const requestId = `req_${randomUUID()}`;
    const marker = `logged_${randomUUID().slice(0, 8)}`;
    const result = await warden.stream(compiled(`SELECT 1 AS ${marker}`, [marker]), withRequestId(requestId));
    for await (const _batch of result.batches);
    const info = await queryInfo(marker);
    assert.deepEqual({ user: info.session.user, source: info.session.source, clientInfo: info.session.clientInfo }, { user: 'warden', source: 'warden', clientInfo: requestId });
  });
});

describe('the service account', () => {
  test('reads but cannot write or create', async () => {
    assert.deepEqual(await query(warden.client, 'SELECT count(*) > 0 FROM lake.drug_xyz.trial_july2020'), [[true]]);
    for (const statement of ["INSERT INTO lake.drug_xyz.trial_july2020 (participant_id) VALUES ('P9999999')", 'CREATE TABLE lake.drug_xyz.mine (x integer)', 'DROP TABLE lake.drug_xyz.trial_july2020', 'CREATE SCHEMA lake.warden_own']) {
      await assert.rejects(query(warden.client, statement), /Access Denied/, statement);
    }
  });

  test('a wrong password is refused with a clear message; describe names what is missing', async () => {
    const wrong = wardenEngine({ password: 'not-the-password' });
    try {
      await assert.rejects(query(wrong.client, 'SELECT 1'), /login refused \(HTTP 401\): check the user and password/);
    } finally {
      await wrong.close();
    }
    await assert.rejects(warden.describe({ format: 'trino', connection: 'lake', table: 'drug_xyz.no_such_table' }), (error: unknown) => {
      assert.ok(error instanceof SourceError);
      assert.match(error.message, /Trino connection lake_service \(warden@https:\/\/127\.0\.0\.1:\d+\): no table or view "lake"\."drug_xyz"\."no_such_table" \(or user warden cannot see it\)/);
      return true;
    });
  });
});

describe('push-down on a partitioned Iceberg table, through the service', () => {
  let demo: Awaited<ReturnType<typeof demoOnTrino>>;
  let running: RunningService;
  const TRIAL = 'drug_xyz.trial_july2020';

  before(async () => {
    demo = await demoOnTrino();
    running = await startService(demo.configDir);
  });
  after(async () => {
    await running?.close();
    demo?.remove();
  });

  /** The scan the service runs for `user` and a request body, as sent to Trino. */
  async function compiledFor(user: string, body: object): Promise<CompiledScan> {
    const { enforcement, catalog, config } = running.service;
    const { principal } = await enforcement.authenticate(`Bearer ${await token(user)}`);
    const dataset = catalog.get(TRIAL)!;
    return compileRead(dataset, decide(principal, dataset.facts, config.policies), scanRequest(body).plan, enforcement.maskKeys(TRIAL));
  }

  test("EXPLAIN shows the row filter and the caller's predicate in the table scan's constraint", async () => {
    // alice, an analyst in the US, sees her region's rows only (a row filter on country).
    const scan = await compiledFor('alice', { columns: ['participant_id', 'site', 'outcome'], filter: "site = 'Site-03'" });
    const [[plan]] = await query(warden.client, `EXPLAIN (TYPE IO, FORMAT JSON) ${executeStatement(scan.sql, scan.params)}`);
    const io = JSON.parse(plan as string) as { inputTableColumnInfos: { table: unknown; constraint: { columnConstraints: { columnName: string; domain: { ranges: unknown[] } }[] } }[] };
    assert.equal(io.inputTableColumnInfos.length, 1);
    assert.deepEqual(io.inputTableColumnInfos[0].table, { catalog: 'lake', schemaTable: { schema: 'drug_xyz', table: 'trial_july2020' } });
    const exactly = (value: string) => [{ low: { value, bound: 'EXACTLY' }, high: { value, bound: 'EXACTLY' } }];
    assert.deepEqual(
      io.inputTableColumnInfos[0].constraint.columnConstraints.map(constraint => [constraint.columnName, constraint.domain.ranges]),
      [
        ['country', exactly('US')],
        ['site', exactly('Site-03')]
      ]
    );
  });

  test('partition pruning: Trino reads only the rows of the US partition and sends only the matching ones', async t => {
    const [[us, usAtSite, all]] = await query(
      loader,
      "SELECT count_if(country = 'US'), count_if(country = 'US' AND site = 'Site-03'), count(*) FROM lake.drug_xyz.trial_july2020"
    );
    const response = await fetch(`${running.url}/datasets/${TRIAL}/scan`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token('alice')}` },
      body: JSON.stringify({ columns: ['participant_id', 'site'], filter: "site = 'Site-03'" })
    });
    assert.equal(response.status, 200);
    const table = tableFromIPC(new Uint8Array(await response.arrayBuffer()));
    assert.equal(table.numRows, usAtSite);
    assert.ok((us as number) < (all as number));
    const [info] = await queriesWithClientInfo(loader, response.headers.get(REQUEST_ID_HEADER)!);
    assert.equal(info.queryStats.outputPositions, usAtSite, 'the service receives exactly the rows it returns');
    assert.ok(info.queryStats.physicalInputPositions <= (us as number), `read ${info.queryStats.physicalInputPositions} rows; the US partition has ${us}, the table ${all}`);
    t.diagnostic(`Trino read ${info.queryStats.physicalInputPositions} of ${all} rows (US partition: ${us}) and sent ${info.queryStats.outputPositions}`);
  });
});

describe('a Trino that is down or silent', () => {
  const sockets: Socket[] = [];
  let silent: Server;

  before(async () => {
    // Accepts connections and never answers.
    silent = createServer(socket => sockets.push(socket));
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    sockets.forEach(socket => socket.destroy());
    await new Promise(resolve => silent.close(resolve));
  });

  async function failure(engine: TrinoEngine): Promise<{ error: Error; ms: number }> {
    const started = Date.now();
    try {
      await engine.stream(compiled('SELECT 1 AS x', ['x']), new Map());
    } catch (error) {
      return { error: error as Error, ms: Date.now() - started };
    } finally {
      await engine.close();
    }
    throw new Error('the query ran');
  }

  test('ready: resolves on the running coordinator; a Trino that is not there is unavailable, diagnosed as such', async () => {
    await warden.ready();
    const closed = createServer();
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise(resolve => closed.close(resolve));
    const gone = wardenEngine({ url: `https://127.0.0.1:${port}`, retries: 0, requestTimeoutMs: 2000 });
    try {
      const error = await gone.ready().then(
        () => assert.fail('ready() resolved with nothing listening'),
        (error: unknown) => error
      );
      assert.ok(error instanceof EngineUnavailableError, String(error));
      assert.equal(gone.diagnose(error).kind, 'unavailable');
    } finally {
      await gone.close();
    }
  });

  test('a refused connection fails after the configured retries, at once, naming the connection', async () => {
    const closed = createServer();
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise(resolve => closed.close(resolve));
    const { error, ms } = await failure(wardenEngine({ url: `https://127.0.0.1:${port}`, retries: 2, requestTimeoutMs: 5000 }));
    assert.ok(error instanceof EngineUnavailableError, String(error));
    assert.match(error.message, new RegExp(`Trino connection lake_service \\(warden@https://127\\.0\\.0\\.1:${port}\\) is unavailable: connect ECONNREFUSED .* \\(after 3 attempts`));
    assert.ok(ms < 3000, `failed after ${ms} ms`);
  });

  test('a server that never answers fails after the request timeout; a statement that may have arrived is not sent twice', async () => {
    const { port } = silent.address() as { port: number };
    const { error, ms } = await failure(wardenEngine({ url: `https://127.0.0.1:${port}`, retries: 1, requestTimeoutMs: 400 }));
    assert.ok(error instanceof EngineUnavailableError, String(error));
    assert.match(error.message, /is unavailable: no answer within 400 ms \(after 1 attempt,/);
    assert.equal(sockets.length, 1, 'one connection: the POST was not repeated');
    assert.ok(ms < 3000, `failed after ${ms} ms`);
  });

  test('through the service: a Trino that goes down gives 503 engine_unavailable at once, audited, and the service recovers with it', async () => {
    // The service reaches Trino through a TCP relay the test can cut (TLS passes through it).
    const target = new URL(process.env.WARDEN_TRINO_URL!);
    let up = true;
    const relayed: Socket[] = [];
    const relay = createServer(client => {
      if (!up) return client.destroy();
      const upstream = connect(Number(target.port), target.hostname);
      relayed.push(client, upstream);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>(resolve => relay.listen(0, '127.0.0.1', resolve));
    const demo = await demoOnTrino();
    const settings = join(demo.configDir, 'warden.yaml');
    const relayUrl = `https://127.0.0.1:${(relay.address() as { port: number }).port}`;
    writeFileSync(settings, readFileSync(settings, 'utf8').replace(`"url":"${target.origin}"`, `"url":"${relayUrl}","request_timeout_ms":2000,"retries":1`));
    const running = await startService(demo.configDir);
    const scanTrial = async () => {
      const started = Date.now();
      const response = await fetch(`${running.url}/datasets/drug_xyz.trial_july2020/scan`, { method: 'POST', headers: { authorization: `Bearer ${await token('alice')}` }, body: '{"limit": 5}' });
      const body = response.status === 200 ? tableFromIPC(new Uint8Array(await response.arrayBuffer())).numRows : ((await response.json()) as { error: { code: string; message: string } }).error;
      return { status: response.status, body, ms: Date.now() - started };
    };
    try {
      assert.deepEqual((await scanTrial()).body, 5);
      // Down: new connections are refused, and the service's kept-alive ones are cut.
      up = false;
      relayed.forEach(socket => socket.destroy());
      const down = await scanTrial();
      assert.equal(down.status, 503);
      // The caller is told the kind of failure only; which Trino and why is for compliance.
      assert.deepEqual(down.body, { code: 'engine_unavailable', message: 'the engine that holds this dataset cannot be reached now; try again later' });
      assert.ok(down.ms < 2000, `answered after ${down.ms} ms`);
      const audit = readFileSync(join(demo.out, 'audit/audit.jsonl'), 'utf8').trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>);
      // The refusal is audited with its cause (error answers carry no request id header: the last
      // access record is it; the first scan's complete record may be written after it).
      const refused = audit.filter(record => record.event === 'access').at(-1)!;
      assert.deepEqual([refused.event, refused.outcome, refused.user_name, refused.reason], ['access', 'error', 'alice', (down.body as { message: string }).message]);
      assert.match(
        String(refused.actual_reason),
        new RegExp(
          `^Trino connection lake \\(warden@${relayUrl.replace(/[.]/g, '\\.')}\\) is unavailable: (connect ECONNREFUSED|socket hang up|read ECONNRESET|Client network socket disconnected).* \\(after \\d attempts?, 2000 ms each at most\\); try again later or tell your Warden operator$`
        )
      );
      up = true;
      assert.deepEqual((await scanTrial()).body, 5, 'back as soon as Trino is');
    } finally {
      await running.close();
      relayed.forEach(socket => socket.destroy());
      await new Promise(resolve => relay.close(resolve));
      demo.remove();
    }
  });
});
