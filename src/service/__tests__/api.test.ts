/** Integration: the real service over HTTP, real DuckDB on the demo lake, real JWTs, Arrow decoded with apache-arrow. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { DuckDBInstance } from '@duckdb/node-api';
import { ARROW_META, CatalogPage, DatasetDetail } from '../../common/api';
import { RunningService, api, demoLake, rows, scan, startService, until } from './helpers';

const TRIAL = 'drug_xyz.trial_july2020';
const ROWS = 140_000;
type Row = Record<string, unknown>;

let demo: Awaited<ReturnType<typeof demoLake>>;
let running: RunningService;
let url: string;
let raw: Row[];

async function readRaw(path: string): Promise<Row[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const reader = await connection.runAndReadAll(`SELECT * REPLACE (CAST(date_of_birth AS VARCHAR) AS date_of_birth, CAST(enrolled_on AS VARCHAR) AS enrolled_on) FROM read_parquet($1)`, [path]);
  const result = reader.getRowObjectsJS() as Row[];
  connection.closeSync();
  instance.closeSync();
  return result;
}

function auditRecords(): Row[] {
  return readFileSync(join(demo.out, 'audit/audit.jsonl'), 'utf8').trim().split('\n').map(line => JSON.parse(line));
}

const day = (value: unknown) => new Date(Number(value)).toISOString().slice(0, 10);

before(async () => {
  demo = await demoLake(ROWS);
  running = await startService(demo.configDir);
  url = running.url;
  raw = await readRaw(join(demo.lakeDir, 'drug_xyz/trial_july2020.parquet'));
});

after(async () => {
  await running.close();
  demo.remove();
});

describe('personas receive exactly their governed view', () => {
  test('analyst alice: US rows only, PII masked, DOB year only, placebo events blinded', async () => {
    const table = await scan(url, 'alice', TRIAL);
    const expected = raw.filter(row => row.country === 'US');
    assert.ok(expected.length > 1000 && expected.length < raw.length);
    assert.equal(table.numRows, expected.length);
    const received = rows(table);
    received.forEach((row, i) => {
      const source = expected[i];
      assert.deepEqual(
        { ...row, enrolled_on: day(row.enrolled_on) },
        {
          participant_id: source.participant_id,
          name: '[redacted]',
          ssn: '*******' + String(source.ssn).slice(-4),
          date_of_birth: Number(String(source.date_of_birth).slice(0, 4)),
          email: '***@' + String(source.email).split('@')[1],
          country: 'US',
          site: source.site,
          arm: source.arm,
          outcome: source.outcome,
          adverse_events: source.arm === 'placebo' ? '[blinded]' : source.adverse_events,
          enrolled_on: source.enrolled_on
        }
      );
    });
    const fields = Object.fromEntries(table.schema.fields.map(field => [field.name, Object.fromEntries(field.metadata)]));
    assert.deepEqual(fields.ssn, { [ARROW_META.access]: 'masked', [ARROW_META.mask]: 'show_last(4)' });
    assert.deepEqual(fields.adverse_events, { [ARROW_META.access]: 'clear', [ARROW_META.cellMasked]: 'true' });
    assert.equal(table.schema.metadata.get(ARROW_META.rowFilter), "rows where country = 'US'");
  });

  test('privacy officer pat: every row, in the clear', async () => {
    const table = await scan(url, 'pat', TRIAL);
    assert.equal(table.numRows, raw.length);
    assert.ok(table.batches.length > 1, 'a large result streams as several record batches');
    const received = rows(table);
    for (const i of [0, 1, 777, raw.length - 1]) {
      assert.deepEqual({ ...received[i], date_of_birth: day(received[i].date_of_birth), enrolled_on: day(received[i].enrolled_on) }, raw[i]);
    }
  });

  test('contractor carlos: no PII columns at all, tokenized participant id', async () => {
    const table = await scan(url, 'carlos', TRIAL, { limit: 50 });
    assert.deepEqual(table.schema.fields.map(field => field.name), ['participant_id', 'country', 'site', 'arm', 'outcome', 'adverse_events', 'enrolled_on']);
    const maskKey = readFileSync(join(demo.configDir, 'mask.key'), 'utf8').trim();
    const tokenKey = createHash('sha256').update(`${maskKey}\0token`).digest('hex');
    rows(table).forEach((row, i) => {
      assert.equal(row.participant_id, 'tok_' + createHash('sha256').update(tokenKey + raw[i].participant_id).digest('hex').slice(0, 16));
    });
  });

  test('tokens are stable across datasets, so joins still work', async () => {
    const july = rows(await scan(url, 'carlos', TRIAL, { limit: 5, columns: ['participant_id'] }));
    const march = rows(await scan(url, 'carlos', 'drug_xyz.trial_march2021', { limit: 5, columns: ['participant_id'] }));
    assert.deepEqual(march, july, 'same participant ids give the same tokens in both trials');
  });

  test('CSV and JSON-lines sources are governed the same way', async () => {
    for (const dataset of ['drug_xyz.trial_march2021', 'drug_abc.trial_jan2022']) {
      const received = rows(await scan(url, 'alice', dataset, { limit: 20 }));
      assert.ok(received.length > 0);
      for (const row of received) {
        assert.equal(row.country, 'US');
        assert.equal(row.name, '[redacted]');
        assert.match(String(row.ssn), /^\*{7}\d{4}$/);
      }
    }
  });

  test('compliance cora cannot read trials but reads the whole audit log; alice reads only her own records', async () => {
    assert.equal((await api(`${url}/datasets/${TRIAL}`, 'cora')).status, 404);
    const all = rows(await scan(url, 'cora', 'warden.audit_log'));
    const users = new Set(all.map(row => row.user_name));
    assert.ok(users.has('alice') && users.has('carlos') && users.has('cora'), `cora sees everyone: ${[...users]}`);
    const own = rows(await scan(url, 'alice', 'warden.audit_log'));
    assert.ok(own.length > 0);
    assert.deepEqual(new Set(own.map(row => row.user_name)), new Set(['alice']));
  });
});

describe('catalog and details', () => {
  test('each persona lists only what they may access', async () => {
    const names = async (user: string) => ((await (await api(`${url}/datasets`, user)).json()) as CatalogPage).datasets.map(d => d.name);
    assert.deepEqual(await names('alice'), ['commercial.production_batches', 'drug_abc.trial_jan2022', 'drug_xyz.trial_july2020', 'drug_xyz.trial_march2021', 'warden.audit_log']);
    assert.deepEqual(await names('carlos'), ['drug_abc.trial_jan2022', 'drug_xyz.trial_july2020', 'drug_xyz.trial_march2021', 'warden.audit_log']);
    assert.deepEqual(await names('cora'), ['warden.audit_log']);
  });

  test('search matches name, description, column names and tags; hidden columns are not searchable', async () => {
    const search = async (user: string, query: string) => ((await (await api(`${url}/datasets?${query}`, user)).json()) as CatalogPage).datasets.map(d => d.name);
    assert.deepEqual(await search('alice', 'q=supervisor'), ['commercial.production_batches']);
    assert.deepEqual(await search('alice', 'q=EDC'), ['drug_abc.trial_jan2022']);
    assert.deepEqual(await search('alice', 'tag=phase2'), ['drug_abc.trial_jan2022']);
    assert.deepEqual(await search('alice', 'q=ssn'), ['drug_abc.trial_jan2022', 'drug_xyz.trial_july2020', 'drug_xyz.trial_march2021']);
    assert.deepEqual(await search('carlos', 'q=ssn'), []);
    assert.deepEqual(await search('alice', 'database=drug_xyz'), ['drug_xyz.trial_july2020', 'drug_xyz.trial_march2021']);
  });

  test('detail says per column what the user gets and why, and the row filter in words', async () => {
    const detail = (await (await api(`${url}/datasets/${TRIAL}`, 'alice')).json()) as DatasetDetail;
    const column = (name: string) => detail.columns.find(c => c.name === name)!;
    assert.deepEqual(column('ssn').effect, { access: 'masked', mask: { type: 'show_last', n: 4 }, description: 'last 4 characters shown', policy: 'ssn-last-four', reason: 'tag pii.ssn', cellMasks: [] });
    assert.equal(column('date_of_birth').type, 'INTEGER');
    assert.equal(column('date_of_birth').sourceType, 'DATE');
    assert.equal(column('country').effect.access, 'clear');
    assert.deepEqual(column('adverse_events').effect.cellMasks, [{ policy: 'blinded-placebo-events', mask: { type: 'redact', value: '[blinded]' }, description: "redacted as '[blinded]'", condition: "arm = 'placebo'" }]);
    assert.deepEqual(detail.rowFilter, { policies: ['analysts-own-region'], description: "rows where country = 'US'" });
    const forCarlos = (await (await api(`${url}/datasets/${TRIAL}`, 'carlos')).json()) as DatasetDetail;
    assert.equal(forCarlos.columns.find(c => c.name === 'ssn')!.effect.access, 'hidden');
    assert.ok(!forCarlos.columnNames.includes('ssn'));
  });

  test('a dataset the principal may not see answers exactly like one that does not exist', async () => {
    const hidden = await api(`${url}/datasets/commercial.production_batches`, 'carlos');
    const missing = await api(`${url}/datasets/commercial.nothing_here`, 'carlos');
    assert.equal(hidden.status, 404);
    assert.equal(missing.status, 404);
    const hiddenBody = (await hidden.json()) as { error: { message: string } };
    const missingBody = (await missing.json()) as { error: { message: string } };
    assert.equal(hiddenBody.error.message.replace('production_batches', 'X'), missingBody.error.message.replace('nothing_here', 'X'));
    const scanHidden = await api(`${url}/datasets/commercial.production_batches/scan`, 'carlos', { method: 'POST', body: '{"bogus": 1}' });
    assert.equal(scanHidden.status, 404, 'even a malformed scan of a hidden dataset says not found');
  });

  test('snippets load the dataset through the kernel client and hold no secret', async () => {
    for (const [flavour, call] of [['pandas', 'scan_as_pandas'], ['arrow', 'scan_as_arrow'], ['polars', 'scan_as_polars']]) {
      const snippet = (await (await api(`${url}/datasets/${TRIAL}/snippet?flavour=${flavour}`, 'alice')).json()) as { code: string };
      assert.match(snippet.code, new RegExp(`^import warden\\n\\n\\w+ = warden\\.connect\\(\\)\\.${call}\\("${TRIAL}"\\)`));
      assert.doesNotMatch(snippet.code, /token|secret|Bearer/i);
    }
    assert.equal((await api(`${url}/datasets/${TRIAL}/snippet?flavour=excel`, 'alice')).status, 400);
  });
});

describe('scan requests', () => {
  test('projection, filter, order and limit apply to the masked view', async () => {
    const table = await scan(url, 'alice', TRIAL, { columns: ['participant_id', 'site', 'date_of_birth'], filter: "site = 'Site-03' AND date_of_birth >= 1990", orderBy: ['date_of_birth DESC', 'participant_id'], limit: 7 });
    const expected = raw
      .filter(row => row.country === 'US' && row.site === 'Site-03' && Number(String(row.date_of_birth).slice(0, 4)) >= 1990)
      .map(row => ({ participant_id: row.participant_id, site: row.site, date_of_birth: Number(String(row.date_of_birth).slice(0, 4)) }))
      .sort((a, b) => b.date_of_birth - a.date_of_birth || String(a.participant_id).localeCompare(String(b.participant_id)))
      .slice(0, 7);
    assert.deepEqual(rows(table), expected);
  });

  test('a filter on the raw value of a masked column finds nothing', async () => {
    const target = raw.find(row => row.country === 'US')!;
    const table = await scan(url, 'alice', TRIAL, { filter: `ssn = '${target.ssn}'` });
    assert.equal(table.numRows, 0);
  });

  for (const [body, status, code, message] of [
    [{ filter: "country = 'US" }, 400, 'invalid_filter', /unterminated string literal at position 11/],
    [{ filter: 'salary > 1' }, 400, 'unknown_column', /unknown column "salary" in filter/],
    [{ columns: ['ssn', 'nope'] }, 400, 'unknown_column', /unknown column "nope"; available: participant_id, name, ssn/],
    [{ filter: 'country = user.region' }, 400, 'invalid_filter', /user\.\* attributes can only be used in policies/],
    [{ limit: -1 }, 400, 'bad_request', /limit must be a whole number/],
    [{ orderBy: ['site; DROP'] }, 400, 'bad_request', /orderBy entry/],
    [{ rows: 5 }, 400, 'bad_request', /unknown key in scan body: rows/],
    [{ filter: "site > 5" }, 400, 'invalid_filter', /^invalid filter: it compares column "site" \(VARCHAR\) with 5, which is a number: compare values of the column's type \(text\)$/],
    [{ filter: "enrolled_on > 'soon' OR country IN ('US', 1)" }, 400, 'invalid_filter', /^invalid filter: it compares column "enrolled_on" \(DATE\) with 'soon', which is text/],
    [{ filter: 'country > enrolled_on' }, 400, 'invalid_filter', /^invalid filter: it compares column "country" \(VARCHAR\) with column "enrolled_on" \(DATE\), which is a date/],
    // Past the type check, the engine's own refusal: told in Warden's words, never the engine's.
    [{ filter: "enrolled_on > '2020-13-45'" }, 400, 'invalid_filter', /^the filter could not be applied: a value could not be converted to the type it is compared with; compare each column/]
  ] as const) {
    test(`bad scan ${JSON.stringify(body)} -> ${status} ${code}`, async () => {
      const response = await api(`${url}/datasets/${TRIAL}/scan`, 'alice', { method: 'POST', body: JSON.stringify(body) });
      const payload = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(response.status, status);
      assert.equal(payload.error.code, code);
      assert.match(payload.error.message, message);
    });
  }

  test('preview returns the first N enforced rows as Arrow', async () => {
    const response = await api(`${url}/datasets/${TRIAL}/preview?limit=25`, 'alice', { headers: { 'x-warden-client': 'preview', 'x-warden-notebook': 'work/analysis.ipynb' } });
    assert.equal(response.status, 200);
    const reader = RecordBatchReader.from(new Uint8Array(await response.arrayBuffer()));
    const batches = [...reader];
    assert.equal(batches.reduce((sum, batch) => sum + batch.numRows, 0), 25);
    assert.equal((await api(`${url}/datasets/${TRIAL}/preview?limit=abc`, 'alice')).status, 400);
  });
});

describe('identity and audit', () => {
  test('no token or a bad one: 401 with a clear message, audited', async () => {
    const response = await api(`${url}/datasets`, null);
    assert.equal(response.status, 401);
    assert.deepEqual(await response.json(), { error: { code: 'unauthenticated', message: 'missing bearer token: send "Authorization: Bearer <token>"' } });
    const bad = await api(`${url}/whoami`, null, { headers: { authorization: 'Bearer x.y.z' } });
    assert.equal(bad.status, 401);
    const records = auditRecords().filter(record => record.outcome === 'unauthenticated');
    assert.ok(records.some(record => record.reason === 'missing bearer token: send "Authorization: Bearer <token>"'));
  });

  test('whoami: user, groups and attributes from token and directory', async () => {
    assert.deepEqual(await (await api(`${url}/whoami`, 'alice')).json(), { user: 'alice', groups: ['analysts'], attributes: { region: 'US', clearance: 'standard' } });
  });

  test('a scan is audited before release and completed with rows and bytes; client and notebook recorded', async () => {
    const response = await api(`${url}/datasets/${TRIAL}/scan`, 'alice', {
      method: 'POST',
      headers: { 'x-warden-client': 'python-client', 'x-warden-notebook': 'trials/july.ipynb' },
      body: JSON.stringify({ columns: ['participant_id', 'ssn'], limit: 10 })
    });
    const bytes = (await response.arrayBuffer()).byteLength;
    const requestId = response.headers.get('x-warden-request-id');
    // The complete record waits for the connection to say the client took the answer (its next
    // request, its close, or the keep-alive timeout: http/connections.ts).
    await until(() => auditRecords().some(record => record.request_id === requestId && record.event === 'complete'), 'the complete record');
    const records = auditRecords().filter(record => record.request_id === requestId);
    assert.deepEqual(records.map(record => record.event), ['access', 'complete']);
    const [access, complete] = records;
    assert.deepEqual(
      { user: access.user_name, groups: access.groups, client: access.client, notebook: access.notebook, action: access.action, dataset: access.dataset, columns: access.columns, outcome: access.outcome, row_filter: access.row_filter },
      { user: 'alice', groups: 'analysts', client: 'python-client', notebook: 'trials/july.ipynb', action: 'scan', dataset: TRIAL, columns: 'participant_id, ssn', outcome: 'allowed', row_filter: "rows where country = 'US'" }
    );
    assert.match(String(access.policies), /clinical-readers.*analysts-own-region.*ssn-last-four/);
    assert.deepEqual({ outcome: complete.outcome, rows: complete.rows, bytes: complete.bytes }, { outcome: 'completed', rows: 10, bytes });
  });

  test('denied access is recorded as the not-found the caller was told, with the real reason for compliance', async () => {
    await api(`${url}/datasets/commercial.production_batches`, 'carlos');
    const record = auditRecords().filter(r => r.user_name === 'carlos' && r.dataset === 'commercial.production_batches').pop()!;
    assert.deepEqual(
      { outcome: record.outcome, reason: record.reason, actual_outcome: record.actual_outcome, actual_reason: record.actual_reason },
      { outcome: 'not_found', reason: 'dataset "commercial.production_batches" not found', actual_outcome: 'denied', actual_reason: 'denied by policy no-contractors-on-confidential' }
    );
  });

  test('fail closed: when the audit log cannot be written, no data is released', async () => {
    const auditPath = join(demo.out, 'audit/audit.jsonl');
    // Turn the audit file into a directory: the next group commit fails to reopen it.
    renameSync(auditPath, auditPath + '.saved');
    await running.service.audit.close();
    mkdirSync(auditPath);
    try {
      const response = await api(`${url}/datasets/${TRIAL}/scan`, 'pat', { method: 'POST', body: '{}' });
      assert.equal(response.status, 503);
      assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
      const body = (await response.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'audit_unavailable');
    } finally {
      (await import('node:fs')).rmdirSync(auditPath);
      renameSync(auditPath + '.saved', auditPath);
    }
    assert.equal((await api(`${url}/whoami`, 'pat')).status, 200, 'the service recovers when the audit log is writable again');
  });
});
