/**
 * The access pipeline without any transport: the real service (DuckDB on the demo lake) with
 * an audit sink and a result sink that record, on one timeline, what happens in which order.
 * What holds here holds for every transport, since they all call the same pipeline.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordBatch, Schema } from 'apache-arrow';
import { Call, newCall } from '../access/call';
import { AccessError, InvalidInput } from '../access/errors';
import { AccessGateway, Authenticated } from '../access/gateway';
import { Delivery, ResultSink } from '../access/sink';
import { AuditSink, AuditUnavailableError } from '../audit/log';
import { AuditRecord } from '../audit/record';
import { WardenService } from '../service';
import { demoLake, quietLogger, token } from './helpers';

const TRIAL = 'drug_xyz.trial_july2020';
const ROWS = 80_000;

let demo: Awaited<ReturnType<typeof demoLake>>;
let service: WardenService;

before(async () => {
  demo = await demoLake(ROWS);
  service = await WardenService.start(demo.configDir, quietLogger);
});

after(async () => {
  await service.close();
  demo.remove();
});

/** What happened, in order: audit records and what the transport was asked to do. */
type Step = string;

class RecordingAudit implements AuditSink {
  readonly records: AuditRecord[] = [];
  failing = false;

  constructor(private readonly timeline: Step[]) {}

  async write(record: AuditRecord): Promise<void> {
    // Durable only once this resolves: the step goes on the timeline then.
    await new Promise(resolve => setImmediate(resolve));
    if (this.failing) throw new AuditUnavailableError('disk full');
    this.records.push(record);
    this.timeline.push(`audit ${record.event} ${record.outcome}`);
  }

  async ready(): Promise<void> {
    if (this.failing) throw new AuditUnavailableError('disk full');
  }

  async close(): Promise<void> {}
}

/**
 * How the "client" behaves: goes away after N batches, makes the transport fail after N, has
 * only the first N batches flushed to it (the rest stay queued), or does not take the end.
 */
interface Behaviour {
  leaveAfter?: number;
  failAfter?: number;
  flushedBatches?: number;
  untaken?: boolean;
}

class RecordingSink implements ResultSink {
  private readonly gone = new AbortController();
  readonly closed = this.gone.signal;
  readonly batches: RecordBatch[] = [];
  schema?: Schema;
  private delivery?: Delivery;
  /** Bytes this "transport" says it delivered: 1,000 per batch, 10 for the schema and the end. */
  delivered = 0;

  constructor(
    private readonly timeline: Step[],
    private readonly behaviour: Behaviour = {}
  ) {}

  open(schema: Schema, delivery: Delivery): void {
    this.timeline.push('open');
    this.schema = schema;
    this.delivery = delivery;
    this.deliver(10);
  }

  async write(batch: RecordBatch): Promise<void> {
    if (this.batches.length === this.behaviour.failAfter) throw new Error('socket reset');
    this.timeline.push('write');
    this.batches.push(batch);
    if (this.batches.length <= (this.behaviour.flushedBatches ?? Infinity)) this.deliver(1000, batch.numRows);
    if (this.batches.length === this.behaviour.leaveAfter) this.gone.abort();
  }

  async end(): Promise<boolean> {
    this.timeline.push('end');
    if (this.behaviour.untaken) return false;
    this.deliver(10);
    return true;
  }

  cut(): void {
    this.timeline.push('cut');
  }

  pendingBytes(): number {
    return 0;
  }

  private deliver(bytes: number, rows = 0): void {
    this.delivered += bytes;
    this.delivery!.delivered(bytes, rows);
  }
}

function setUp(behaviour: Behaviour = {}) {
  const timeline: Step[] = [];
  const audit = new RecordingAudit(timeline);
  const sink = new RecordingSink(timeline, behaviour);
  const access = new AccessGateway(() => service.enforcement, audit, service.events);
  return { timeline, audit, sink, access };
}

async function principal(access: AccessGateway, call: Call, user: string): Promise<Authenticated> {
  return access.authenticate(call, null, `Bearer ${await token(user)}`);
}

/** The timeline with runs of writes collapsed: `write x3`. */
function collapsed(timeline: Step[]): Step[] {
  const out: Step[] = [];
  for (const step of timeline) {
    const last = out[out.length - 1];
    const match = last && /^write( x(\d+))?$/.exec(last);
    if (step === 'write' && match) out[out.length - 1] = `write x${Number(match[2] ?? 1) + 1}`;
    else out.push(step);
  }
  return out;
}

const rowCount = (batches: RecordBatch[]) => batches.reduce((sum, batch) => sum + batch.numRows, 0);

describe('reading rows', () => {
  test('the access record is durable before the answer opens; the complete record counts what was delivered', async () => {
    const { timeline, audit, sink, access } = setUp();
    const call = newCall('python-client', 'work.ipynb');
    // Every column (about 11 MB): several batches on either DuckDB-to-Arrow path (the native one cuts them at 4 MB).
    await access.scan(call, await principal(access, call, 'pat'), TRIAL, {}, sink);
    assert.ok(sink.batches.length > 1, 'several batches');
    assert.deepEqual(collapsed(timeline), ['audit access allowed', 'open', `write x${sink.batches.length}`, 'end', 'audit complete completed']);
    const [, complete] = audit.records;
    assert.deepEqual(
      { rows: complete.rows, bytes: complete.bytes, columns: complete.columns, client: complete.client, notebook: complete.notebook },
      { rows: ROWS, bytes: sink.delivered, columns: 'participant_id, name, ssn, date_of_birth, email, country, site, arm, outcome, adverse_events, enrolled_on', client: 'python-client', notebook: 'work.ipynb' }
    );
    assert.equal(rowCount(sink.batches), ROWS);
  });

  test('when the audit log cannot be written, nothing is released', async () => {
    const { timeline, audit, sink, access } = setUp();
    const call = newCall(undefined, undefined);
    const pat = await principal(access, call, 'pat');
    audit.failing = true;
    await assert.rejects(access.scan(call, pat, TRIAL, {}, sink), (error: unknown) => error instanceof AccessError && error.code === 'audit_unavailable');
    await assert.rejects(access.preview(call, pat, TRIAL, '5', sink), (error: unknown) => error instanceof AccessError && error.code === 'audit_unavailable');
    await assert.rejects(access.describe(call, pat, TRIAL), (error: unknown) => error instanceof AccessError && error.code === 'audit_unavailable');
    assert.deepEqual(timeline, []);
    assert.equal(sink.schema, undefined);
  });

  test('a filter comparing values of other types is refused before the engine runs, naming the column', async () => {
    const { timeline, audit, sink, access } = setUp();
    const call = newCall(undefined, undefined);
    await assert.rejects(
      access.scan(call, await principal(access, call, 'alice'), TRIAL, { filter: 'site > 5' }, sink),
      (error: unknown) => error instanceof AccessError && error.code === 'invalid_filter' && /compares column "site" \(VARCHAR\) with 5/.test(error.message)
    );
    assert.deepEqual(timeline, ['audit access invalid']);
    assert.equal(audit.records[0].caller_filter, 'site > 5');
  });

  test('a query the engine refuses is audited and answered in Warden\'s words before anything opens; the engine\'s only for compliance', async () => {
    const { timeline, audit, sink, access } = setUp();
    const call = newCall(undefined, undefined);
    await assert.rejects(
      access.scan(call, await principal(access, call, 'alice'), TRIAL, { filter: "enrolled_on > '2020-13-45'" }, sink),
      (error: unknown) => error instanceof AccessError && error.code === 'invalid_filter' && /^the filter could not be applied/.test(error.message)
    );
    assert.deepEqual(timeline, ['audit access invalid']);
    const [record] = audit.records;
    assert.match(String(record.reason), /^the filter could not be applied/);
    assert.match(String(record.actual_reason), /^Conversion Error: /);
  });

  test('a client that goes away stops the query; the complete record says aborted, with what it got', async () => {
    const { timeline, audit, sink, access } = setUp({ leaveAfter: 1 });
    const call = newCall(undefined, undefined);
    await access.scan(call, await principal(access, call, 'pat'), TRIAL, {}, sink);
    assert.deepEqual(timeline, ['audit access allowed', 'open', 'write', 'cut', 'audit complete aborted']);
    const complete = audit.records[1];
    assert.deepEqual({ rows: complete.rows, bytes: complete.bytes, reason: complete.reason }, { rows: sink.batches[0].numRows, bytes: 1010, reason: 'client disconnected' });
  });

  test('an answer the client did not take whole is aborted, with the rows and bytes that left the service', async () => {
    const { timeline, audit, sink, access } = setUp({ flushedBatches: 1, untaken: true });
    const call = newCall(undefined, undefined);
    await access.scan(call, await principal(access, call, 'pat'), TRIAL, {}, sink);
    assert.ok(sink.batches.length > 1);
    assert.deepEqual(collapsed(timeline), ['audit access allowed', 'open', `write x${sink.batches.length}`, 'end', 'audit complete aborted']);
    const complete = audit.records[1];
    assert.deepEqual(
      { rows: complete.rows, bytes: complete.bytes, reason: complete.reason },
      { rows: sink.batches[0].numRows, bytes: 1010, reason: 'the client went away before it took the whole answer' }
    );
  });

  test('a stream that ends while the audit sink is down keeps its complete record and writes it when the sink is back', async () => {
    const { timeline, audit, access } = setUp();
    // The sink fails from the end of the stream on: the access record went through, the complete one cannot.
    const sink = new (class extends RecordingSink {
      override async end(): Promise<boolean> {
        audit.failing = true;
        return super.end();
      }
    })(timeline);
    const call = newCall(undefined, undefined);
    await access.scan(call, await principal(access, call, 'pat'), TRIAL, { limit: 10 }, sink);
    assert.deepEqual(audit.records.map(record => record.event), ['access']);
    assert.equal(access.completions.size, 1);
    assert.equal(await access.completions.flush(), 1, 'still down: kept');
    audit.failing = false;
    assert.equal(await access.completions.flush(), 0);
    assert.deepEqual(
      audit.records.map(record => [record.event, record.outcome, record.rows]),
      [
        ['access', 'allowed', null],
        ['complete', 'completed', 10]
      ]
    );
  });

  test('a stream that fails after it opened is cut, never ended as if complete', async () => {
    const { timeline, audit, sink, access } = setUp({ failAfter: 1 });
    const call = newCall(undefined, undefined);
    await access.scan(call, await principal(access, call, 'pat'), TRIAL, {}, sink);
    assert.deepEqual(timeline, ['audit access allowed', 'open', 'write', 'cut', 'audit complete aborted']);
    assert.deepEqual([audit.records[1].reason, audit.records[1].actual_reason], ['the connection to the client failed', 'socket reset']);
  });
});

describe('authorization', () => {
  test('a dataset the caller may not see is not found, recorded as told; the compliance-only fields have the true reason', async () => {
    const { timeline, audit, sink, access } = setUp();
    const call = newCall(undefined, undefined);
    const carlos = await principal(access, call, 'carlos');
    await assert.rejects(access.scan(call, carlos, 'commercial.production_batches', {}, sink), (error: unknown) => error instanceof AccessError && error.code === 'not_found');
    assert.deepEqual(timeline, ['audit access not_found']);
    const [record] = audit.records;
    assert.deepEqual(
      [record.reason, record.actual_outcome, record.actual_reason],
      ['dataset "commercial.production_batches" not found', 'denied', 'denied by policy no-contractors-on-confidential']
    );
  });

  test('a malformed request for a dataset the caller may not see is not found too, not a bad request', async () => {
    const { access, sink } = setUp();
    const call = newCall(undefined, undefined);
    const carlos = await principal(access, call, 'carlos');
    await assert.rejects(access.scan(call, carlos, 'commercial.production_batches', { rows: 5 }, sink), (error: unknown) => error instanceof AccessError && error.code === 'not_found');
    await assert.rejects(access.scan(call, carlos, TRIAL, { rows: 5 }, sink), (error: unknown) => error instanceof AccessError && error.code === 'bad_request' && /unknown key in scan body: rows/.test(error.message));
  });

  test('malformed input for a dataset the caller may see is refused as invalid, and audited: a scan body, a preview limit, a snippet flavour, what the transport could not read', async () => {
    const { timeline, audit, sink, access } = setUp();
    const carlos = await principal(access, newCall(undefined, undefined), 'carlos');
    const refusals: [string, (call: Call) => Promise<unknown>][] = [
      ['bad_request', call => access.scan(call, carlos, TRIAL, { rows: 5 }, sink)],
      ['invalid_filter', call => access.scan(call, carlos, TRIAL, { filter: "site = 'x" }, sink)],
      ['bad_request', call => access.preview(call, carlos, TRIAL, 'ten', sink)],
      ['bad_request', call => access.snippet(call, carlos, TRIAL, 'excel')],
      [
        'bad_request',
        call => {
          call.malformed = new InvalidInput('bad_request', 'the notebook header is not valid percent-encoding');
          return access.whoami(call, carlos);
        }
      ]
    ];
    for (const [code, refused] of refusals) {
      await assert.rejects(refused(newCall(undefined, undefined)), (error: unknown) => error instanceof InvalidInput && error.code === code);
    }
    assert.deepEqual(timeline, refusals.map(() => 'audit access invalid'));
    assert.deepEqual(
      audit.records.map(record => [record.action, record.user_name, record.caller_filter]),
      [
        ['scan', 'carlos', null],
        ['scan', 'carlos', "site = 'x"],
        ['preview', 'carlos', null],
        ['snippet', 'carlos', null],
        ['whoami', 'carlos', null]
      ]
    );
    assert.match(audit.records[3].reason!, /flavour must be one of pandas, arrow, polars, got "excel"/);
  });

  test('a bad credential is refused and audited, before any dataset is looked at', async () => {
    const { timeline, audit, access } = setUp();
    await assert.rejects(access.authenticate(newCall(undefined, undefined), TRIAL, 'Bearer x.y.z'), (error: unknown) => error instanceof AccessError && error.code === 'unauthenticated');
    assert.deepEqual(timeline, ['audit access unauthenticated']);
    assert.deepEqual({ action: audit.records[0].action, dataset: audit.records[0].dataset }, { action: 'authenticate', dataset: TRIAL });
  });

  test('no operation runs for a principal the gateway did not authenticate (a transport cannot make one up)', async () => {
    const { timeline, sink, access } = setUp();
    const call = newCall(undefined, undefined);
    const forged = { principal: { user: 'nobody', groups: ['privacy-officers'], attributes: {} } } as unknown as Authenticated;
    await assert.rejects(access.scan(call, forged, TRIAL, {}, sink), (error: unknown) => error instanceof AccessError && error.code === 'unauthenticated');
    await assert.rejects(access.whoami(call, forged), (error: unknown) => error instanceof AccessError && error.code === 'unauthenticated');
    assert.deepEqual(timeline, []);
    // An authenticated caller's principal cannot be changed after the fact either.
    const pat = await principal(access, call, 'pat');
    assert.throws(() => (pat.principal.groups as string[]).push('compliance'));
  });
});
