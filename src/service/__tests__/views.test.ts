/**
 * What the UI shows of a dataset, from the service: pushed view versions (GET /events) that
 * change exactly when a principal's view changes, row counts under the same enforcement,
 * a dataset's default order (newest first for the audit log), previews in a requested
 * order, and the policies that really shaped a view. Real service, real demo lake.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Table, tableFromIPC } from 'apache-arrow';
import { ARROW_META, DatasetDetail, RowCount, VIEW_EVENT, ViewVersions } from '../../common/api';
import { countRows } from '../access/count';
import { AuditTrail } from '../access/trail';
import { decide } from '../policy/decide';
import { RunningService, api, demoLake, rows, scan, startService, token } from './helpers';

const TRIAL = 'drug_xyz.trial_july2020';
const AUDIT = 'warden.audit_log';
type Row = Record<string, unknown>;

let demo: Awaited<ReturnType<typeof demoLake>>;
let running: RunningService;
let raw: Row[];

before(async () => {
  demo = await demoLake(2_000);
  running = await startService(demo.configDir);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  raw = (await connection.runAndReadAll('SELECT * FROM read_parquet($1)', [join(demo.lakeDir, 'drug_xyz/trial_july2020.parquet')])).getRowObjectsJS() as Row[];
  connection.closeSync();
  instance.closeSync();
});

after(async () => {
  await running.close();
  demo.remove();
});

function auditRecords(): Row[] {
  return readFileSync(join(demo.out, 'audit/audit.jsonl'), 'utf8').trim().split('\n').map(line => JSON.parse(line));
}

async function describeAs(user: string, dataset: string): Promise<DatasetDetail> {
  const response = await api(`${running.url}/datasets/${dataset}`, user);
  assert.equal(response.status, 200);
  return (await response.json()) as DatasetDetail;
}

async function previewAs(user: string, dataset: string, query = 'limit=20'): Promise<Table> {
  const response = await api(`${running.url}/datasets/${dataset}/preview?${query}`, user);
  assert.equal(response.status, 200, await response.clone().text());
  return tableFromIPC(new Uint8Array(await response.arrayBuffer()));
}

/** Replaces a policy file the way docs/configuration.md says changes are deployed: write aside, rename over. */
function deploy(name: string, text: string): void {
  const path = join(demo.configDir, 'policies', name);
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** A server-sent event stream, read event by event. */
class EventStream {
  private buffer = '';
  private readonly decoder = new TextDecoder();
  readonly events: { event: string; data: string }[] = [];
  readonly comments: string[] = [];

  private constructor(
    readonly response: Response,
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly abort: AbortController
  ) {}

  static async open(user: string, options: { expiresIn?: string } = {}): Promise<EventStream> {
    const abort = new AbortController();
    const response = await fetch(`${running.url}/events`, {
      headers: { authorization: `Bearer ${await token(user, { expiresIn: options.expiresIn })}`, 'x-warden-client': 'extension' },
      signal: abort.signal
    });
    return new EventStream(response, response.body!.getReader(), abort);
  }

  /** The next `views` event; null if the stream ends first. */
  async nextViews(): Promise<ViewVersions | null> {
    for (;;) {
      const event = this.events.shift();
      if (event) {
        assert.equal(event.event, VIEW_EVENT);
        return JSON.parse(event.data) as ViewVersions;
      }
      if (!(await this.read())) return null;
    }
  }

  /** Reads until the stream ends; false right away if it has. */
  async read(): Promise<boolean> {
    const { done, value } = await this.reader.read();
    if (done) return false;
    this.buffer += this.decoder.decode(value, { stream: true });
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line);
        const colon = line.indexOf(':');
        if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
      }
      if (fields.has('data')) this.events.push({ event: fields.get('event') ?? 'message', data: fields.get('data')! });
    }
    return true;
  }

  close(): void {
    this.abort.abort();
  }
}

describe('pushed view versions', () => {
  test('the first event gives the version of every dataset the principal may see, the same as describe and previews carry', async () => {
    const stream = await EventStream.open('alice');
    try {
      assert.equal(stream.response.status, 200);
      assert.equal(stream.response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
      const views = (await stream.nextViews())!;
      assert.deepEqual(Object.keys(views.datasets).sort(), ['commercial.production_batches', 'drug_abc.trial_jan2022', TRIAL, 'drug_xyz.trial_march2021', AUDIT].sort());
      const detail = await describeAs('alice', TRIAL);
      assert.equal(views.datasets[TRIAL], detail.version);
      assert.match(detail.version, /^[0-9a-f]{16}$/);
      const preview = await previewAs('alice', TRIAL);
      assert.equal(preview.schema.metadata.get(ARROW_META.viewVersion), detail.version);
      // Another principal's view of the same dataset is another version.
      assert.notEqual((await describeAs('carlos', TRIAL)).version, detail.version);
    } finally {
      stream.close();
    }
  });

  test('a policy change pushes new versions for exactly the views it changes; others hear nothing', async () => {
    const alice = await EventStream.open('alice');
    const pat = await EventStream.open('pat');
    try {
      const before = (await alice.nextViews())!;
      const patBefore = (await pat.nextViews())!;
      const masked = await describeAs('alice', TRIAL);
      assert.equal(masked.columns.find(column => column.name === 'ssn')!.effect.access, 'masked');

      // ssn-last-four removed: alice's clinical views change, her commercial one does not.
      const masking = readFileSync(join(demo.configDir, 'policies/masking.yaml'), 'utf8');
      deploy('masking.yaml', masking.replace(/ {2}- name: ssn-last-four\n(?: {4}.*\n)+/, ''));
      await running.service.reload();
      const after = (await alice.nextViews())!;
      const changed = Object.keys(after.datasets).filter(name => after.datasets[name] !== before.datasets[name]);
      assert.deepEqual(changed.sort(), ['drug_abc.trial_jan2022', TRIAL, 'drug_xyz.trial_march2021']);
      const clear = await describeAs('alice', TRIAL);
      assert.equal(clear.version, after.datasets[TRIAL]);
      assert.equal(clear.columns.find(column => column.name === 'ssn')!.effect.access, 'clear');
      assert.ok(!clear.policies.includes('ssn-last-four'));
      const clearRows = rows(await previewAs('alice', TRIAL, 'limit=5'));
      assert.ok(clearRows.every(row => /^\d{3}-\d{2}-\d{4}$/.test(String(row.ssn))), 'the preview shows clear SSNs');

      // Put back: the versions are the earlier ones again (a version is the view, not a counter).
      deploy('masking.yaml', masking);
      await running.service.reload();
      assert.deepEqual(await alice.nextViews(), before);

      // pat (privacy officer) is exempt from ssn-last-four: no event was pushed to him.
      pat.close();
      while (await pat.read().catch(() => false));
      assert.deepEqual(pat.events, []);
      assert.ok(patBefore.datasets[TRIAL]);
    } finally {
      alice.close();
      pat.close();
    }
  });

  test('a dataset that is denied disappears from the versions, and comes back', async () => {
    const stream = await EventStream.open('alice');
    try {
      const before = (await stream.nextViews())!;
      deploy('zz-deny.yaml', 'policies:\n  - name: no-abc-for-alice\n    effect: deny\n    datasets: { names: [drug_abc.*] }\n    principals: { users: [alice] }\n');
      await running.service.reload();
      const denied = (await stream.nextViews())!;
      assert.deepEqual(Object.keys(denied.datasets).sort(), Object.keys(before.datasets).filter(name => name !== 'drug_abc.trial_jan2022').sort());
      rmSync(join(demo.configDir, 'policies/zz-deny.yaml'));
      await running.service.reload();
      assert.deepEqual(await stream.nextViews(), before);
    } finally {
      stream.close();
    }
  });

  test('a stream is audited: access before the first event, complete with the updates sent when the client goes', async () => {
    const stream = await EventStream.open('carlos');
    await stream.nextViews();
    const opened = auditRecords().filter(record => record.action === 'watch' && record.user_name === 'carlos');
    assert.equal(opened.length, 1);
    assert.deepEqual([opened[0].event, opened[0].outcome, opened[0].client, opened[0].rows], ['access', 'allowed', 'extension', 4]);
    stream.close();
    const completed = await waitFor(() => auditRecords().find(record => record.request_id === opened[0].request_id && record.event === 'complete'));
    assert.deepEqual([completed.outcome, completed.rows, completed.reason], ['aborted', 1, 'client disconnected']);
  });

  test('a stream ends when its credential expires, with heartbeats until then', async () => {
    const stream = await EventStream.open('alice', { expiresIn: '8s' });
    await stream.nextViews();
    while (await stream.read());
    assert.ok(stream.comments.includes(': heartbeat'), 'a heartbeat came before the end');
    // The complete record is written once the end reached the client: wait for it.
    const record = await waitFor(() => auditRecords().find(record => record.action === 'watch' && record.event === 'complete' && record.outcome === 'completed'));
    assert.match(String(record.reason), /^credential no longer valid: /);
  });

  test('a request for events without a credential is refused', async () => {
    const response = await api(`${running.url}/events`, null);
    assert.equal(response.status, 401);
  });
});

describe('row counts', () => {
  test('the count is what the row filters let through, and is audited with it', async () => {
    const response = await api(`${running.url}/datasets/${TRIAL}/count`, 'alice');
    const count = (await response.json()) as RowCount;
    const us = raw.filter(row => row.country === 'US').length;
    assert.deepEqual(count, { dataset: TRIAL, rows: us, capped: false });
    const record = auditRecords().filter(record => record.action === 'count').at(-1)!;
    assert.deepEqual([record.user_name, record.outcome, record.rows, record.row_filter], ['alice', 'allowed', us, "rows where country = 'US'"]);
    assert.equal(((await (await api(`${running.url}/datasets/${TRIAL}/count`, 'pat')).json()) as RowCount).rows, raw.length);
    // A dataset the caller may not see does not exist for a count either.
    assert.equal((await api(`${running.url}/datasets/commercial.production_batches/count`, 'carlos')).status, 404);
  });

  test('counting stops at the limit and says so', async () => {
    const state = running.service.enforcement;
    const dataset = state.catalog.get(TRIAL)!;
    const principal = { user: 'pat', groups: ['privacy-officers'], attributes: {} };
    const trail = new AuditTrail(running.service.audit, running.service.access.completions, { requestId: 'count-limit', client: 'api', notebook: null }, 'count', TRIAL, principal);
    const count = await countRows(trail, dataset, decide(principal, dataset.facts, state.policies), 'count-limit', 100);
    assert.deepEqual(count, { dataset: TRIAL, rows: 100, capped: true });
  });
});

describe('row order', () => {
  test('the audit log reads newest first by default; an explicit order wins', async () => {
    const detail = await describeAs('cora', AUDIT);
    assert.deepEqual(detail.defaultOrder, ['time DESC']);
    const times = (table: Table) => rows(table).map(row => Number(row.time));
    const newest = times(await previewAs('cora', AUDIT, 'limit=20'));
    assert.equal(newest.length, 20);
    assert.deepEqual(newest, [...newest].sort((a, b) => b - a));
    const scanned = times(await scan(running.url, 'cora', AUDIT, { columns: ['time'], limit: 20, orderBy: ['time'] }));
    assert.deepEqual(scanned, [...scanned].sort((a, b) => a - b));
    assert.ok(scanned[0] < newest[0]);
    // Datasets without a default order say so.
    assert.deepEqual((await describeAs('alice', TRIAL)).defaultOrder, []);
  });

  test('a preview can be sorted on the masked view; a bad order entry is a clear 400', async () => {
    const sorted = rows(await previewAs('alice', TRIAL, `limit=10&orderBy=${encodeURIComponent('ssn DESC')}&orderBy=participant_id`));
    const expected = raw
      .filter(row => row.country === 'US')
      .map(row => ({ id: row.participant_id, ssn: `*******${String(row.ssn).slice(-4)}` }))
      .sort((a, b) => (a.ssn < b.ssn ? 1 : a.ssn > b.ssn ? -1 : String(a.id).localeCompare(String(b.id))))
      .slice(0, 10);
    assert.deepEqual(
      sorted.map(row => ({ id: row.participant_id, ssn: row.ssn })),
      expected
    );
    const bad = await api(`${running.url}/datasets/${TRIAL}/preview?orderBy=${encodeURIComponent('ssn; DROP')}`, 'alice');
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), { error: { code: 'bad_request', message: 'orderBy entry "ssn; DROP" must be a column name, optionally followed by ASC or DESC' } });
    const hidden = await api(`${running.url}/datasets/${TRIAL}/preview?orderBy=ssn`, 'carlos');
    assert.equal(hidden.status, 400);
    assert.equal(((await hidden.json()) as { error: { code: string } }).error.code, 'unknown_column');
  });
});

test('a view lists only the policies that shaped it: not masks that hiding made moot', async () => {
  const detail = await describeAs('carlos', TRIAL);
  assert.deepEqual(detail.policies, ['clinical-readers', 'contractors-no-pii', 'contractors-tokenized-ids', 'blinded-placebo-events']);
  const preview = await previewAs('carlos', TRIAL);
  assert.deepEqual(JSON.parse(preview.schema.metadata.get(ARROW_META.policies)!), detail.policies);
});

async function waitFor<T>(find: () => T | undefined): Promise<T> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const found = find();
    if (found !== undefined) return found;
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  throw new Error('not found in time');
}
