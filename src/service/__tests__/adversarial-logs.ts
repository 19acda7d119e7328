/**
 * The service log as an operator reads it: a real service process; refusals of every kind,
 * reloads that apply and that are refused (SIGHUP), and a flood of one refusal. Every refusal
 * and every reload outcome must have its JSON line, and a flood must be held back, but counted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceProcess, api, demoLake, spawnService, until } from './helpers';
import { record } from './ledger';

type Line = Record<string, unknown>;

/** The JSON lines of the service's output (others, such as `listening on`, are left out). */
function jsonLines(lines: string[]): Line[] {
  return lines.flatMap(line => {
    try {
      return [JSON.parse(line) as Line];
    } catch {
      return [];
    }
  });
}

export function logAttacks(): void {
  describe('the service log', () => {
    let lake: Awaited<ReturnType<typeof demoLake>>;
    let service: ServiceProcess;

    before(async () => {
      lake = await demoLake(400);
      service = await spawnService(lake.configDir);
    });

    after(async () => {
      await service?.stop();
      lake?.remove();
    });

    test('every refusal and every reload outcome has one JSON line; a flood is held back and counted', async () => {
      const { url } = service;
      const refusals: [string, number, () => Promise<Response>][] = [
        ['not_found', 404, () => api(`${url}/datasets/nope.nothing`, 'alice')],
        ['not_found', 404, () => api(`${url}/nowhere`, 'alice')],
        ['unauthenticated', 401, () => api(`${url}/datasets`, null)],
        ['invalid_filter', 400, () => api(`${url}/datasets/drug_xyz.trial_july2020/scan`, 'alice', { method: 'POST', body: '{"filter": "site > 5"}' })],
        ['bad_request', 400, () => api(`${url}/datasets/drug_xyz.trial_july2020/preview?limit=-1`, 'alice')]
      ];
      const sent = new Map<string, number>();
      for (let round = 0; round < 4; round++) {
        for (const [code, status, request] of refusals) {
          const response = await request();
          await response.arrayBuffer();
          assert.equal(response.status, status, code);
          sent.set(code, (sent.get(code) ?? 0) + 1);
        }
      }
      const refusedLines = () => jsonLines(service.lines).filter(line => line.event === 'refused');
      const total = [...sent.values()].reduce((a, b) => a + b, 0);
      await until(() => refusedLines().length >= total, 'a line for every refusal', 5000).catch(() => undefined);
      const logged = new Map<string, number>();
      for (const line of refusedLines()) logged.set(String(line.code), (logged.get(String(line.code)) ?? 0) + 1);

      // Reload outcomes: refused (a broken policy file), then applied; each asked for by SIGHUP.
      const policies = join(lake.configDir, 'policies/access.yaml');
      const good = readFileSync(policies, 'utf8');
      writeFileSync(policies, `${good}  - name: broken\n    effect: grant\n`);
      service.child.kill('SIGHUP');
      await until(() => jsonLines(service.lines).some(line => line.event === 'config_reload' && line.outcome === 'refused'), 'the refused reload\'s line', 10_000).catch(() => undefined);
      writeFileSync(policies, good);
      service.child.kill('SIGHUP');
      await until(() => jsonLines(service.lines).some(line => line.event === 'config_reload' && line.outcome === 'applied'), 'the applied reload\'s line', 10_000).catch(() => undefined);
      const reloads = jsonLines(service.lines).filter(line => line.event === 'config_reload').map(line => line.outcome);

      // A flood of one refusal: held back past the burst, every one counted.
      const flood = 300;
      const before = refusedLines().filter(line => line.path === '/api/v1/flood').length;
      const started = Date.now();
      await Promise.all(Array.from({ length: flood }, async () => (await api(`${url}/flood`, 'alice')).arrayBuffer()));
      const floodMs = Date.now() - started;
      const counted = () => {
        const lines = jsonLines(service.lines);
        const shown = lines.filter(line => line.event === 'refused' && line.path === '/api/v1/flood');
        const held = lines.filter(line => (line.event === 'refused' && line.code === 'not_found') || (line.event === 'log_suppressed' && line.kind === 'refused:not_found'));
        return { shown: shown.length - before, held: held.reduce((sum, line) => sum + Number(line.suppressed ?? 0), 0) };
      };
      await until(() => counted().shown + counted().held >= flood, 'every flooded refusal counted', 5000).catch(() => undefined);
      const { shown, held } = counted();

      const missing = [...sent].filter(([code, count]) => (logged.get(code) ?? 0) !== count).map(([code, count]) => `${code}: ${logged.get(code) ?? 0} of ${count}`);
      const reloadsRight = reloads.includes('refused') && reloads.includes('applied');
      record({
        category: 'faults',
        attack: 'refusals (404, 401, 400) and reloads (refused, applied by SIGHUP) under a real process; a flood of 300 404s',
        tries: total + 2 + flood,
        leaks: missing.length + (reloadsRight ? 0 : 1),
        auditLost: 0,
        note: `${refusedLines().length - shown} of ${total} refusals with a JSON line (code, status, path, user, request id); reloads logged: ${reloads.join(', ') || 'none'}; flood: ${shown} lines in ${floodMs} ms, ${held} more counted as suppressed`
      });
      assert.deepEqual(missing, []);
      assert.ok(reloadsRight, `reload outcomes logged: ${reloads.join(', ')}`);
      assert.ok(shown < 60, `${shown} lines for a flood of ${flood}`);
      assert.equal(shown + held, flood);
    });
  });
}
