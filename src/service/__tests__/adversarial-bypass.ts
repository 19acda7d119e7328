/**
 * The adversarial suite's bypass cases, for any engine: attacks through the caller's own query
 * (filters and order on masked, cell-masked and hidden columns, functions, counts outside the
 * row filter), what engine errors tell, and injection through dataset and column names,
 * filters, attributes and claims. Each case runs against a service whose main trial dataset
 * (drug_xyz.trial_july2020 of the demo lake) an engine reads: DuckDB from Parquet in
 * adversarial.test.ts, Trino from an Iceberg table in trino-adversarial.itest.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { tableFromIPC } from 'apache-arrow';
import { SignJWT } from 'jose';
import { SECRET, api, rows } from './helpers';
import { record } from './ledger';

export const TRIAL = 'drug_xyz.trial_july2020';
export type Row = Record<string, unknown>;

export interface BypassTarget {
  /** The service's API base URL. */
  url: string;
  /** The trial's raw rows, read beside the service. */
  raw: Row[];
  /** The service's mask key, which no answer may contain (nor the keys derived from it). */
  maskKey: string;
}

/**
 * Defines the bypass cases against `target()` (known once the suite's `before` ran); ledger
 * rows carry `engine` in their category when it is not the default DuckDB.
 */
export function bypassCases(engine: string, target: () => BypassTarget): void {
  const category = (name: string) => (engine === 'DuckDB' ? name : `${name} (${engine})`);

  async function status(path: string, user: string | null, init: RequestInit = {}): Promise<{ status: number; body: string }> {
    const response = await api(`${target().url}${path}`, user, init);
    return { status: response.status, body: await response.text() };
  }

  async function scanStatus(user: string, body: object): Promise<{ status: number; code?: string; message?: string; rows?: Row[] }> {
    const response = await api(`${target().url}/datasets/${TRIAL}/scan`, user, { method: 'POST', body: JSON.stringify(body) });
    if (response.status === 200) return { status: 200, rows: rows(tableFromIPC(new Uint8Array(await response.arrayBuffer()))) };
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    return { status: response.status, code: error.code, message: error.message };
  }

  describe(`inference through the caller's own query (${engine})`, () => {
    test('filter on the raw value of a masked column (ssn = raw SSN)', async () => {
      const targets = target().raw.filter(row => row.country === 'US').slice(0, 20);
      let leaks = 0;
      for (const row of targets) {
        const result = await scanStatus('alice', { filter: `ssn = '${row.ssn}'` });
        assert.equal(result.status, 200);
        leaks += result.rows!.length;
      }
      record({ category: category('inference'), attack: 'filter on raw value of masked ssn', tries: targets.length, leaks, auditLost: 0, note: 'filters see masked values only: 0 rows' });
      assert.equal(leaks, 0);
    });

    test('filter on the raw value of a cell-masked column (adverse events of placebo rows)', async () => {
      const { raw } = target();
      let leaks = 0;
      const events = ['headache', 'nausea', 'fatigue'];
      for (const event of events) {
        const result = await scanStatus('alice', { columns: ['participant_id', 'arm', 'adverse_events'], filter: `adverse_events = '${event}'` });
        assert.equal(result.status, 200);
        leaks += result.rows!.filter(row => row.arm === 'placebo').length;
        // Exactly the treatment rows of her region with that event: the filter saw the masked cells.
        const expected = raw.filter(row => row.country === 'US' && row.arm === 'treatment' && row.adverse_events === event).map(row => row.participant_id).sort();
        assert.deepEqual(result.rows!.map(row => row.participant_id).sort(), expected, event);
        assert.ok(expected.length > 0, event);
      }
      record({ category: category('inference'), attack: 'filter on raw value of a cell-masked column', tries: events.length, leaks, auditLost: 0, note: 'the filter sees [blinded] in placebo rows: only treatment rows match' });
      assert.equal(leaks, 0);
    });

    test('prefix probing a masked column with LIKE', async () => {
      let leaks = 0;
      for (const digit of '0123456789') {
        const result = await scanStatus('alice', { filter: `ssn LIKE '${digit}%' OR name LIKE '${'ABCDEFGHIJ'[Number(digit)]}%'` });
        leaks += result.rows?.length ?? 0;
      }
      record({ category: category('inference'), attack: 'LIKE prefix probing of masked ssn and name', tries: 10, leaks, auditLost: 0, note: 'masked values start with * or [redacted]: 0 rows' });
      assert.equal(leaks, 0);
    });

    test('ordering by a masked column to learn the raw order', async () => {
      const result = await scanStatus('carlos', { columns: ['participant_id'], orderBy: ['participant_id'] });
      const tokens = result.rows!.map(row => String(row.participant_id));
      assert.equal(tokens.length, target().raw.length);
      assert.ok(tokens.every(token => token.startsWith('tok_')));
      const sorted = [...tokens].sort();
      const leaks = tokens.every((value, i) => value === sorted[i]) ? 0 : 1;
      record({ category: category('inference'), attack: 'order by tokenized participant_id', tries: 1, leaks, auditLost: 0, note: 'ordered by the token, not the raw id' });
      assert.equal(leaks, 0);
    });

    test('ordering, filtering or projecting a hidden column', async () => {
      const attempts = [{ orderBy: ['ssn DESC'] }, { filter: 'ssn IS NOT NULL' }, { columns: ['name'] }, { filter: 'date_of_birth > 1990' }, { orderBy: ['"email"'] }];
      let leaks = 0;
      for (const body of attempts) {
        const result = await scanStatus('carlos', body);
        if (result.status !== 400 || result.code !== 'unknown_column') leaks++;
      }
      record({ category: category('inference'), attack: 'order/filter/project a hidden column', tries: attempts.length, leaks, auditLost: 0, note: '400 unknown_column, hidden names not listed as available' });
      assert.equal(leaks, 0);
    });

    test('wrapping a masked column in functions or casts', async () => {
      const attempts = ["lower(ssn) = 'x'", "CAST(ssn AS VARCHAR) = 'x'", "substr(name, 1, 1) = 'A'", "ssn || '' = 'x'", "(SELECT ssn) = 'x'"];
      let leaks = 0;
      for (const filter of attempts) {
        const result = await scanStatus('alice', { filter });
        if (result.status !== 400 || result.code !== 'invalid_filter') leaks++;
      }
      record({ category: category('inference'), attack: 'functions, casts, subqueries around masked columns', tries: attempts.length, leaks, auditLost: 0, note: 'the expression language has no functions: 400 invalid_filter' });
      assert.equal(leaks, 0);
    });

    test('counting rows outside the row filter', async () => {
      const { raw } = target();
      const outside = raw.filter(row => row.country !== 'US').length;
      assert.ok(outside > 0);
      const attempts = [{ filter: "country = 'DE'" }, { filter: "country != 'US'" }, { filter: 'country IS NULL OR country IS NOT NULL', limit: 1_000_000 }];
      let leaks = 0;
      for (const body of attempts) {
        const result = await scanStatus('alice', body);
        leaks += result.rows!.filter(row => row.country !== 'US').length;
      }
      const detail = (await (await api(`${target().url}/datasets/${TRIAL}`, 'alice')).json()) as Row;
      if (JSON.stringify(detail).includes(String(raw.length))) leaks++;
      record({ category: category('inference'), attack: 'row counts of filtered-out rows', tries: attempts.length + 1, leaks, auditLost: 0, note: 'no rows, no totals outside the filter' });
      assert.equal(leaks, 0);
    });

    test('engine errors: what a failing query tells the caller', async () => {
      const { raw, maskKey } = target();
      // Filters the engine refuses or fails on, on clear, masked, cell-masked and tokenized columns.
      const attempts: [string, string][] = [
        ['alice', 'site > 5'],
        ['alice', 'ssn > 5'],
        ['alice', 'adverse_events < 1.5'],
        ['alice', "enrolled_on > 'soon'"],
        ['alice', "date_of_birth = 'x'"],
        ['carlos', 'participant_id > 7'],
        ['carlos', "arm = 'placebo' AND outcome > 3"]
      ];
      // Nothing of the query the service wrote, of the mask keys, of raw values, nor (to carlos) hidden names.
      const derive = (purpose: string) => createHash('sha256').update(`${maskKey}\0${purpose}`).digest('hex');
      const secrets = [maskKey, derive('token'), derive(`hash\0${TRIAL}`), ...raw.flatMap(row => [String(row.ssn), String(row.email)])];
      const queryText = /\b(select|from|execute|using)\b|sha256|case when|read_parquet|\$\d/i;
      const hiddenFromCarlos = /\b(ssn|name|email|date_of_birth)\b/;
      let leaks = 0;
      const messages: string[] = [];
      for (const [user, filter] of attempts) {
        const result = await scanStatus(user, { filter });
        assert.deepEqual([result.status, result.code], [400, 'invalid_filter'], `${user}: ${filter}: ${result.message}`);
        const said = result.message!.replace(/^the query could not run: /, '');
        messages.push(said);
        if (queryText.test(said) || secrets.some(secret => said.includes(secret)) || (user === 'carlos' && hiddenFromCarlos.test(said))) leaks++;
      }
      record({ category: category('inference'), attack: 'engine error messages on failing filters', tries: attempts.length, leaks, auditLost: 0, note: `400 invalid_filter with the engine's first line only, e.g. "${messages[0].slice(0, 60)}"` });
      assert.equal(leaks, 0, messages.join('\n'));
    });
  });

  describe(`injection (${engine})`, () => {
    test('SQL in dataset names', async () => {
      const names = ["drug_xyz.trial_july2020'; DROP TABLE x; --", 'drug_xyz.trial_july2020"--', '../../etc/passwd', "x' UNION SELECT * FROM read_csv('/etc/passwd') --", '%00'];
      let leaks = 0;
      for (const name of names) {
        const result = await status(`/datasets/${encodeURIComponent(name)}/scan`, 'pat', { method: 'POST', body: '{}' });
        if (result.status !== 404) leaks++;
      }
      record({ category: category('injection'), attack: 'SQL and paths in dataset names', tries: names.length, leaks, auditLost: 0, note: 'names are looked up, never put in SQL: 404' });
      assert.equal(leaks, 0);
    });

    test('SQL, quotes and unicode in column names', async () => {
      const columns = ['ssn" FROM read_csv(\'/etc/passwd\') --', 'name; DROP TABLE x', 'prénom', '"ssn"', 'ssn\u0000'];
      let leaks = 0;
      for (const column of columns) {
        const result = await scanStatus('carlos', { columns: [column] });
        if (result.status !== 400 || result.code !== 'unknown_column') leaks++;
      }
      record({ category: category('injection'), attack: 'SQL, quotes, unicode in projected column names', tries: columns.length, leaks, auditLost: 0, note: 'checked against the masked view, quoted if ever used: 400' });
      assert.equal(leaks, 0);
    });

    test('SQL in filter expressions', async () => {
      const filters = ["country = 'US' OR 1=1 --", "country = 'x'' OR ''1''=''1'", "country = 'US'; DROP TABLE x", "site = 'a' UNION SELECT ssn FROM x", "\"country\" = 'US' OR \"ssn\" = ssn", "site = '?' OR site = '$1'"];
      let leaks = 0;
      for (const filter of filters) {
        const result = await scanStatus('alice', { filter });
        if (result.status === 200) leaks += result.rows!.filter(row => row.country !== 'US' || !String(row.ssn).startsWith('*')).length;
      }
      record({ category: category('injection'), attack: 'SQL in caller filters', tries: filters.length, leaks, auditLost: 0, note: 'parsed to a tree, values bound: parse errors or literal matches' });
      assert.equal(leaks, 0);
    });

    test('SQL in user attributes and claims', async () => {
      const forged = async (sub: string, attributes: Record<string, string>) =>
        new SignJWT({ attributes }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setAudience('warden').setIssuer('jupyter-server').setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
      let leaks = 0;
      const attempts: [string, Record<string, string>][] = [
        ['alice', { region: "US' OR '1'='1" }],
        ['alice', { region: "US') OR TRUE --" }],
        ["cora' OR user_name IS NOT NULL --", {}]
      ];
      for (const [sub, attributes] of attempts) {
        const authorization = `Bearer ${await forged(sub, attributes)}`;
        for (const dataset of [TRIAL, 'warden.audit_log']) {
          const response = await fetch(`${target().url}/datasets/${dataset}/scan`, { method: 'POST', headers: { authorization }, body: '{}' });
          if (response.status !== 200) continue;
          const received = rows(tableFromIPC(new Uint8Array(await response.arrayBuffer())));
          leaks += received.filter(row => (dataset === TRIAL ? row.country !== undefined && row.country !== "US' OR '1'='1" && row.country !== "US') OR TRUE --" : row.user_name !== sub)).length;
        }
      }
      record({ category: category('injection'), attack: 'SQL in user attribute values and subject claims', tries: attempts.length * 2, leaks, auditLost: 0, note: 'attributes are bound parameters: no rows match' });
      assert.equal(leaks, 0);
    });
  });
}
