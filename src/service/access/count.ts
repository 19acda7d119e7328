/**
 * How many rows a principal may see of a dataset: counted by the engine under the same row
 * filters as a read, up to ROW_COUNT_LIMIT, and audited (the count is information too) before
 * it is released.
 */
import { ROW_COUNT_LIMIT, RowCount } from '../../common/api';
import { CatalogDataset } from '../catalog/catalog';
import { CompiledScan, compileCount } from '../engine/compile';
import { SourceError } from '../engine/engine';
import { Decision } from '../policy/decide';
import { rowFilterInfo } from './detail';
import { engineRefusal, unsafeSource } from './errors';
import { AuditTrail } from './trail';

export async function countRows(trail: AuditTrail, dataset: CatalogDataset, decision: Decision, requestId: string, limit = ROW_COUNT_LIMIT): Promise<RowCount> {
  const { engine, config } = dataset;
  const details = { policies: decision.policies.join(', '), row_filter: rowFilterInfo(decision)?.description ?? null };
  let compiled: CompiledScan;
  try {
    // One more than the limit tells "exactly the limit" from "more".
    compiled = compileCount(decision, dataset.columns, engine.dialect, limit + 1, params => engine.relation(config.source, params));
  } catch (error) {
    if (!(error instanceof SourceError)) throw error;
    // As for reads (./read.ts): the caller learns no more than that; compliance gets the reason.
    const refused = unsafeSource();
    await trail.access('error', { ...details, reason: refused.message, actual_reason: error.message });
    throw refused;
  }
  let counted: number;
  try {
    const result = await engine.stream(compiled, new Map());
    let value: unknown = 0;
    // Read to the end: the engine releases its connection when the batches are done.
    for await (const batch of result.batches) {
      if (batch.numRows > 0) value = batch.getChildAt(0)!.get(0);
    }
    counted = Number(value);
  } catch (error) {
    const failure = engine.diagnose(error);
    const refusal = engineRefusal(failure, false, requestId);
    await trail.access('error', { ...details, reason: refusal.message, actual_reason: failure.detail });
    throw refusal;
  }
  const capped = counted > limit;
  const rows = Math.min(counted, limit);
  await trail.access('allowed', { ...details, rows });
  return { dataset: config.name, rows, capped };
}
