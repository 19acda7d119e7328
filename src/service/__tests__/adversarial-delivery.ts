/**
 * The `complete` record against what clients really took: a real service process, clients
 * that read 4 bytes and close, read part of a large answer and stall, or read everything
 * (closing, or asking again on the same connection). The clients are Python sockets
 * (helpers.ts, pythonClient), which take from the kernel exactly what they ask for.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceProcess, demoLake, pythonClient, spawnService, until } from './helpers';
import { record } from './ledger';

type Row = Record<string, unknown>;

const TRIAL = 'drug_xyz.trial_july2020';

export function deliveryAttacks(): void {
  describe('bytes recorded are bytes delivered', () => {
    let lake: Awaited<ReturnType<typeof demoLake>>;
    let service: ServiceProcess;
    const audit = () =>
      readFileSync(join(lake.out, 'audit/audit.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map(line => JSON.parse(line) as Row);

    before(async () => {
      // Large enough that a scan's answer (about 27 MB) is more than the kernel buffers between the two.
      lake = await demoLake(200_000);
      service = await spawnService(lake.configDir);
    });

    after(async () => {
      await service?.stop();
      lake?.remove();
    });

    test('clients that read 4 bytes, part of an answer, or all of it: the complete record says what they took', async () => {
      const cases: { what: string; method: string; path: string; read: number; pause?: number; then: 'close' | 'all' | 'all-then-ask'; whole: boolean }[] = [
        { what: 'preview, 4 bytes read, closed', method: 'GET', path: `/datasets/${TRIAL}/preview?limit=100`, read: 4, pause: 0.2, then: 'close', whole: false },
        { what: 'preview, read whole, closed', method: 'GET', path: `/datasets/${TRIAL}/preview?limit=100`, read: 0, then: 'all', whole: true },
        { what: 'preview, read whole, asked again', method: 'GET', path: `/datasets/${TRIAL}/preview?limit=100`, read: 0, pause: 1, then: 'all-then-ask', whole: true },
        { what: 'scan, 4 bytes read, closed', method: 'POST', path: `/datasets/${TRIAL}/scan`, read: 4, pause: 0.5, then: 'close', whole: false },
        { what: 'scan, 70 KB read, stalled 1 s, closed', method: 'POST', path: `/datasets/${TRIAL}/scan`, read: 70_000, pause: 1, then: 'close', whole: false },
        { what: 'scan, read whole, closed', method: 'POST', path: `/datasets/${TRIAL}/scan`, read: 0, then: 'all', whole: true }
      ];
      let tries = 0;
      let wrong = 0;
      const figures: string[] = [];
      try {
        for (const [i, c] of cases.entries()) {
          tries++;
          const notebook = `delivery-${i}`;
          const { read } = await pythonClient(service.url, { method: c.method, path: c.path, notebook, user: 'pat', read: c.read, pause: c.pause ?? 0, then: c.then });
          await until(() => audit().some(r => r.notebook === notebook && r.event === 'complete'), `the complete record of "${c.what}"`, 20_000);
          const complete = audit().find(r => r.notebook === notebook && r.event === 'complete')!;
          const recorded = Number(complete.bytes);
          figures.push(`${c.what}: read ${read} B, recorded ${complete.outcome} ${recorded} B / ${complete.rows} rows`);
          const right = c.whole ? complete.outcome === 'completed' : complete.outcome === 'aborted';
          if (!right) wrong++;
        }
      } finally {
        record({ category: 'faults', attack: 'clients that read 4 bytes, 70 KB, or all of a preview or a 27 MB scan (Python sockets)', tries, leaks: wrong, auditLost: 0, note: figures.join('; ') });
      }
      assert.equal(wrong, 0, figures.join('\n'));
    });
  });
}
