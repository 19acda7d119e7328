/**
 * `GET /health`: what anyone may learn (ok or not, per part; no counts, names or reasons),
 * how the parts decide the status, that a flood of askers costs one probe a second, that a
 * probe that hangs counts as a failure, and that the service log says why at each change.
 * The real faults (a full audit disk, a stopped PostgreSQL) are in adversarial-sink.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, statfsSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { EventLog } from '../access/log';
import { AuditSink } from '../audit/log';
import { QueryEngine } from '../engine/engine';
import { EngineRegistry } from '../engine/registry';
import { HealthCheck } from '../health';
import { fill, mountTmpfs } from './adversarial-sink';
import { RunningService, api, demoLake, rows, startService } from './helpers';

/** A part that is ready or not as the test says, counting its probes; `hang`: it never answers. */
class Part {
  probes = 0;
  failure: string | null = null;
  hang = false;

  async ready(): Promise<void> {
    this.probes++;
    if (this.hang) return new Promise(() => undefined);
    if (this.failure) throw new Error(this.failure);
  }
}

function healthCheckOver(parts: { audit: Part; files: Part; shop: Part }, now: () => number) {
  const lines: Record<string, unknown>[] = [];
  const logger = { info: (line: string) => lines.push(JSON.parse(line)), error: (line: string) => lines.push(JSON.parse(line)) };
  const engines = [
    { name: 'built-in', engine: parts.files as unknown as QueryEngine, builtIn: true },
    { name: 'shop_pg', engine: parts.shop as unknown as QueryEngine, builtIn: false }
  ];
  const registry = { all: () => engines } as unknown as EngineRegistry;
  const check = new HealthCheck('9.9.9', parts.audit as unknown as AuditSink, () => registry, new EventLog(logger), now);
  return { check, lines };
}

describe('the health check', () => {
  test('the audit or the built-in engine failing is unavailable, a connection failing is degraded; each change is logged once, with why', async () => {
    const parts = { audit: new Part(), files: new Part(), shop: new Part() };
    let clock = 0;
    const { check, lines } = healthCheckOver(parts, () => clock);
    const next = () => {
      clock += 1000;
      return check.check();
    };
    assert.deepEqual(await next(), { status: 'ok', version: '9.9.9', audit: 'ok', engines: 'ok' });
    parts.shop.failure = 'connect ECONNREFUSED 127.0.0.1:5432';
    assert.deepEqual(await next(), { status: 'degraded', version: '9.9.9', audit: 'ok', engines: 'degraded' });
    parts.audit.failure = 'audit log /x/audit.jsonl: its file system has 0 bytes free';
    assert.deepEqual(await next(), { status: 'unavailable', version: '9.9.9', audit: 'unavailable', engines: 'degraded' });
    await next();
    parts.audit.failure = null;
    parts.shop.failure = null;
    parts.files.failure = 'the DuckDB database is closed';
    assert.deepEqual(await next(), { status: 'unavailable', version: '9.9.9', audit: 'ok', engines: 'unavailable' });
    parts.files.failure = null;
    assert.deepEqual(await next(), { status: 'ok', version: '9.9.9', audit: 'ok', engines: 'ok' });
    assert.deepEqual(
      lines.map(({ event, part, reason }) => [event, part, reason ?? null]),
      [
        ['not_ready', 'engine shop_pg', 'connect ECONNREFUSED 127.0.0.1:5432'],
        ['not_ready', 'audit', 'audit log /x/audit.jsonl: its file system has 0 bytes free'],
        ['not_ready', 'engine built-in', 'the DuckDB database is closed'],
        ['ready_again', 'audit', null],
        ['ready_again', 'engine shop_pg', null],
        ['ready_again', 'engine built-in', null]
      ]
    );
  });

  test('a flood of askers costs one probe per part per second', async () => {
    const parts = { audit: new Part(), files: new Part(), shop: new Part() };
    let clock = 0;
    const { check } = healthCheckOver(parts, () => clock);
    await Promise.all(Array.from({ length: 500 }, () => check.check()));
    clock += 999;
    await Promise.all(Array.from({ length: 500 }, () => check.check()));
    assert.deepEqual([parts.audit.probes, parts.files.probes, parts.shop.probes], [1, 1, 1]);
    clock += 1;
    await check.check();
    assert.equal(parts.audit.probes, 2);
  });

  test('a probe that does not answer within 5 s counts as a failure', async () => {
    const parts = { audit: new Part(), files: new Part(), shop: new Part() };
    parts.audit.hang = true;
    const { check, lines } = healthCheckOver(parts, Date.now);
    const started = performance.now();
    assert.deepEqual(await check.check(), { status: 'unavailable', version: '9.9.9', audit: 'unavailable', engines: 'ok' });
    const waited = performance.now() - started;
    assert.ok(waited >= 4900 && waited < 7000, `${waited} ms`);
    assert.deepEqual(lines.map(({ part, reason }) => [part, reason]), [['audit', 'no answer within 5000 ms']]);
  });
});

describe('GET /health of a running service', () => {
  let demo: Awaited<ReturnType<typeof demoLake>>;
  let running: RunningService;

  before(async () => {
    demo = await demoLake();
    running = await startService(demo.configDir);
  });

  after(async () => {
    await running.close();
    demo.remove();
  });

  test('anyone may ask, and learns whether it serves and nothing more: no counts, names or reasons', async () => {
    const response = await fetch(`${running.url}/health`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await response.json(), { status: 'ok', version: '0.1.0', audit: 'ok', engines: 'ok' });
  });

  test('HEAD answers as GET does, without a body (load balancers probe so)', async () => {
    const got = await fetch(`${running.url}/health`);
    const text = await got.text();
    const head = await fetch(`${running.url}/health`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.deepEqual(
      ['content-type', 'cache-control', 'content-length'].map(name => head.headers.get(name)),
      ['application/json; charset=utf-8', 'no-store', String(Buffer.byteLength(text))]
    );
    assert.equal(await head.text(), '');
    assert.equal(text, JSON.stringify({ status: 'ok', version: '0.1.0', audit: 'ok', engines: 'ok' }));
  });
});

describe('health and requests agree on the audit file system\'s free space (a 4 MB tmpfs, as root)', () => {
  let demo: Awaited<ReturnType<typeof demoLake>>;
  let running: RunningService;
  let unmount: () => void;
  let filler: string;

  before(async () => {
    demo = await demoLake();
    // The demo's audit log is written in <out>/audit: a small file system of its own.
    unmount = mountTmpfs(join(demo.out, 'audit'), '4M');
    running = await startService(demo.configDir);
    filler = fill(join(demo.out, 'audit'));
  });

  after(async () => {
    await running.close();
    unmount();
    demo.remove();
  });

  /** Leaves `free` bytes free on the audit file system (more than now), then asks /health (GET and HEAD) and alice's preview. */
  async function withFree(free: number) {
    // Only ever shrunk: a file grown by truncate is sparse and takes no room.
    const { bavail, bsize } = statfsSync(join(demo.out, 'audit'));
    truncateSync(filler, statSync(filler).size - (free - bavail * bsize));
    await new Promise(resolve => setTimeout(resolve, 1100)); // the health check's answer lives 1 s
    const health = await fetch(`${running.url}/health`);
    const head = await fetch(`${running.url}/health`, { method: 'HEAD' });
    const preview = await api(`${running.url}/datasets/drug_xyz.trial_july2020/preview?limit=5`, 'alice');
    const answer = preview.status === 200 ? rows(tableFromIPC(new Uint8Array(await preview.arrayBuffer()))).map(row => row.country) : ((await preview.json()) as { error: { code: string } }).error.code;
    return { health: [health.status, ((await health.json()) as { audit: string }).audit], head: head.status, preview: [preview.status, answer] };
  }

  test('600 KiB free: /health 503 and requests 503 audit_unavailable; 2 MiB free: both serve', async () => {
    assert.deepEqual(await withFree(600 * 1024), { health: [503, 'unavailable'], head: 503, preview: [503, 'audit_unavailable'] });
    assert.deepEqual(await withFree(2 * 1024 * 1024), { health: [200, 'ok'], head: 200, preview: [200, ['US', 'US', 'US', 'US', 'US']] });
  });
});
