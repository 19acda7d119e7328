/**
 * Streams whose end meets a fault of the audit sink, of an engine or of the service itself,
 * on real service processes: the audit file's file system (a small tmpfs, mounted as root)
 * filled up while streams run, then given room again; the PostgreSQL server of the audit sink,
 * then of a dataset, stopped and started again; a SIGTERM during streams; a kill -9 during
 * streams, then a start. `GET /health` is asked all along.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceProcess, api, demoLake, pythonClient, spawnService, tempDir, until } from './helpers';
import { record } from './ledger';
import { PostgresCluster, startPostgres } from './postgres-cluster';

type Row = Record<string, unknown>;

const TRIAL = 'drug_xyz.trial_july2020';
const ROWS = 200_000;

/** A tmpfs of `size` at `dir` (the tests run as root, as CI does); `umount` undoes it. */
export function mountTmpfs(dir: string, size: string): () => void {
  assert.equal(process.getuid?.(), 0, 'these faults need root, to mount a small tmpfs (CI runs the tests as root)');
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return () => execFileSync('umount', ['-l', dir]);
}

/** Fills the file system of `dir` to the last byte; returns the file to remove to give the room back. */
export function fill(dir: string): string {
  const path = join(dir, 'filler');
  const descriptor = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(descriptor, block);
  } catch {
    // ENOSPC: full.
  }
  for (let size = 32 * 1024; size >= 1; size >>= 1) {
    try {
      for (;;) writeSync(descriptor, block.subarray(0, size));
    } catch {
      // Smaller pieces, down to the last byte.
    }
  }
  closeSync(descriptor);
  return path;
}

/** `GET /health` without a token: its status and body. */
async function health(url: string): Promise<{ status: number; body: Row }> {
  const response = await fetch(`${url}/health`);
  return { status: response.status, body: (await response.json()) as Row };
}

/** Waits until `/health` answers `status`; returns that answer. */
async function healthBecomes(url: string, status: number, what: string): Promise<{ status: number; body: Row }> {
  let last = await health(url);
  await until(async () => (last = await health(url)).status === status, `/health ${status} ${what} (last: ${last.status} ${JSON.stringify(last.body)})`, 20_000);
  return last;
}

const lines = (service: ServiceProcess, event: string) => service.lines.filter(line => line.includes(`"event":"${event}"`));

/**
 * `count` scans of the trial by Python clients that read 4 KB, wait `pause` s, then read the
 * rest; resolves once `started` says each has its access record, with the clients' end.
 */
async function streams(url: string, tag: string, count: number, pause: number, started: (notebooks: string[]) => Promise<boolean>) {
  const notebooks = Array.from({ length: count }, (_, i) => `${tag}-${i}`);
  const done = Promise.allSettled(
    notebooks.map(notebook => pythonClient(url, { method: 'POST', path: `/datasets/${TRIAL}/scan`, notebook, user: 'pat', read: 4096, pause, then: 'all' }))
  );
  await until(() => started(notebooks), 'the access records of the streams', 30_000);
  return { notebooks, done };
}

export function sinkFaultAttacks(): void {
  describe('streams ending in a fault', () => {
    let lake: Awaited<ReturnType<typeof demoLake>>;
    let service: ServiceProcess | undefined;
    let unmount: (() => void) | undefined;
    const audit = (): Row[] =>
      readFileSync(join(lake.out, 'audit/audit.jsonl'), 'utf8')
        .split('\n')
        .filter(line => line.length > 0)
        .map(line => JSON.parse(line) as Row);
    const recordsOf = (notebook: string) => audit().filter(r => r.notebook === notebook);
    const accessed = async (notebooks: string[]) => notebooks.every(notebook => recordsOf(notebook).some(r => r.event === 'access'));

    before(async () => {
      lake = await demoLake(ROWS);
      unmount = mountTmpfs(join(lake.out, 'audit'), '4m');
    });

    after(async () => {
      await service?.stop();
      unmount?.();
      lake?.remove();
    });

    test('streams that end while the audit disk is full: their complete records are written once it has room; /health is 503 meanwhile', async () => {
      service = await spawnService(lake.configDir);
      const ready = await health(service.url);
      const { notebooks, done } = await streams(service.url, 'full', 6, 6, accessed);
      const filler = fill(join(lake.out, 'audit'));
      let whileFull = 0;
      let pending = 0;
      let unhealthy: { status: number; body: Row };
      const previews: { notebook: string; status: number }[] = [];
      try {
        unhealthy = await healthBecomes(service.url, 503, 'while the audit disk is full');
        // A full file system still lets the audit file fill its last page: previews until that
        // is full too (from then on refused, never answered unrecorded), while the streams
        // pause, so that their ends find no room at all.
        while (previews.length < 100 && previews.at(-1)?.status !== 503) {
          const notebook = `full-preview-${previews.length}`;
          const response = await api(`${service.url}/datasets/${TRIAL}/preview?limit=5`, 'pat', { headers: { 'x-warden-notebook': notebook } });
          await response.arrayBuffer();
          previews.push({ notebook, status: response.status });
        }
        await done;
        // Each stream ended while the disk was full: its end is kept pending (on disk only if
        // one fit in the last page before the previews filled it).
        whileFull = notebooks.filter(notebook => recordsOf(notebook).some(r => r.event === 'complete')).length;
        pending = lines(service, 'audit_complete_pending').length;
      } finally {
        rmSync(filler);
      }
      const healthy = await healthBecomes(service.url, 200, 'once the audit disk has room');
      await until(() => notebooks.every(notebook => recordsOf(notebook).some(r => r.event === 'complete')), 'the pending complete records', 40_000).catch(() => undefined);
      const completes = notebooks.map(notebook => recordsOf(notebook).find(r => r.event === 'complete'));
      const answered = previews.filter(preview => preview.status === 200);
      const unrecorded = answered.filter(({ notebook }) => !['access', 'complete'].every(event => recordsOf(notebook).some(r => r.event === event)));
      const lost = completes.filter(complete => complete?.outcome !== 'completed' || complete.rows !== ROWS).length + unrecorded.length;
      const notReady = lines(service, 'not_ready').filter(line => line.includes('"part":"audit"'));
      await service.stop();
      service = undefined;
      record({
        category: 'faults',
        attack: 'audit file system full (4 MB tmpfs) while 6 scans end, then room again',
        tries: notebooks.length + previews.length,
        leaks: 0,
        auditLost: lost,
        note:
          `${answered.length} previews answered (their records in the file's last page) before one got ${previews.at(-1)?.status}; ${whileFull} of the scans' complete records on disk while full, ${pending} kept pending; all ${notebooks.length} on disk once it had room, ` +
          `each completed with its ${ROWS.toLocaleString('en')} rows; /health ${unhealthy.status} (audit ${String(unhealthy.body.audit)}) while full, ${healthy.status} after`
      });
      assert.deepEqual([ready.status, ready.body.status], [200, 'ok']);
      assert.ok(pending > 0, 'no complete record was kept pending: the disk was not full');
      assert.equal(lost, 0, JSON.stringify({ completes, unrecorded }));
      assert.deepEqual(unhealthy.body, { status: 'unavailable', version: ready.body.version, audit: 'unavailable', engines: 'ok' });
      assert.equal(previews.at(-1)?.status, 503);
      assert.equal(healthy.body.status, 'ok');
      assert.equal(notReady.length, 1, 'one not_ready line for the audit, with the reason');
      assert.match(notReady[0], /bytes free/);
    });

    test('a SIGTERM during streams: each records that the service stopped; a kill -9: the next start records an unknown end', async () => {
      service = await spawnService(lake.configDir);
      const stopped = await streams(service.url, 'sigterm', 4, 3, accessed);
      await service.stop();
      await stopped.done;
      const onStop = stopped.notebooks.map(notebook => recordsOf(notebook).find(r => r.event === 'complete'));

      service = await spawnService(lake.configDir);
      const killed = await streams(service.url, 'sigkill', 4, 3, accessed);
      service.child.kill('SIGKILL');
      await killed.done;
      await until(() => service!.child.exitCode !== null || service!.child.signalCode !== null, 'the kill');
      const beforeStart = killed.notebooks.filter(notebook => recordsOf(notebook).some(r => r.event === 'complete')).length;
      service = await spawnService(lake.configDir);
      const onStart = killed.notebooks.map(notebook => recordsOf(notebook).find(r => r.event === 'complete'));
      // Started again: no stream of the earlier runs is left without an end, and none is given two.
      const ends = (notebook: string) => recordsOf(notebook).filter(r => r.event === 'complete').length;
      const twice = [...stopped.notebooks, ...killed.notebooks].filter(notebook => ends(notebook) > 1).length;
      await service.stop();
      service = undefined;

      const stopRight = onStop.filter(complete => complete?.outcome === 'aborted' && /the service stopped/.test(String(complete.reason))).length;
      const killRight = onStart.filter(complete => complete?.outcome === 'unknown' && /the service stopped before the end of this stream was recorded/.test(String(complete.reason))).length;
      record({
        category: 'faults',
        attack: 'SIGTERM during 4 scans; kill -9 during 4 scans, then a start',
        tries: 8,
        leaks: 0,
        auditLost: 8 - stopRight - killRight + twice,
        note: `SIGTERM: ${stopRight} of 4 ends recorded aborted, "the service stopped while the stream was running"; kill -9: ${beforeStart} ends on disk, then ${killRight} of 4 recorded unknown by the next start; ${twice} streams with two ends`
      });
      assert.equal(stopRight, 4, JSON.stringify(onStop));
      assert.equal(killRight, 4, JSON.stringify(onStart));
      assert.equal(twice, 0);
      assert.ok(existsSync(join(lake.out, 'audit/audit.jsonl')));
    });

    describe('PostgreSQL stopped under a running service', () => {
      let cluster: PostgresCluster;
      const removers: (() => void)[] = [];

      before(async () => {
        cluster = await startPostgres();
        await cluster.sql("CREATE ROLE warden LOGIN PASSWORD 'fault-pw'");
        await cluster.sql('CREATE DATABASE audit OWNER warden');
        await cluster.sql('CREATE DATABASE shop OWNER warden');
        await cluster.sql("CREATE TABLE public.orders AS SELECT i AS id, 'order ' || i AS item FROM generate_series(1, 1000) AS i", [], 'shop');
        await cluster.sql('GRANT SELECT ON public.orders TO warden', [], 'shop');
        process.env.WARDEN_TEST_FAULT_PG_PASSWORD = 'fault-pw';
      });

      after(async () => {
        await service?.stop();
        service = undefined;
        await cluster?.stop();
        removers.forEach(remove => remove());
      });

      /** The demo's configuration elsewhere: `audit` as the audit settings, plus the PostgreSQL connection and what `extra` adds. */
      function configWith(auditSettings: string, extra: Record<string, string> = {}): string {
        const dir = tempDir('fault-pg');
        removers.push(dir.remove);
        const config = join(dir.path, 'config');
        cpSync(lake.configDir, config, { recursive: true });
        const settings = readFileSync(join(config, 'warden.yaml'), 'utf8')
          .replace('data_roots: [../lake]', `data_roots: [${lake.lakeDir}]`)
          .replace(/audit:\n {2}path: .*\n/, `audit:\n  ${auditSettings}\n`);
        const connection = (database: string) => `{ host: 127.0.0.1, port: ${cluster.port}, database: ${database}, user: warden, password_env: WARDEN_TEST_FAULT_PG_PASSWORD }`;
        writeFileSync(join(config, 'warden.yaml'), `${settings}connections:\n  audit_pg: ${connection('audit')}\n  shop_pg: ${connection('shop')}\n`);
        for (const [file, text] of Object.entries(extra)) writeFileSync(join(config, file), text);
        return config;
      }

      test('the PostgreSQL audit sink stopped while 6 scans end: complete records written once it is back; /health is 503 meanwhile', async () => {
        service = await spawnService(configWith('postgres: { connection: audit_pg, table: warden_audit }'));
        const stored = async (notebooks: string[], event: string) =>
          (await cluster.sql<{ notebook: string; outcome: string; rows: string | null }>('SELECT notebook, outcome, rows FROM warden_audit WHERE notebook = ANY($1) AND event = $2', [notebooks, event], 'audit')) as Row[];
        const ready = await health(service.url);
        const { notebooks, done } = await streams(service.url, 'pg-down', 6, 3, async started => (await stored(started, 'access')).length === started.length);
        cluster.pause();
        let unhealthy: { status: number; body: Row };
        let refused: Response;
        let pending = 0;
        try {
          unhealthy = await healthBecomes(service.url, 503, 'while the audit database is stopped');
          refused = await api(`${service.url}/datasets/${TRIAL}/preview?limit=5`, 'pat');
          await done;
          pending = lines(service, 'audit_complete_pending').length;
        } finally {
          cluster.resume();
        }
        const healthy = await healthBecomes(service.url, 200, 'once the audit database is back');
        await until(async () => (await stored(notebooks, 'complete')).length === notebooks.length, 'the pending complete records', 40_000).catch(() => undefined);
        const completes = await stored(notebooks, 'complete');
        const right = completes.filter(complete => complete.outcome === 'completed' && Number(complete.rows) === ROWS).length;
        await service.stop();
        service = undefined;
        record({
          category: 'faults',
          attack: 'PostgreSQL audit sink stopped (pg_ctl stop) while 6 scans end, then started',
          tries: notebooks.length,
          leaks: 0,
          auditLost: notebooks.length - right,
          note:
            `${pending} complete records kept pending while it was stopped; ${right} of ${notebooks.length} in the table once it was back, each completed with its ` +
            `${ROWS.toLocaleString('en')} rows; /health ${unhealthy.status} (audit ${String(unhealthy.body.audit)}) while stopped, a preview ${refused.status}, /health ${healthy.status} after`
        });
        assert.deepEqual([ready.status, ready.body.status], [200, 'ok']);
        assert.equal(pending, notebooks.length);
        assert.equal(right, notebooks.length, JSON.stringify(completes));
        assert.deepEqual([unhealthy.body.status, unhealthy.body.audit], ['unavailable', 'unavailable']);
        assert.equal(refused.status, 503);
        assert.equal(healthy.body.status, 'ok');
      });

      test('the PostgreSQL server of a dataset stopped: /health says degraded (200), files are still served, the dataset is engine_unavailable', async () => {
        const catalog = 'datasets:\n  - { name: shop.orders, tags: [commercial], source: { format: postgres, connection: shop_pg, table: public.orders } }\n';
        service = await spawnService(configWith(`path: ${join(lake.out, 'audit-pg-engine/audit.jsonl')}`, { 'catalog/shop.yaml': catalog }));
        const ready = await health(service.url);
        const servedBefore = (await api(`${service.url}/datasets/shop.orders/preview?limit=5`, 'pat')).status;
        cluster.pause();
        let degraded: { status: number; body: Row };
        let files: number;
        let orders: { status: number; code: string };
        try {
          let last = await health(service.url);
          await until(async () => (last = await health(service!.url)).body.status === 'degraded', '/health degraded', 20_000);
          degraded = last;
          files = (await api(`${service.url}/datasets/${TRIAL}/preview?limit=5`, 'pat')).status;
          const response = await api(`${service.url}/datasets/shop.orders/preview?limit=5`, 'pat');
          orders = { status: response.status, code: ((await response.json()) as { error: { code: string } }).error.code };
        } finally {
          cluster.resume();
        }
        await until(async () => (await health(service!.url)).body.status === 'ok', 'health ok again', 20_000);
        const servedAfter = (await api(`${service.url}/datasets/shop.orders/preview?limit=5`, 'pat')).status;
        const notReady = lines(service, 'not_ready').filter(line => line.includes('"part":"engine shop_pg"'));
        const readyAgain = lines(service, 'ready_again').filter(line => line.includes('"part":"engine shop_pg"'));
        await service.stop();
        service = undefined;
        record({
          category: 'faults',
          attack: "a dataset's PostgreSQL server stopped (pg_ctl stop), then started",
          tries: 1,
          leaks: 0,
          auditLost: 0,
          note: `/health ${degraded.status} ${String(degraded.body.status)} (engines ${String(degraded.body.engines)}, audit ${String(degraded.body.audit)}); a file dataset ${files}, the PostgreSQL one ${orders.status} ${orders.code}; ok and ${servedAfter} once it was back; the reason in the service log`
        });
        assert.deepEqual([ready.body.status, servedBefore], ['ok', 200]);
        assert.deepEqual(degraded.body, { status: 'degraded', version: ready.body.version, audit: 'ok', engines: 'degraded' });
        assert.equal(files, 200);
        assert.deepEqual(orders, { status: 503, code: 'engine_unavailable' });
        assert.equal(servedAfter, 200);
        assert.deepEqual([notReady.length, readyAgain.length], [1, 1]);
      });
    });
  });
}
