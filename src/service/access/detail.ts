/** What a principal gets of a dataset, in words and types: the `describe` answer. */
import { createHash } from 'node:crypto';
import { DatasetDetail, RowFilterInfo } from '../../common/api';
import { OrderKey, formatOrderKey } from '../../common/order';
import { CatalogDataset, summarise } from '../catalog/catalog';
import { outputColumns } from '../engine/compile';
import { Decision } from '../policy/decide';
import { describeExpression } from '../policy/describe';

export function rowFilterInfo(decision: Decision): RowFilterInfo | null {
  if (decision.rowFilters.length === 0) return null;
  const parts = decision.rowFilters.map(filter => describeExpression(filter.expr));
  return {
    policies: decision.rowFilters.map(filter => filter.policy),
    description: `rows where ${parts.length > 1 ? parts.map(part => `(${part})`).join(' AND ') : parts[0]}`
  };
}

/** The dataset's default order as it applies to this principal: keys on columns they do not receive are left out. */
export function defaultOrder(dataset: CatalogDataset, decision: Decision): OrderKey[] {
  const hidden = new Set(decision.columns.filter(column => column.mask?.type === 'hide').map(column => column.name));
  return dataset.config.orderBy.filter(key => !hidden.has(key.column));
}

export function datasetDetail(dataset: CatalogDataset, decision: Decision): DatasetDetail {
  const received = new Map(outputColumns(decision, dataset.columns, dataset.engine.dialect).map(column => [column.name, column]));
  const effects = new Map(decision.columns.map(column => [column.name, column.effect]));
  const detail: Omit<DatasetDetail, 'version'> = {
    ...summarise(dataset, decision),
    columns: dataset.columns.map(column => ({
      name: column.name,
      type: received.get(column.name)?.type ?? column.type,
      sourceType: column.type,
      description: column.description,
      tags: column.tags,
      effect: effects.get(column.name)!
    })),
    rowFilter: rowFilterInfo(decision),
    policies: decision.policies,
    defaultOrder: defaultOrder(dataset, decision).map(formatOrderKey)
  };
  // The view's identity is its whole description: any change a principal could notice changes it.
  const version = createHash('sha256').update(JSON.stringify(detail)).digest('hex').slice(0, 16);
  return { ...detail, version };
}
