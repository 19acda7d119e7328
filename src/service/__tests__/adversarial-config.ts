/**
 * Attacks through the configuration and the files it names, run by the adversarial suite:
 * served files swapped after load, policy files caught half-written, policies naming columns,
 * datasets or user attributes that do not exist, protections lowered through the catalog or
 * the directory, a watcher that reloads on files that are not configuration.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, cpSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { tableFromIPC } from 'apache-arrow';
import { AUDIT_BUILTINS } from '../audit/dataset';
import { ConfigError, loadConfig } from '../config/load';
import { DuckDBInstance } from '@duckdb/node-api';
import { RunningService, api, rows, startService, tempDir, until } from './helpers';
import { record } from './ledger';
import type { SharedService } from './adversarial-audit';

type Row = Record<string, unknown>;

const TRIAL = 'drug_xyz.trial_july2020';

async function duckdb(sql: string): Promise<Row[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Row[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

export function configAttacks(shared: () => SharedService): void {
  describe('policies naming columns that do not exist', () => {
    test('row filters, cell-mask conditions and masks on missing columns (fast-check over effects, selectors, names)', async () => {
      const schemas = new Map(shared().running.service.config.datasets.map(dataset => [dataset.name, shared().running.service.catalog.get(dataset.name)!.facts]));
      const selectors: Record<string, { yaml: string; selects: (name: string) => boolean; byName: boolean }> = {
        'exact name': { yaml: `{ names: [${TRIAL}] }`, selects: name => name === TRIAL, byName: true },
        pattern: { yaml: '{ names: ["drug_*"] }', selects: name => name.startsWith('drug_'), byName: false },
        'tag clinical': { yaml: '{ tags: [clinical] }', selects: name => schemas.get(name)!.tags.includes('clinical'), byName: false },
        'tag commercial': { yaml: '{ tags: [commercial] }', selects: name => schemas.get(name)!.tags.includes('commercial'), byName: false }
      };
      const effects: Record<string, (column: string) => string> = {
        'row filter': column => `effect: row_filter\n    filter: ${column} IS NOT NULL`,
        'cell-mask condition': column => `effect: cell_mask\n    columns: { tags: [pii.email] }\n    when: ${column} IS NULL\n    mask: { type: redact }`,
        'column mask': column => `effect: column_mask\n    columns: { names: [${column}] }\n    mask: { type: hide }`,
        'cell mask column': column => `effect: cell_mask\n    columns: { names: [${column}] }\n    when: 'TRUE'\n    mask: { type: redact }`
      };
      const has = (dataset: string, column: string) => schemas.get(dataset)!.columns.some(candidate => candidate.name === column);
      const visibleBefore = ['drug_xyz.trial_july2020', 'drug_xyz.trial_march2021', 'drug_abc.trial_jan2022', 'commercial.production_batches'];
      let tries = 0;
      let wrong = 0;
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom(...Object.keys(effects)),
            fc.constantFrom(...Object.keys(selectors)),
            fc.oneof(fc.constantFrom('country', 'site', 'arm', 'ssn', 'plant', 'cost_usd'), fc.stringMatching(/^[a-z][a-z_]{0,10}$/)),
            async (effect, selectorName, column) => {
              tries++;
              const selector = selectors[selectorName];
              const selected = [...schemas.keys()].filter(name => name !== 'warden.audit_log' && selector.selects(name));
              const isFilter = effect === 'row filter' || effect === 'cell-mask condition';
              const refused = isFilter
                ? selected.some(name => !has(name, column))
                : selected.length > 0 && (!selected.some(name => has(name, column)) || (selector.byName && selected.some(name => !has(name, column))));
              const { config, remove } = copyConfig(shared());
              writeFileSync(join(config, 'policies/zz-attack.yaml'), `policies:\n  - name: attack\n    datasets: ${selector.yaml}\n    principals: { groups: [analysts] }\n    ${effects[effect](column)}\n`);
              let running: RunningService | undefined;
              try {
                running = await startService(config);
              } catch (error) {
                const clear = error instanceof ConfigError && /zz-attack\.yaml$/.test(error.file) && error.line === 2 && error.problem.includes(`"${column}"`);
                if (!refused || !clear) wrong++;
                assert.ok(refused && clear, `${effect} on ${column} by ${selectorName}: ${(error as Error).message}`);
              }
              try {
                if (running) {
                  // Accepted: no dataset may turn into a silent 404 for the users the policy concerns.
                  const missing = [];
                  for (const name of visibleBefore) {
                    const response = await api(`${running.url}/datasets/${name}`, 'alice');
                    await response.arrayBuffer();
                    if (response.status !== 200) missing.push(name);
                  }
                  if (refused || missing.length) wrong++;
                  assert.ok(!refused, `${effect} on ${column} by ${selectorName} was accepted`);
                  assert.deepEqual(missing, [], `${effect} on ${column} by ${selectorName}`);
                }
              } finally {
                await running?.close();
                remove();
              }
            }
          ),
          { numRuns: 40 }
        );
      } finally {
        record({ category: 'config', attack: 'row filters, cell-mask conditions and masks naming missing columns, by name, pattern, tag (fast-check)', tries, leaks: wrong, auditLost: 0, note: 'filters: refused with file and line unless every selected dataset has the column; masks: refused when no selected dataset (or one named exactly) has it, else not applicable there; no dataset turns 404' });
      }
    });
  });

  describe('policies comparing values of different types', () => {
    test('row filters comparing a column with a literal, another column or a user attribute of another type (fast-check)', async () => {
      const COMMERCIAL = 'commercial.production_batches';
      // Kinds of a few columns, and of values a policy may compare them with (alice's directory attributes below).
      const columns: [string, string, string][] = [
        [TRIAL, 'country', 'text'], [TRIAL, 'enrolled_on', 'date'], [TRIAL, 'date_of_birth', 'date'],
        [COMMERCIAL, 'units', 'number'], [COMMERCIAL, 'yield_pct', 'number'], [COMMERCIAL, 'plant', 'text']
      ];
      const values: [string, string][] = [
        ["'DE'", 'text'], ["'1e3'", 'text'], ['49', 'number'], ['-0.5', 'number'], ['TRUE', 'boolean'], ["DATE '2020-07-03'", 'date'],
        ["'2020-07-03'", 'iso text'], ['user.region', 'text'], ['user.badge', 'number'], ['user.active', 'boolean'], ['user.name', 'text']
      ];
      const compatible = (column: string, value: string) => column === value || (column === 'date' && value === 'iso text') || (column === 'text' && value === 'iso text');
      let tries = 0;
      let wrong = 0;
      try {
        await fc.assert(
          fc.asyncProperty(fc.constantFrom(...columns), fc.constantFrom(...values), fc.constantFrom('=', '<>', '<', '>=', 'IN'), async ([dataset, column, columnKind], [value, valueKind], op) => {
            tries++;
            const { config, remove } = copyConfig(shared());
            const directory = readFileSync(join(config, 'directory.yaml'), 'utf8').replace('attributes: { region: US, clearance: standard }', 'attributes: { region: US, clearance: standard, badge: 49, active: true }');
            writeFileSync(join(config, 'directory.yaml'), directory);
            const filter = op === 'IN' ? `${column} IN (${value})` : `${column} ${op} ${value}`;
            writeFileSync(join(config, 'policies/zz-types.yaml'), `policies:\n  - name: typed\n    effect: row_filter\n    datasets: { names: [${dataset}] }\n    principals: { groups: [analysts] }\n    filter: ${JSON.stringify(filter)}\n`);
            const expected = compatible(columnKind, valueKind);
            let running: RunningService | undefined;
            try {
              running = await startService(config);
            } catch (error) {
              const clear = error instanceof ConfigError && /zz-types\.yaml$/.test(error.file) && error.line === 2 && error.problem.includes(`"${column}"`);
              if (expected || !clear) wrong++;
              assert.ok(!expected && clear, `${filter} on ${dataset}: ${(error as Error).message}`);
            }
            try {
              if (running) {
                // Accepted: every request runs; the engine never answers with a conversion error (that names raw values).
                const response = await api(`${running.url}/datasets/${dataset}/preview?limit=50`, 'alice');
                const body = new Uint8Array(await response.arrayBuffer());
                if (!expected || response.status !== 200) wrong++;
                assert.ok(expected, `${filter} on ${dataset} was accepted`);
                assert.equal(response.status, 200, `${filter} on ${dataset}: ${new TextDecoder().decode(body).slice(0, 300)}`);
              }
            } finally {
              await running?.close();
              remove();
            }
          }),
          { numRuns: 40 }
        );
      } finally {
        record({ category: 'config', attack: 'row filters comparing columns with literals and user attributes of other types (fast-check)', tries, leaks: wrong, auditLost: 0, note: 'refused at load with file and line (user attributes typed from directory.yaml); every accepted filter runs without an engine conversion error' });
      }
    });
  });

  describe('served files swapped after load', () => {
    test('a served file replaced by a symbolic link, its directory by a link, or the file by a FIFO', async () => {
      const { url, lakeDir } = shared();
      const servedDir = join(lakeDir, 'drug_xyz');
      const served = join(servedDir, 'trial_july2020.parquet');
      const outside = tempDir('outside');
      // Same schema as the served file, other rows: what a swap would serve under the trial's policies.
      mkdirSync(join(outside.path, 'drug_xyz'));
      const unlisted = join(servedDir, 'unlisted.parquet');
      for (const copy of [join(outside.path, 'drug_xyz/trial_july2020.parquet'), unlisted]) {
        await duckdb(`COPY (SELECT * REPLACE ('TOP-SECRET' AS site) FROM read_parquet('${served}')) TO '${copy}' (FORMAT parquet)`);
      }
      const secretRow = (row: Row) => row.site === 'TOP-SECRET';
      const swaps: [string, () => void, () => void][] = [
        ['the file -> a link outside the data roots', () => replaceBy(served, () => symlinkSync(join(outside.path, 'drug_xyz/trial_july2020.parquet'), served)), () => restore(served)],
        ['the file -> a link to a file inside the roots that no dataset serves', () => replaceBy(served, () => symlinkSync(unlisted, served)), () => restore(served)],
        ['its directory -> a link outside the data roots', () => replaceBy(servedDir, () => symlinkSync(join(outside.path, 'drug_xyz'), servedDir)), () => restore(servedDir)],
        ['the file -> a FIFO', () => replaceBy(served, () => execFileSync('mkfifo', [served])), () => restore(served)]
      ];
      let tries = 0;
      let leaks = 0;
      let auditLost = 0;
      try {
        for (const [what, swap, undo] of swaps) {
          swap();
          try {
            for (const [user, path, init] of [
              ['carlos', `/datasets/${TRIAL}/preview?limit=50`, {}],
              ['alice', `/datasets/${TRIAL}/scan`, { method: 'POST', body: '{"limit": 50}' }]
            ] as [string, string, RequestInit][]) {
              tries++;
              const notebook = `swap-${tries}`;
              const response = await api(`${url}${path}`, user, { ...init, headers: { 'x-warden-notebook': notebook }, signal: AbortSignal.timeout(10_000) }).catch(error => error as Error);
              if (response instanceof Error) {
                leaks++;
                assert.fail(`${what}: ${user} ${path}: ${response.message}`);
              }
              const body = new Uint8Array(await response.arrayBuffer());
              const served = response.status === 200 && path.includes('/datasets/drug_xyz.trial_july2020/') ? rows(tableFromIPC(body)).filter(secretRow).length : 0;
              leaks += served;
              const text = new TextDecoder().decode(body);
              if (response.status !== 422 || text.includes(outside.path) || text.includes(lakeDir)) leaks++;
              const recorded = readFileSync(join(shared().auditDir, 'audit.jsonl'), 'utf8').trim().split('\n').map(line => JSON.parse(line) as Row).filter(r => r.notebook === notebook);
              if (recorded.length !== 1 || recorded[0].outcome !== 'error' || !/symbolic link|regular file/.test(String(recorded[0].actual_reason))) auditLost++;
              assert.equal(response.status, 422, `${what}: ${user} ${path}: ${text.slice(0, 300)}`);
            }
          } finally {
            undo();
          }
        }
        // The real file again: served as before.
        assert.equal((await api(`${url}/datasets/${TRIAL}/preview?limit=5`, 'carlos')).status, 200);
      } finally {
        outside.remove();
        rmSync(unlisted);
        record({ category: 'injection', attack: 'served file swapped after load: link out, link to an unlisted file, linked directory, FIFO', tries, leaks, auditLost, note: '422 source_error at open (realpath unchanged, O_NOFOLLOW, regular file), audited with the real reason for compliance' });
      }
      assert.equal(leaks + auditLost, 0);
    });
  });

  describe('protections aimed at nothing', () => {
    test('denies, filters and masks naming a dataset or a user attribute that does not exist (fast-check over effects, typos, patterns, tags)', () => {
      const { config, remove } = copyConfig(shared());
      // Attributes only from the directory: the shared service also trusts token claims for them.
      writeFileSync(join(config, 'warden.yaml'), readFileSync(join(config, 'warden.yaml'), 'utf8').replace('  trusted_claims: [groups, attributes]\n', ''));
      const catalog = new Set(loadConfig(config, AUDIT_BUILTINS).datasets.map(dataset => dataset.name));
      const effects: Record<string, string> = {
        deny: 'effect: deny',
        'row filter': "effect: row_filter\n    filter: country = 'US'",
        'column mask': 'effect: column_mask\n    columns: { tags: [pii.direct] }\n    mask: { type: hide }',
        'cell mask': "effect: cell_mask\n    columns: { names: [adverse_events] }\n    when: arm = 'placebo'\n    mask: { type: redact }"
      };
      // A typo: one character of a real name dropped, doubled or changed.
      const typo = (name: string, at: number, kind: number) => {
        const i = at % name.length;
        return [name.slice(0, i) + name.slice(i + 1), name.slice(0, i) + name[i] + name.slice(i), name.slice(0, i) + (name[i] === 'x' ? 'y' : 'x') + name.slice(i + 1)][kind % 3];
      };
      let tries = 0;
      let wrong = 0;
      try {
        fc.assert(
          fc.property(
            fc.constantFrom(...Object.keys(effects)),
            fc.constantFrom('dataset typo', 'unknown dataset', 'pattern matching nothing', 'tag matching nothing', 'attribute typo'),
            fc.constantFrom(...[...catalog].filter(name => name !== 'warden.audit_log')),
            fc.nat(),
            fc.nat(),
            (effect, target, dataset, at, kind) => {
              tries++;
              const misspelt = typo(dataset, at, kind);
              const attribute = typo('region', at, kind);
              const datasets = { 'dataset typo': `{ names: [${misspelt}] }`, 'unknown dataset': '{ names: [lab.peeple] }', 'pattern matching nothing': '{ names: [lab.*] }', 'tag matching nothing': '{ tags: [lab] }', 'attribute typo': '{ tags: [clinical] }' }[target];
              const body = target === 'attribute typo' ? `effect: row_filter\n    filter: country = user.${attribute}` : effects[effect];
              writeFileSync(join(config, 'policies/zz-aim.yaml'), `policies:\n  - name: aimed\n    datasets: ${datasets}\n    principals: { groups: [analysts] }\n    ${body}\n`);
              const expected =
                target === 'dataset typo' && !catalog.has(misspelt)
                  ? new RegExp(`^policy aimed: datasets\\.names: "${misspelt.replace(/\./g, '\\.')}" is not a dataset of the catalog \\(did you mean ${dataset.replace(/\./g, '\\.')}\\?\\)`)
                  : target === 'unknown dataset'
                    ? /^policy aimed: datasets\.names: "lab\.peeple" is not a dataset of the catalog: /
                    : target === 'attribute typo' && attribute !== 'region'
                      ? new RegExp(`^policy aimed: filter: user\\.${attribute} is an attribute no user in directory\\.yaml has \\(did you mean user\\.region\\?\\)`)
                      : undefined;
              let problem: string | undefined;
              try {
                loadConfig(config, AUDIT_BUILTINS);
              } catch (error) {
                if (!(error instanceof ConfigError && /zz-aim\.yaml$/.test(error.file) && error.line === (target === 'attribute typo' ? 6 : 3))) wrong++;
                assert.ok(error instanceof ConfigError, String(error));
                problem = error.problem;
              }
              const right = expected ? problem !== undefined && expected.test(problem) : problem === undefined;
              if (!right) wrong++;
              assert.ok(right, `${effect} on ${target} (${misspelt}, user.${attribute}): ${problem ?? 'accepted'}`);
            }
          ),
          { numRuns: 200 }
        );
      } finally {
        remove();
        record({ category: 'config', attack: 'denies, filters and masks aimed at a misspelt or unknown dataset or user attribute; patterns and tags matching nothing (fast-check)', tries, leaks: wrong, auditLost: 0, note: 'exact dataset names and user attributes that do not exist refused at load with file, line and the closest name; patterns and tags matching nothing accepted (datasets to come)' });
      }
    });
  });
}

/** A copy of the shared demo configuration in a fresh directory, with its own audit file. */
function copyConfig(shared: SharedService, auditPath?: (dir: string) => string): { dir: string; config: string; remove: () => void } {
  const temp = tempDir('adv-deploy');
  const config = join(temp.path, 'config');
  cpSync(shared.configDir, config, { recursive: true });
  const settings = readFileSync(join(config, 'warden.yaml'), 'utf8')
    .replace('data_roots: [../lake]', `data_roots: [${shared.lakeDir}]`)
    .replace(/audit:\n {2}path: .*\n/, `audit:\n  path: ${auditPath ? auditPath(config) : join(temp.path, 'audit.jsonl')}\n`);
  writeFileSync(join(config, 'warden.yaml'), settings);
  return { dir: temp.path, config, remove: temp.remove };
}

/** A service on `config`, watching it, with every log line kept. */
async function watchedService(config: string): Promise<{ running: RunningService; lines: string[] }> {
  const lines: string[] = [];
  const running = await startService(config, { info: message => lines.push(message), error: message => lines.push(message) });
  running.service.watchConfig();
  return { running, lines };
}

/** The service's log lines of `event` (JSON lines: access/log.ts). */
const events = (lines: string[], event: string) => lines.map(line => JSON.parse(line) as Record<string, unknown>).filter(line => line.event === event);
const reloads = (lines: string[]) => events(lines, 'config_reload').filter(line => line.outcome === 'applied').length;

/** Placebo adverse events an analyst received in clear: what the cell mask blinded-placebo-events withholds. */
async function unblinded(url: string): Promise<number> {
  const response = await api(`${url}/datasets/${TRIAL}/preview?limit=300`, 'alice');
  assert.equal(response.status, 200);
  return rows(tableFromIPC(new Uint8Array(await response.arrayBuffer()))).filter(row => row.arm === 'placebo' && row.adverse_events !== null && row.adverse_events !== '[blinded]').length;
}

/**
 * Writes `parts` into `file` from another process, `pauseMs` apart: with one open handle
 * (`handle`), or closing it between parts (`reopen`: truncate and write, then append).
 */
async function slowWriter(file: string, parts: string[], pauseMs: number, mode: 'handle' | 'reopen'): Promise<void> {
  const script = `
    const fs = require('fs');
    const [file, parts, pause, mode] = JSON.parse(process.argv[1]);
    const sleep = ms => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    if (mode === 'handle') {
      const fd = fs.openSync(file, 'w');
      parts.forEach((part, i) => { if (i) sleep(pause); fs.writeSync(fd, part); fs.fsyncSync(fd); });
      fs.closeSync(fd);
    } else {
      parts.forEach((part, i) => { if (i) sleep(pause); i ? fs.appendFileSync(file, part) : fs.writeFileSync(file, part); });
    }`;
  const writer = spawn(process.execPath, ['-e', script, JSON.stringify([file, parts, pauseMs, mode])], { stdio: 'inherit' });
  const [code] = await once(writer, 'exit');
  assert.equal(code, 0);
}

export function deployAttacks(shared: () => SharedService): void {
  describe('policy changes deployed while serving', () => {
    test('a policy file written in two parts, slower than the reload delay, is never applied half-written', async () => {
      let previews = 0;
      let leaked = 0;
      let attempts = 0;
      try {
        for (const [mode, pauseMs] of [['handle', 1500], ['reopen', 250]] as const) {
          const { config, remove } = copyConfig(shared());
          const { running, lines } = await watchedService(config);
          try {
            const file = join(config, 'policies/masking.yaml');
            const text = readFileSync(file, 'utf8');
            // The first part is valid YAML on its own: every policy but the placebo cell mask.
            const cut = text.indexOf('  - name: blinded-placebo-events');
            assert.ok(cut > 0);
            attempts++;
            let writing = true;
            const writer = slowWriter(file, [text.slice(0, cut), text.slice(cut)], pauseMs, mode).finally(() => (writing = false));
            const before = reloads(lines);
            while (writing || reloads(lines) === before) {
              leaked += await unblinded(running.url);
              previews++;
              await new Promise(resolve => setTimeout(resolve, 20));
            }
            await writer;
            leaked += await unblinded(running.url);
            previews++;
            assert.equal(reloads(lines), before + 1, `${mode}: one reload, of the whole file\n${lines.join('\n')}`);
          } finally {
            await running.close();
            remove();
          }
        }
      } finally {
        record({ category: 'faults', attack: 'policy file written in two parts during previews (one handle 1.5 s apart; closed and reopened 250 ms apart)', tries: previews, leaks: leaked, auditLost: 0, note: `${attempts} slow writers: applied only once whole (quiet period, no writer left in /proc); placebo events stayed blinded in every preview` });
      }
      assert.equal(leaked, 0);
    });

    test('atomic deploys are applied whole: rename over the file, and the Kubernetes ..data swap; a weakening is logged loudly', async () => {
      const temp = copyConfig(shared());
      // Kubernetes lays a config map out as ..<timestamp>/ with ..data -> it, and a link per entry through ..data.
      const mount = join(temp.dir, 'mount');
      mkdirSync(mount);
      renameSync(temp.config, join(mount, '..v1'));
      symlinkSync('..v1', join(mount, '..data'));
      for (const entry of readdirSync(join(mount, '..v1'))) symlinkSync(join('..data', entry), join(mount, entry));
      const { running, lines } = await watchedService(mount);
      let tries = 0;
      let failures = 0;
      try {
        // 1. The swap: a new version with the placebo mask removed, and a new column mask.
        tries++;
        cpSync(join(mount, '..v1'), join(mount, '..v2'), { recursive: true });
        const masking = join(mount, '..v2/policies/masking.yaml');
        const text = readFileSync(masking, 'utf8');
        const start = text.indexOf('  - name: blinded-placebo-events');
        const end = text.indexOf('  - name: cost-rounded');
        writeFileSync(masking, text.slice(0, start) + text.slice(end) + '  - name: hide-site\n    effect: column_mask\n    datasets: { tags: [clinical] }\n    principals: { everyone: true }\n    columns: { names: [site] }\n    mask: { type: hide }\n');
        symlinkSync('..v2', join(mount, '..data_tmp'));
        renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
        await until(() => reloads(lines) === 1, 'the ..data swap to be applied');
        const columns = (await (await api(`${running.url}/datasets/${TRIAL}`, 'alice')).json()) as { columns: { name: string; effect: { access: string } }[] };
        if (columns.columns.find(column => column.name === 'site')?.effect.access !== 'hidden') failures++;
        const loud = events(lines, 'config_reload_weakens_protections');
        const logged = loud.length === 1 ? (loud[0] as { weakened: { policy: string; changes: string[] }[] }).weakened : [];
        if (JSON.stringify(logged.map(w => [w.policy, w.changes])) !== JSON.stringify([['blinded-placebo-events', ['removed']]])) failures++;
        // 2. A rename over a policy file: applied once, and a strengthening is not logged as a weakening.
        tries++;
        const access = join(mount, 'policies/access.yaml');
        const staged = join(mount, '..v2/policies/.access.yaml.tmp');
        writeFileSync(staged, readFileSync(access, 'utf8').replace('filter: country = user.region', "filter: country = user.region AND site != 'Site-01'"));
        renameSync(staged, join(mount, '..v2/policies/access.yaml'));
        await until(() => reloads(lines) === 2, 'the renamed file to be applied');
        const filtered = rows(tableFromIPC(new Uint8Array(await (await api(`${running.url}/datasets/${TRIAL}/preview?limit=3000`, 'alice')).arrayBuffer())));
        if (filtered.length === 0 || filtered.some(row => row.country !== 'US')) failures++;
        const loudAfter = events(lines, 'config_reload_weakens_protections').map(line => JSON.stringify(line));
        // Changing a filter cannot be proved stricter: it is reported, as a change to check.
        if (loudAfter.length !== 2 || !loudAfter[1].includes('analysts-own-region') || !loudAfter[1].includes('filter changed')) failures++;
      } finally {
        await running.close();
        temp.remove();
        record({ category: 'faults', attack: 'policy deploys: Kubernetes ..data swap, rename over a file', tries, leaks: failures, auditLost: 0, note: 'each applied in one reload; removed or changed protections logged as one JSON line (config_reload_weakens_protections)' });
      }
      assert.equal(failures, 0);
    });

    test('weakenings through the catalog and the directory are logged loudly, for every column a user now gets more openly', async () => {
      const { config, remove } = copyConfig(shared());
      const lines: string[] = [];
      const running = await startService(config, { info: message => lines.push(message), error: message => lines.push(message) });
      const users = ['alice', 'pat', 'carlos', 'cora'];
      const datasets = [TRIAL, 'drug_xyz.trial_march2021', 'drug_abc.trial_jan2022', 'commercial.production_batches'];
      /** How open each column is to each user, by the API's own account (hidden 2, masked 1, clear 0; a cell mask adds a half), by "user dataset column". */
      const views = async () => {
        const seen = new Map<string, number>();
        const closedness = { hidden: 2, masked: 1, clear: 0 };
        for (const user of users) {
          for (const dataset of datasets) {
            const response = await api(`${running.url}/datasets/${dataset}`, user);
            if (response.status !== 200) {
              await response.arrayBuffer();
              continue;
            }
            const detail = (await response.json()) as { columns: { name: string; effect: { access: keyof typeof closedness; cellMasks: unknown[] } }[] };
            for (const column of detail.columns) seen.set(`${user} ${dataset} ${column.name}`, closedness[column.effect.access] + (column.effect.cellMasks.length ? 0.5 : 0));
          }
        }
        return seen;
      };
      const catalogFile = join(config, 'catalog/clinical.yaml');
      const directoryFile = join(config, 'directory.yaml');
      const catalogText = readFileSync(catalogFile, 'utf8');
      const directoryText = readFileSync(directoryFile, 'utf8');
      // Each tag taken off the trial columns, and users moved into the groups masks exempt or out of the groups they mask.
      // The last flag: whether putting it back only tightens (else it changes a row filter, reported as a change to check).
      const mutations: [string, string, string, boolean][] = [
        ...['pii.id', 'pii.direct', 'pii.ssn', 'pii.quasi', 'pii.email'].map(
          tag => [`tag ${tag} removed`, catalogFile, catalogText.replace(new RegExp(`(tags: \\[[^\\]]*)\\b${tag.replace('.', '\\.')}(, )?`, 'g'), '$1').replace(/, \]/g, ']'), true] as [string, string, string, boolean]
        ),
        ['alice into privacy-officers', directoryFile, directoryText.replace('groups: [analysts]', 'groups: [analysts, privacy-officers]'), true],
        ['carlos out of contractors', directoryFile, directoryText.replace('groups: [contractors]', 'groups: [analysts]'), false],
        ['alice given a new region', directoryFile, directoryText.replace('attributes: { region: US, clearance: standard }', 'attributes: { region: DE, clearance: standard }'), false]
      ];
      let tries = 0;
      let unlogged = 0;
      try {
        const original = await views();
        for (const [what, file, text, putBackTightens] of mutations) {
          tries++;
          const loudBefore = events(lines, 'config_reload_weakens_protections').length;
          writeFileSync(file, text);
          assert.equal(await running.service.reload(), 'applied', what);
          const changed = await views();
          const logged = events(lines, 'config_reload_weakens_protections').slice(loudBefore).flatMap(line => line.effects as { user: string; dataset: string; column?: string }[]);
          const loggedKeys = new Set(logged.map(effect => `${effect.user} ${effect.dataset} ${effect.column}`));
          const released = [...changed].filter(([key, now]) => original.has(key) && now < original.get(key)!).map(([key]) => key);
          const missing = released.filter(key => !loggedKeys.has(key));
          unlogged += missing.length;
          assert.deepEqual(missing, [], `${what}: released but not logged`);
          assert.ok(released.length > 0 || what.includes('region'), `${what} released nothing: the attack is void`);
          const loudAfter = events(lines, 'config_reload_weakens_protections').length;
          writeFileSync(file, file === catalogFile ? catalogText : directoryText);
          assert.equal(await running.service.reload(), 'applied');
          if (putBackTightens && events(lines, 'config_reload_weakens_protections').length !== loudAfter) unlogged++;
          assert.ok(!putBackTightens || events(lines, 'config_reload_weakens_protections').length === loudAfter, `putting back ${what} was reported: ${lines.slice(-2).join('\n')}`);
        }
        // A new region changes alice's row filter: reported as a change to check.
        assert.ok(events(lines, 'config_reload_weakens_protections').some(line => JSON.stringify(line.effects).includes("country = 'DE'")));
      } finally {
        await running.close();
        remove();
        record({ category: 'faults', attack: 'protections lowered through catalog tags and directory groups and attributes (no policy changed)', tries, leaks: unlogged, auditLost: 0, note: 'every column a user then got more openly (hidden to masked or clear, masked to clear, a cell mask gone) logged in config_reload_weakens_protections (effects: user, dataset, column, before, after, file kinds changed); putting back a removed tag or exemption logs nothing' });
      }
      assert.equal(unlogged, 0);
    });

    test('an audit log and a service log inside the config directory do not make it reload', async () => {
      const { config, remove } = copyConfig(shared(), dir => join(dir, 'audit.jsonl'));
      const { running, lines } = await watchedService(config);
      const serviceLog = join(config, 'service.log');
      let requests = 0;
      try {
        const stopAt = Date.now() + 3000;
        while (Date.now() < stopAt) {
          appendFileSync(serviceLog, `${new Date().toISOString()} warden: something happened\n`);
          await (await api(`${running.url}/datasets/${TRIAL}/preview?limit=5`, 'pat')).arrayBuffer();
          requests++;
          await new Promise(resolve => setTimeout(resolve, 250));
        }
        await running.service.reload();
      } finally {
        await running.close();
        remove();
      }
      const spurious = reloads(lines) - 1;
      record({ category: 'faults', attack: 'audit and service logs written inside the config directory for 3 s', tries: requests, leaks: 0, auditLost: 0, note: `${spurious} reloads (only the configuration's own files are watched)` });
      assert.equal(spurious, 0, lines.join('\n'));
    });
  });
}

/** Moves `path` aside (to `path.saved`) and puts something else there. */
function replaceBy(path: string, create: () => void): void {
  renameSync(path, `${path}.saved`);
  create();
}

function restore(path: string): void {
  rmSync(path, { force: true });
  renameSync(`${path}.saved`, path);
}
