/**
 * Reading rows, the one order every transport gets: compile the decision with the caller's
 * plan, run the query up to its first batch, write the `access` record, and only once it is
 * durable open the answer and release the batches; then the `complete` record.
 *
 * Each concern has one place: what engine errors tell callers (./errors.ts), the records
 * (./trail.ts: a `complete` that cannot be written is where pending completions would queue),
 * the bytes delivered (counted by the transport through `Delivery`), and the start of a query
 * (`admission.stream` below: it waits for room, refuses, or starts the engine's query).
 */
import type { RecordBatch } from 'apache-arrow';
import { ARROW_META, Principal } from '../../common/api';
import { CatalogDataset } from '../catalog/catalog';
import { CompiledScan, PlanError, ScanPlan, compileScan } from '../engine/compile';
import { MaskKeys } from '../engine/dialect';
import { ArrowResult, SourceError, errorText } from '../engine/engine';
import { Decision } from '../policy/decide';
import { Admission, OverloadedError, StalledClientError } from './admission';
import { datasetDetail, defaultOrder, rowFilterInfo } from './detail';
import { AccessError, engineRefusal, unsafeSource } from './errors';
import { EventLog } from './log';
import { ReadRequest } from './requests';
import { ResultSink } from './sink';
import { AuditDetails, AuditTrail } from './trail';

/** The scan in the SQL of the engine that reads the dataset; without an order of its own, in the dataset's. */
export function compileRead(dataset: CatalogDataset, decision: Decision, plan: ScanPlan, keys: MaskKeys): CompiledScan {
  const { engine, config } = dataset;
  const ordered = plan.orderBy ? plan : { ...plan, orderBy: defaultOrder(dataset, decision) };
  return compileScan(decision, dataset.columns, ordered, engine.dialect, keys, params => engine.relation(config.source, params));
}

/** What a read needs of the service around it. */
export interface ReadContext {
  events: EventLog;
  /** True once the service is stopping: a stream cut then was cut by the stop, not by its client. */
  stopping(): boolean;
  /** What the read may take of the service, and who asks (a user's share of the stream buffers). */
  admission: Admission;
  principal: Principal;
}

/** Reads an authorized dataset's rows into `sink`; refusals before the first byte throw AccessError. */
export async function readRows(
  trail: AuditTrail,
  dataset: CatalogDataset,
  decision: Decision,
  request: ReadRequest,
  keys: MaskKeys,
  sink: ResultSink,
  context: ReadContext
): Promise<void> {
  const { events, admission, principal } = context;
  const { requestId } = trail;
  const rowFilter = rowFilterInfo(decision)?.description ?? null;
  const details: AuditDetails = { policies: decision.policies.join(', '), row_filter: rowFilter, caller_filter: request.filterText };
  let compiled: CompiledScan;
  try {
    compiled = compileRead(dataset, decision, request.plan, keys);
  } catch (error) {
    if (error instanceof SourceError) {
      // Opening the source was refused (a file replaced by a symbolic link since load): the
      // caller is told no more than that, compliance gets the engine's reason.
      const refused = unsafeSource();
      await trail.access('error', { ...details, reason: refused.message, actual_reason: error.message });
      throw refused;
    }
    if (!(error instanceof PlanError)) throw error;
    await trail.access('invalid', { ...details, reason: error.message });
    throw new AccessError(error.code, error.message);
  }
  const metadata = new Map<string, string>([
    [ARROW_META.policies, JSON.stringify(decision.policies)],
    [ARROW_META.requestId, requestId],
    [ARROW_META.viewVersion, datasetDetail(dataset, decision).version]
  ]);
  if (rowFilter) metadata.set(ARROW_META.rowFilter, rowFilter);

  const failed = (error: unknown) => {
    const failure = dataset.engine.diagnose(error);
    // The engine's words, for the operator: never to the caller (./errors.ts).
    events.error('engine_error', { code: failure.kind, request_id: requestId, dataset: dataset.config.name, detail: failure.detail });
    return { refusal: engineRefusal(failure, request.filterText !== null, requestId), detail: failure.detail };
  };

  // Run the query up to its first batch before answering, so that errors in the caller's
  // filter (a type mismatch, say) come back as a clean refusal rather than a cut stream.
  let result: ArrowResult | undefined;
  let batches: AsyncIterator<RecordBatch> | undefined;
  let first: IteratorResult<RecordBatch>;
  try {
    result = await admission.stream(trail, details, principal, dataset.engine, compiled, metadata, sink.closed);
    batches = result.batches[Symbol.asyncIterator]();
    first = await batches.next();
  } catch (error) {
    result?.cancel();
    await batches?.return?.();
    // Refused for lack of room: audited as such by admission.
    if (error instanceof OverloadedError) throw error;
    const { refusal, detail } = failed(error);
    await trail.access(refusal.code === 'invalid_filter' ? 'invalid' : 'error', { ...details, reason: refusal.message, actual_reason: detail });
    throw refusal;
  }

  details.columns = compiled.columns
    .filter(column => column.indicatorFor === undefined)
    .map(column => column.name)
    .join(', ');
  try {
    await trail.access('allowed', details);
  } catch (error) {
    result.cancel();
    await batches.return?.();
    throw error;
  }
  await release(trail, details, result, batches, first, admission.watch(sink), failed, context);
}

/** Hands the batches to the sink as it takes them, then writes what was delivered. */
async function release(
  trail: AuditTrail,
  details: AuditDetails,
  result: ArrowResult,
  batches: AsyncIterator<RecordBatch>,
  first: IteratorResult<RecordBatch>,
  sink: ResultSink,
  failed: (error: unknown) => { refusal: AccessError; detail: string },
  context: ReadContext
): Promise<void> {
  let rows = 0;
  let bytes = 0;
  // Why the rows stopped short, as the caller may read it in their own records, and the truth.
  let stopped: { reason: string; detail: string } | undefined;
  const stop = () => result.cancel();
  sink.closed.addEventListener('abort', stop, { once: true });
  try {
    sink.open(result.schema, {
      delivered: (moreBytes, moreRows) => {
        bytes += moreBytes;
        rows += moreRows;
      }
    });
    for (let next = first; !next.done && !sink.closed.aborted; ) {
      await sink.write(next.value);
      try {
        next = await batches.next();
      } catch (error) {
        const { refusal, detail } = failed(error);
        stopped = { reason: refusal.message, detail };
        break;
      }
    }
  } catch (error) {
    stopped = clientFailure(error);
  } finally {
    sink.closed.removeEventListener('abort', stop);
    await batches.return?.();
  }
  // The end of the answer goes out only after every batch: one cut short must not look complete.
  if (!stopped && !sink.closed.aborted) {
    const taken = await sink.end().catch(error => {
      stopped = clientFailure(error);
      return true;
    });
    if (!taken) stopped = { reason: 'the client went away before it took the whole answer', detail: 'the connection closed or was reset before the client took the whole answer' };
  } else {
    sink.cut();
  }
  const whole = !stopped && !sink.closed.aborted;
  const cut = context.stopping() ? 'the service stopped while the stream was running' : 'client disconnected';
  const reason = stopped?.reason ?? (whole ? null : cut);
  await trail.complete(whole ? 'completed' : 'aborted', { ...details, rows, bytes, reason, actual_reason: stopped?.detail ?? reason });
}

/** Why the client's side of a stream failed: it stopped taking data (admission cut it), or the connection failed. */
function clientFailure(error: unknown): { reason: string; detail: string } {
  if (error instanceof StalledClientError) return { reason: error.message, detail: error.message };
  return { reason: 'the connection to the client failed', detail: errorText(error) };
}
