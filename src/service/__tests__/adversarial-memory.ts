/**
 * Memory one user could take from everyone (issue 14, items 17 and 18), against a real service
 * process with small budgets in warden.yaml `resources`: clients that stop reading, and sorts
 * sent by several users at once. Every read must end in an answer and an audit record (rows,
 * or 503 with Retry-After), and the service's peak RSS stay within what the budgets allow. The
 * same at 100,000,000 rows is measured by `node bench/run.mjs resources` (docs/benchmarks.md).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { Socket, connect } from 'node:net';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { ServiceProcess, api, demoLake, spawnService, token, until } from './helpers';
import { record } from './ledger';

type Row = Record<string, unknown>;

const TRIAL = 'drug_xyz.trial_july2020';
const MIB = 1024 * 1024;
const USERS = ['pat', 'alice', 'carlos'];
/** The budgets: each stream of a whole scan reserves 96 MiB, so two run at once. */
const MEMORY_LIMIT_MIB = 256;
const STREAM_BUFFERS_MIB = 200;
const STALL_TIMEOUT_S = 2;
const QUEUE_WAIT_S = 3;

/** VmRSS and VmHWM (the peak) of a process. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** A scan whose client reads the first bytes of the answer and then nothing: its status and request id. */
async function stalledScan(url: string, user: string): Promise<{ socket: Socket; status: number; requestId: string }> {
  const { hostname, port, pathname } = new URL(`${url}/datasets/${TRIAL}/scan`);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  socket.write(`POST ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${await token(user)}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
  const head = await new Promise<string>(resolve => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      resolve(chunk.toString('latin1').split('\r\n\r\n')[0]);
    });
    socket.once('close', () => resolve(''));
  });
  return { socket, status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0), requestId: /x-warden-request-id: (\S+)/i.exec(head)?.[1] ?? '' };
}

export function memoryAttacks(): void {
  describe('memory one user can take from everyone', () => {
    let lake: Awaited<ReturnType<typeof demoLake>>;
    let service: ServiceProcess;
    let idle: number;
    const auditFile = () => join(lake.out, 'audit/audit.jsonl');
    const audit = () =>
      readFileSync(auditFile(), 'utf8')
        .trim()
        .split('\n')
        .map(line => JSON.parse(line) as Row);

    before(async () => {
      // Large enough that a scan's answer (about 27 MB) is more than the kernel buffers hold.
      lake = await demoLake(200_000);
      const settings = join(lake.configDir, 'warden.yaml');
      const resources = [
        `memory_limit_mib: ${MEMORY_LIMIT_MIB}`,
        'heavy_queries: 1',
        'queue_length: 64',
        `queue_wait_seconds: ${QUEUE_WAIT_S}`,
        `stream_buffers_mib: ${STREAM_BUFFERS_MIB}`,
        'stream_buffers_per_user: 1',
        `stall_timeout_seconds: ${STALL_TIMEOUT_S}`
      ];
      writeFileSync(settings, `${readFileSync(settings, 'utf8')}resources:\n${resources.map(line => `  ${line}\n`).join('')}`);
      service = await spawnService(lake.configDir);
      // Idle, with its code loaded and the catalog read.
      await (await api(`${service.url}/datasets/${TRIAL}/preview?limit=5`, 'pat')).arrayBuffer();
      idle = memory(service.child.pid!).rss;
    });

    after(async () => {
      await service?.stop();
      lake?.remove();
    });

    test('40 clients that read the first bytes of a scan, then nothing: admitted within the stream buffers, cut after the stall timeout, the rest refused; all audited, memory given back', async () => {
      const readers: Awaited<ReturnType<typeof stalledScan>>[] = [];
      const problems: string[] = [];
      let note = '';
      let lost = 0;
      try {
        readers.push(...(await Promise.all(Array.from({ length: 40 }, (_, i) => stalledScan(service.url, USERS[i % USERS.length])))));
        const admitted = readers.filter(reader => reader.status === 200).map(reader => reader.requestId);
        const refused = readers.filter(reader => reader.status === 503).length;
        if (admitted.length + refused !== readers.length) problems.push(`statuses ${readers.map(reader => reader.status).join(',')}`);
        await until(() => audit().filter(r => r.event === 'complete' && admitted.includes(String(r.request_id))).length === admitted.length, 'every admitted stalled stream to be cut', 30_000).catch(() => problems.push('an admitted stream was never cut'));
        const records = audit();
        const cut = records.filter(r => r.event === 'complete' && admitted.includes(String(r.request_id)) && r.outcome === 'aborted' && /took no data for 2 s/.test(String(r.reason))).length;
        const refusals = records.filter(r => r.event === 'access' && r.outcome === 'refused').length;
        const completes = records.filter(r => r.event === 'complete' && admitted.includes(String(r.request_id))).length;
        lost = Math.max(0, admitted.length - completes) + Math.max(0, refused - refusals);
        if (cut !== admitted.length) problems.push(`${cut} of ${admitted.length} admitted streams recorded as cut for stalling`);
        if (refusals !== refused) problems.push(`${refusals} refused records for ${refused} answers 503`);
        const { peak } = memory(service.child.pid!);
        // Give the collections after the cuts their time (access/memory.ts).
        await new Promise(resolve => setTimeout(resolve, 2000));
        const { rss } = memory(service.child.pid!);
        if (peak - idle > STREAM_BUFFERS_MIB * MIB) problems.push(`peak RSS ${Math.round((peak - idle) / MIB)} MiB above idle, more than the stream buffers`);
        note =
          `${admitted.length} admitted (2 at a time: ${STREAM_BUFFERS_MIB} MiB of stream buffers, 96 MiB each), all cut after ${STALL_TIMEOUT_S} s and audited aborted: ${cut === admitted.length}; ` +
          `${refused} refused with 503 and Retry-After after ${QUEUE_WAIT_S} s in the queue, audited: ${refusals === refused}; ` +
          `RSS idle ${Math.round(idle / MIB)} MiB, peak ${Math.round(peak / MIB)} MiB, 2 s after the last cut ${Math.round(rss / MIB)} MiB`;
      } finally {
        for (const reader of readers) reader.socket.destroy();
        record({ category: 'memory', attack: '40 clients that read the first bytes of a 27 MB scan, then nothing', tries: 40, leaks: 0, auditLost: lost, note: [note, ...problems].filter(Boolean).join('; ') });
      }
      assert.deepEqual(problems, []);
    });

    test('6 sorts sent at once by 3 users, one heavy query at a time: each sorted in full or refused with 503 and Retry-After, all audited, within the budgets', async () => {
      const problems: string[] = [];
      const visible = new Map<string, number>();
      let note = '';
      let lost = 0;
      try {
        const sorts = await Promise.all(
          Array.from({ length: 6 }, async (_, i) => {
            const user = USERS[i % USERS.length];
            const response = await api(`${service.url}/datasets/${TRIAL}/scan`, user, { method: 'POST', body: JSON.stringify({ orderBy: ['participant_id'], columns: ['participant_id', 'site'] }) });
            const requestId = response.headers.get('x-warden-request-id') ?? '';
            if (response.status !== 200) return { user, status: response.status, retryAfter: response.headers.get('retry-after'), requestId, ids: [] as string[] };
            const table = tableFromIPC(new Uint8Array(await response.arrayBuffer()));
            return { user, status: 200, retryAfter: null, requestId, ids: table.getChild('participant_id')!.toArray().map(String) as string[] };
          })
        );
        for (const user of USERS) {
          const whole = await api(`${service.url}/datasets/${TRIAL}/scan`, user, { method: 'POST', body: JSON.stringify({ columns: ['participant_id'] }) });
          visible.set(user, tableFromIPC(new Uint8Array(await whole.arrayBuffer())).numRows);
        }
        for (const sort of sorts) {
          if (sort.status === 200) {
            if (sort.ids.length !== visible.get(sort.user)) problems.push(`${sort.user}: ${sort.ids.length} of ${visible.get(sort.user)} rows`);
            if (sort.ids.some((id, i) => i > 0 && sort.ids[i - 1] > id)) problems.push(`${sort.user}: rows out of order`);
          } else if (sort.status !== 503 || sort.retryAfter !== String(QUEUE_WAIT_S)) {
            problems.push(`${sort.user}: ${sort.status}, Retry-After ${sort.retryAfter}`);
          }
        }
        await until(() => audit().filter(r => r.event === 'complete' && sorts.some(sort => sort.status === 200 && sort.requestId === r.request_id)).length === sorts.filter(sort => sort.status === 200).length, 'the sorts\' complete records');
        const records = audit();
        const completed = sorts.filter(sort => sort.status === 200 && records.some(r => r.request_id === sort.requestId && r.event === 'complete' && r.outcome === 'completed')).length;
        const refusedRecords = records.filter(r => r.event === 'access' && r.outcome === 'refused' && /a large sort\/aggregate is running/.test(String(r.reason)) && /heavy in the engine's plan: ORDER_BY/.test(String(r.actual_reason))).length;
        const refused = sorts.filter(sort => sort.status === 503).length;
        lost = Math.max(0, sorts.length - refused - completed) + Math.max(0, refused - refusedRecords);
        if (completed !== sorts.length - refused) problems.push(`${completed} complete records for ${sorts.length - refused} sorts answered`);
        if (refusedRecords !== refused) problems.push(`${refusedRecords} refused records for ${refused} sorts refused`);
        const { peak } = memory(service.child.pid!);
        if (peak - idle > (MEMORY_LIMIT_MIB + STREAM_BUFFERS_MIB) * MIB) problems.push(`peak RSS ${Math.round((peak - idle) / MIB)} MiB above idle, more than the memory limit and stream buffers`);
        note =
          `${completed} sorted in full (rows in order, each user's whole view) and audited completed, ${refused} refused with 503 and Retry-After ${QUEUE_WAIT_S} and audited refused (heavy: ORDER_BY); ` +
          `peak RSS ${Math.round(peak / MIB)} MiB (idle ${Math.round(idle / MIB)} MiB; bound: idle + ${MEMORY_LIMIT_MIB} MiB DuckDB + ${STREAM_BUFFERS_MIB} MiB streams)`;
      } finally {
        record({ category: 'memory', attack: '6 sorts sent at once by 3 users, 1 heavy query at a time', tries: 6, leaks: 0, auditLost: lost, note: [note, ...problems].filter(Boolean).join('; ') });
      }
      assert.deepEqual(problems, []);
    });
  });
}
