/**
 * Attacks on the audit log, run by the adversarial suite: the log as an existence oracle,
 * input that would make the log unreadable, one record failing others' group commit.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { tableFromIPC } from 'apache-arrow';
import { AUDIT_COLUMNS, AuditRecord } from '../audit/record';
import { RunningService, rows, startService, tempDir, token } from './helpers';
import { record } from './ledger';
import { PostgresCluster, startPostgres } from './postgres-cluster';

type Row = Record<string, unknown>;

export interface SharedService {
  url: string;
  running: RunningService;
  configDir: string;
  lakeDir: string;
  /** Where the shared service writes its audit file, audit.jsonl. */
  auditDir: string;
}

const TRIAL = 'drug_xyz.trial_july2020';

/** A caller: a directory persona, or a user whose groups and attributes come from token claims. */
interface Caller {
  user: string;
  claims?: Record<string, unknown>;
}

async function call(url: string, caller: Caller, path: string, init: RequestInit & { notebook?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${await token(caller.user, { claims: caller.claims })}`);
  if (init.notebook !== undefined) headers.set('x-warden-notebook', encodeURIComponent(init.notebook));
  return fetch(`${url}${path}`, { ...init, headers });
}

/** The audit records `caller` may read (their own, through the governed dataset), matching `filter`. */
async function auditView(url: string, caller: Caller, filter: string): Promise<{ status: number; rows: Row[]; columns: string[]; body: string }> {
  const response = await call(url, caller, '/datasets/warden.audit_log/scan', { method: 'POST', body: JSON.stringify({ filter, limit: 100_000 }) });
  if (response.status !== 200) return { status: response.status, rows: [], columns: [], body: await response.text() };
  const table = tableFromIPC(new Uint8Array(await response.arrayBuffer()));
  return { status: 200, rows: rows(table), columns: table.schema.fields.map(field => field.name), body: '' };
}

/** Fields with the exact values restored from `raw_values` (how compliance reads odd text back). */
function exactValues(stored: Row): Row {
  const { raw_values: raw, ...fields } = stored;
  return typeof raw === 'string' ? { ...fields, ...(JSON.parse(raw) as Row) } : fields;
}

const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;

const COMPLIANCE: Caller = { user: 'cora' };

export function auditAttacks(shared: () => SharedService): void {
  describe('the audit log', () => {
    test('the own audit records of a user as an existence oracle (fast-check over users, actions, names)', async () => {
      const { url } = shared();
      // Each way a dataset can be hidden: a deny, no grant, a policy that cannot bind to the user.
      const hiddenFrom = [
        { caller: { user: 'carlos' }, dataset: 'commercial.production_batches', denial: /^denied by policy no-contractors-on-confidential$/ },
        { caller: { user: 'zed', claims: { groups: ['visitors'] } }, dataset: TRIAL, denial: /^no grant matches$/ },
        { caller: { user: 'ann', claims: { groups: ['analysts'], attributes: { region: ['US', 'DE'] } } }, dataset: TRIAL, denial: /user\.region is a list/ }
      ];
      const requests: Record<string, (name: string, notebook: string, limit: number) => [string, RequestInit & { notebook: string }]> = {
        describe: (name, notebook) => [`/datasets/${encodeURIComponent(name)}`, { notebook }],
        preview: (name, notebook, limit) => [`/datasets/${encodeURIComponent(name)}/preview?limit=${limit}`, { notebook }],
        scan: (name, notebook, limit) => [`/datasets/${encodeURIComponent(name)}/scan`, { method: 'POST', body: JSON.stringify({ limit, filter: 'x = 1' }), notebook }],
        'malformed scan': (name, notebook) => [`/datasets/${encodeURIComponent(name)}/scan`, { method: 'POST', body: '{"filter": "((("}', notebook }],
        snippet: (name, notebook) => [`/datasets/${encodeURIComponent(name)}/snippet?flavour=polars`, { notebook }],
        catalog: (name, notebook) => [`/datasets?q=${encodeURIComponent(name)}`, { notebook }]
      };
      let tries = 0;
      let leaks = 0;
      let run = 0;
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom(...hiddenFrom),
            fc.constantFrom(...Object.keys(requests)),
            fc.stringMatching(/^[a-z_]{0,6}$/),
            fc.nat(50),
            async (hidden, action, suffix, limit) => {
              tries += 2;
              run++;
              // A name that does not exist, as close to the hidden one as the property likes.
              const missing = `${hidden.dataset}${suffix}_missing`;
              const marker = `oracle-${process.pid}-${run}`;
              for (const [name, side] of [[hidden.dataset, 'hidden'], [missing, 'missing']]) {
                const [path, init] = requests[action](name, `${marker}-${side}`, limit);
                const response = await call(url, hidden.caller, path, init);
                assert.ok([200, 400, 404].includes(response.status), `${action} ${name}: ${response.status}`);
                await response.arrayBuffer();
              }
              const filter = `notebook IN (${quote(`${marker}-hidden`)}, ${quote(`${marker}-missing`)})`;
              const own = await auditView(url, hidden.caller, filter);
              assert.equal(own.status, 200, own.body);
              const bySide = (side: string, view: Row[]) => view.filter(row => row.notebook === `${marker}-${side}`);
              // Everything a user can see of the two records, with the names they typed blanked out.
              const seen = (side: string, name: string) =>
                bySide(side, own.rows).map(row =>
                  Object.fromEntries(
                    Object.entries(row)
                      .filter(([key]) => !['time', 'request_id', 'notebook'].includes(key))
                      .map(([key, value]) => [key, typeof value === 'string' ? value.split(name).join('<name>') : value])
                  )
                );
              const same = JSON.stringify(seen('hidden', hidden.dataset)) === JSON.stringify(seen('missing', missing));
              if (!same || own.columns.some(column => column.startsWith('actual_') || column === 'raw_values')) leaks++;
              assert.deepEqual(seen('hidden', hidden.dataset), seen('missing', missing), `${action} as ${hidden.caller.user}`);
              // Compliance still sees the truth.
              const truth = await auditView(url, COMPLIANCE, filter);
              const hiddenTruth = bySide('hidden', truth.rows);
              const missingTruth = bySide('missing', truth.rows);
              assert.equal(hiddenTruth.length, missingTruth.length);
              if (action !== 'catalog') {
                assert.equal(hiddenTruth.length, 1);
                assert.equal(hiddenTruth[0].actual_outcome, 'denied');
                assert.match(String(hiddenTruth[0].actual_reason), hidden.denial);
                assert.deepEqual([missingTruth[0].actual_outcome, missingTruth[0].actual_reason], ['not_found', 'no such dataset']);
              }
            }
          ),
          { numRuns: 30 }
        );
      } finally {
        record({
          category: 'inference',
          attack: "hidden vs nonexistent dataset: the caller's own audit records (fast-check: deny, no grant, unbindable policy x 6 actions)",
          tries,
          leaks,
          auditLost: 0,
          note: 'records say what the caller was told (not_found); actual_outcome/actual_reason/raw_values hidden from non-compliance, compliance sees the denying policy'
        });
      }
    });

    test('input that could make the audit log unreadable: lone surrogates, NUL, control characters, huge text', async () => {
      const { url } = shared();
      const alice: Caller = { user: 'alice' };
      const attacks: { what: string; path: string; body?: string; notebook: string; field: keyof AuditRecord; exact: string }[] = [
        { what: 'lone high surrogate in a filter', path: `/datasets/${TRIAL}/scan`, body: '{"filter": "country = \'\\ud800\'"}', notebook: 'surrogate-high', field: 'caller_filter', exact: "country = '\ud800'" },
        { what: 'lone low surrogate in a filter', path: `/datasets/${TRIAL}/scan`, body: '{"filter": "site = \'\\udfff x\'"}', notebook: 'surrogate-low', field: 'caller_filter', exact: "site = '\udfff x'" },
        { what: 'NUL in a filter', path: `/datasets/${TRIAL}/scan`, body: '{"filter": "site = \'a\\u0000b\'"}', notebook: 'nul-filter', field: 'caller_filter', exact: "site = 'a\u0000b'" },
        { what: 'control characters in a filter', path: `/datasets/${TRIAL}/scan`, body: '{"filter": "site = \'\\u0001\\u001b[31m\\n\\r\\u2028\'"}', notebook: 'controls', field: 'caller_filter', exact: "site = '\u0001\u001b[31m\n\r\u2028'" },
        { what: 'longest filter accepted', path: `/datasets/${TRIAL}/scan`, body: JSON.stringify({ filter: `site = '${'é\ud83d\ude00'.repeat(3_300)}'` }), notebook: 'huge-filter', field: 'caller_filter', exact: `site = '${'é\ud83d\ude00'.repeat(3_300)}'` },
        { what: '6,000-character dataset name', path: `/datasets/${'n'.repeat(6_000)}`, notebook: 'huge-dataset', field: 'dataset', exact: 'n'.repeat(6_000) },
        { what: 'NUL in a dataset name', path: '/datasets/a%00b/preview', notebook: 'nul-dataset', field: 'dataset', exact: 'a\u0000b' },
        { what: 'noncharacter and emoji in a dataset name', path: `/datasets/${encodeURIComponent('x\uffff\ud83d\ude00')}`, notebook: 'nonchar-dataset', field: 'dataset', exact: 'x\uffff\ud83d\ude00' },
        { what: 'NUL in the notebook header', path: `/datasets/${TRIAL}/preview?limit=1`, notebook: 'nul-notebook\u0000', field: 'notebook', exact: 'nul-notebook\u0000' }
      ];
      let leaks = 0;
      for (const attack of attacks) {
        const response = await call(url, alice, attack.path, { method: attack.body ? 'POST' : 'GET', body: attack.body, notebook: attack.notebook });
        await response.arrayBuffer();
        const marker = attack.notebook.replace(/\0/g, '\uFFFD');
        const filter = `notebook = ${quote(marker)} AND event = 'access'`;
        const own = await auditView(url, alice, filter);
        const all = await auditView(url, COMPLIANCE, filter);
        const faithful = all.rows.length === 1 && exactValues(all.rows[0])[attack.field] === attack.exact;
        // The user's own view is readable too; what the log answers never names its file.
        const ok = own.status === 200 && own.rows.length === 1 && all.status === 200 && faithful && !`${own.body}${all.body}`.includes('audit.jsonl');
        if (!ok) leaks++;
        assert.ok(ok, `${attack.what}: own ${own.status} ${own.body}, compliance ${all.status} ${all.body}, faithful ${faithful}`);
      }
      record({ category: 'input', attack: 'lone surrogates, NUL, controls, long text in filters, dataset names, notebook', tries: attacks.length, leaks, auditLost: leaks, note: 'log stays readable by the user and compliance; exact text kept in raw_values, no file path in any answer' });
    });

    test('arbitrary strings in every recorded field round-trip through the file sink and warden.audit_log (fast-check)', () =>
      roundTrip(shared().running, 150, 'file sink', 'every value read back exactly (raw_values for lone surrogates and NUL)'));
  });

  describe('the audit file rotated and deleted under a running service', () => {
    let child: ChildProcess | undefined;
    let dir: { path: string; remove: () => void };
    let config: string;

    before(() => {
      dir = tempDir('adv-rotate');
      config = join(dir.path, 'config');
      cpSync(shared().configDir, config, { recursive: true });
      const settings = readFileSync(join(config, 'warden.yaml'), 'utf8')
        .replace('data_roots: [../lake]', `data_roots: [${shared().lakeDir}]`)
        .replace(/audit:\n {2}path: .*\n/, `audit:\n  path: ${join(dir.path, 'log', 'audit.jsonl')}\n`);
      writeFileSync(join(config, 'warden.yaml'), settings);
    });

    after(() => {
      child?.kill('SIGKILL');
      dir.remove();
    });

    async function spawnService(): Promise<string> {
      const started = spawn(process.execPath, ['--import', 'tsx', 'src/service/main.ts', '--config', config, '--port', '0', '--no-watch'], { env: process.env, stdio: ['ignore', 'pipe', 'inherit'] });
      child = started;
      return new Promise((resolve, reject) => {
        started.stdout!.on('data', (chunk: Buffer) => {
          const match = /listening on (http:\/\/\S+)/.exec(chunk.toString());
          if (match) resolve(`${match[1]}/api/v1`);
        });
        started.on('exit', code => reject(new Error(`service exited with ${code}`)));
      });
    }

    test('a delete, then rename rotation under load: every released preview has its record in warden.audit_log after a restart', async () => {
      const logPath = join(dir.path, 'log', 'audit.jsonl');
      let url = await spawnService();
      const released: string[] = [];
      const preview = async (user: string) => {
        const response = await call(url, { user }, `/datasets/${TRIAL}/preview?limit=3`);
        await response.arrayBuffer();
        assert.equal(response.status, 200);
        released.push(response.headers.get('x-warden-request-id')!);
      };
      // 1. The live file deleted; what it held goes with it (the deleter's doing, not the service's).
      await preview('alice');
      const deletedWith = new Set(readFileSync(logPath, 'utf8').trim().split('\n').map(line => JSON.parse(line).request_id as string));
      unlinkSync(logPath);
      // The case of the issue: previews answered after the delete.
      for (let i = 0; i < 10; i++) await preview(['alice', 'pat'][i % 2]);
      const afterDelete = released.slice(-10);
      // 2. Rotation by rename (as logrotate does without copytruncate) while three users preview.
      let loading = true;
      const load = Promise.all(['alice', 'pat', 'carlos'].map(async user => {
        for (let i = 0; i < 40; i++) await preview(user);
      })).finally(() => (loading = false));
      let rotations = 0;
      while (loading) {
        await new Promise(resolve => setTimeout(resolve, 40));
        if (!existsSync(logPath)) continue;
        renameSync(logPath, `${logPath}.${++rotations}`);
      }
      await load;
      child!.kill('SIGTERM');
      await once(child!, 'exit');
      url = await spawnService();
      const view = await auditView(url, COMPLIANCE, "event = 'access' AND action = 'preview'");
      const recorded = new Set(view.rows.map(row => row.request_id as string));
      const expected = released.filter(id => !deletedWith.has(id));
      const lost = expected.filter(id => !recorded.has(id));
      record({
        category: 'faults',
        attack: `audit file deleted while serving, then renamed ${rotations} times under load (rotation), service restarted`,
        tries: released.length,
        leaks: 0,
        auditLost: lost.length,
        note: `${released.length} previews released; ${deletedWith.size} deleted with the file by the attacker; every other record read back through warden.audit_log (live file + ${rotations} rotated), incl. the 10 answered right after the delete`
      });
      assert.equal(view.status, 200, view.body);
      assert.deepEqual(lost, []);
      assert.ok(afterDelete.every(id => recorded.has(id)));
      assert.ok(rotations >= 3, `only ${rotations} rotations`);
    });
  });

  describe('the audit log in PostgreSQL', () => {
    let cluster: PostgresCluster;
    let onPostgres: RunningService;
    const removers: (() => void)[] = [];

    before(async () => {
      cluster = await startPostgres();
      await cluster.sql("CREATE ROLE warden LOGIN PASSWORD 'audit-pw'");
      await cluster.sql('CREATE DATABASE audit OWNER warden');
      process.env.WARDEN_TEST_AUDIT_PG_PASSWORD = 'audit-pw';
      const dir = tempDir('adv-pg');
      removers.push(dir.remove);
      const config = join(dir.path, 'config');
      cpSync(shared().configDir, config, { recursive: true });
      const settings = readFileSync(join(config, 'warden.yaml'), 'utf8')
        .replace('data_roots: [../lake]', `data_roots: [${shared().lakeDir}]`)
        .replace(/audit:\n {2}path: .*\n/, 'audit:\n  postgres: { connection: audit_pg, table: warden_audit }\n');
      writeFileSync(
        join(config, 'warden.yaml'),
        `${settings}connections:\n  audit_pg: { host: 127.0.0.1, port: ${cluster.port}, database: audit, user: warden, password_env: WARDEN_TEST_AUDIT_PG_PASSWORD }\n`
      );
      onPostgres = await startService(config);
    });

    after(async () => {
      await onPostgres?.close();
      await cluster?.stop();
      removers.forEach(remove => remove());
    });

    /**
     * Starts `count` requests while the audit table is locked: the first one's INSERT waits for
     * the lock and the others' records queue behind it, so that they commit together, in one batch.
     */
    async function asOneBatch<T>(count: number, start: (index: number) => Promise<T>): Promise<T[]> {
      const locker = await cluster.connect('audit');
      const started: Promise<T>[] = [];
      try {
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE warden_audit IN SHARE ROW EXCLUSIVE MODE');
        started.push(start(0));
        for (let waiting = 0; waiting === 0; ) {
          await new Promise(resolve => setTimeout(resolve, 20));
          const [row] = await cluster.sql<{ count: string }>("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT%'");
          waiting = Number(row.count);
        }
        for (let i = 1; i < count; i++) started.push(start(i));
        // Time for every request to reach its audit write (a few milliseconds each).
        await new Promise(resolve => setTimeout(resolve, 1500));
      } finally {
        await locker.query('COMMIT');
        await locker.end();
      }
      return Promise.all(started);
    }

    test('arbitrary strings in every recorded field round-trip through the PostgreSQL sink and warden.audit_log (fast-check)', () =>
      roundTrip(onPostgres, 100, 'PostgreSQL sink', 'every value read back exactly; NUL never reaches PostgreSQL text'));

    test('one poisonous record among 120 concurrent requests of 4 users: no other request fails', async () => {
      const users = ['alice', 'pat', 'carlos', 'cora'];
      const poison = '/datasets/evil%00name/preview';
      const paths = [`/datasets/${TRIAL}/preview?limit=5`, '/datasets', `/datasets/${TRIAL}`, '/whoami'];
      const statuses = await asOneBatch(120, async i => {
        const path = i === 60 ? poison : paths[i % paths.length];
        const response = await call(onPostgres.url, { user: users[i % users.length] }, path, { notebook: `poison-batch-${i}` });
        await response.arrayBuffer();
        return { i, status: response.status };
      });
      const failed = statuses.filter(({ i, status }) => (i === 60 ? status !== 404 : status !== 200));
      const stored = await cluster.sql<{ notebook: string; dataset: string; raw_values: string | null }>(
        "SELECT notebook, dataset, raw_values FROM warden_audit WHERE notebook LIKE 'poison-batch-%' AND event = 'access'",
        [],
        'audit'
      );
      const poisonRecord = stored.find(row => row.notebook === 'poison-batch-60');
      const faithful = poisonRecord !== undefined && exactValues(poisonRecord as Row).dataset === 'evil\u0000name';
      record({
        category: 'input',
        attack: 'NUL in a dataset name among 120 concurrent requests, PostgreSQL sink',
        tries: 120,
        leaks: 0,
        auditLost: 120 - stored.length,
        note: `${failed.length} other requests failed; ${stored.length} of 120 records stored; the poisonous one faithfully: ${faithful}`
      });
      assert.deepEqual(failed, []);
      assert.equal(stored.length, 120);
      assert.ok(faithful);
    });

    test('a record PostgreSQL refuses (a CHECK the operator added) fails only its own request', async () => {
      await cluster.sql("ALTER TABLE warden_audit ADD CONSTRAINT no_poison CHECK (dataset IS DISTINCT FROM 'poison.dataset')", [], 'audit');
      try {
        const statuses = await asOneBatch(60, async i => {
          const path = i === 30 ? '/datasets/poison.dataset' : `/datasets/${TRIAL}/preview?limit=2`;
          const response = await call(onPostgres.url, { user: ['alice', 'pat'][i % 2] }, path, { notebook: `refused-${i}` });
          await response.arrayBuffer();
          return { i, status: response.status };
        });
        const others = statuses.filter(({ i, status }) => i !== 30 && status !== 200);
        const poisoned = statuses.find(({ i }) => i === 30)!;
        const [{ count }] = await cluster.sql<{ count: string }>("SELECT count(*) FROM warden_audit WHERE notebook LIKE 'refused-%' AND event = 'access'", [], 'audit');
        record({
          category: 'faults',
          attack: 'a record the PostgreSQL audit table refuses, among 60 concurrent requests',
          tries: 60,
          leaks: 0,
          auditLost: 59 - Number(count),
          note: `the refused request got ${poisoned.status} (fail closed), ${others.length} others failed: the batch is retried record by record`
        });
        assert.deepEqual(others, []);
        assert.equal(poisoned.status, 503);
        assert.equal(Number(count), 59);
      } finally {
        await cluster.sql('ALTER TABLE warden_audit DROP CONSTRAINT no_poison', [], 'audit');
      }
    });
  });
}

/** Text fields of a record: any UTF-16 string, now and then a long one. */
const text = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('\0', '\ud800', '\udc00', 'a', '\n', '"', '\\'), minLength: 1000, maxLength: 5000 }) }
);

const TEXT_FIELDS = AUDIT_COLUMNS.filter(column => column.type === 'VARCHAR' && column.name !== 'raw_values').map(column => column.name as keyof AuditRecord);

/**
 * Writes records with arbitrary text in every text field straight into the service's sink,
 * reads each back through `warden.audit_log` as compliance (by its unique `rows`), and
 * compares every field exactly.
 */
async function roundTrip(running: RunningService, runs: number, sink: string, note: string): Promise<void> {
  let failures = 0;
  let id = Date.now() * 1000;
  try {
    await fc.assert(
      fc.asyncProperty(fc.record(Object.fromEntries(TEXT_FIELDS.map(field => [field, text])) as Record<keyof AuditRecord, fc.Arbitrary<string>>), async fields => {
        const rowsId = ++id;
        const written = { ...fields, time: new Date().toISOString(), rows: rowsId, bytes: -rowsId } as unknown as AuditRecord;
        await running.service.audit.write(written);
        const view = await auditView(running.url, COMPLIANCE, `rows = ${rowsId}`);
        const back = view.rows.length === 1 ? exactValues(view.rows[0]) : undefined;
        const wrong = back === undefined ? ['<missing>'] : TEXT_FIELDS.filter(field => back[field] !== written[field]);
        if (wrong.length) failures++;
        assert.equal(view.status, 200, view.body);
        assert.deepEqual(wrong, [], `fields not read back exactly: ${wrong.join(', ')}`);
        assert.equal(back!.bytes, -rowsId);
      }),
      { numRuns: runs }
    );
  } finally {
    record({ category: 'input', attack: `arbitrary UTF-16 strings in every text field, ${sink} (fast-check)`, tries: runs, leaks: 0, auditLost: failures, note });
  }
}
