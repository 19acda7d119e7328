import type { TranslationBundle } from '@jupyterlab/translation';
import { VDomRenderer } from '@jupyterlab/ui-components';
import React from 'react';

import type { ColumnDetail, DatasetDetail, RowCount } from '../../../common/api';
import { parseOrderKey, type OrderKey } from '../../../common/order';
import { AccessBadge, CellMaskBadge } from '../../components/AccessBadge';
import { ErrorMessage, StateMessage } from '../../components/StateMessage';
import { ViewUpdateNotice } from '../../components/ViewUpdate';
import { cellMaskWords, orderWords } from '../../words';
import type { ArrowDataModel } from './datamodel';
import type { PreviewModel } from './model';

/** Above the grid: how many rows, in which order, which row filter, which policies, which masks. */
export class PreviewHeader extends VDomRenderer<PreviewModel> {
  constructor(
    model: PreviewModel,
    trans: TranslationBundle,
    close: () => void
  ) {
    super(model);
    this._trans = trans;
    this._close = close;
    this.addClass('jp-warden-preview-header');
  }

  protected render(): JSX.Element {
    const { model } = this;
    const trans = this._trans;
    // Not shared (any more): an ordinary state after a policy change, said calmly; the
    // preview comes back by itself if a policy shares the dataset again.
    const unshared = model.unshared;
    if (unshared) {
      return (
        <StateMessage
          state="empty"
          message={
            unshared === 'revoked'
              ? trans.__(
                  'You no longer have access to %1: a policy change removed it.',
                  model.dataset
                )
              : trans.__('You do not have access to %1.', model.dataset)
          }
          reason={trans.__(
            'This preview shows it again if a policy shares it with you.'
          )}
          action={{ label: trans.__('Close'), onClick: this._close }}
        />
      );
    }
    if (model.status === 'error' && model.error) {
      return (
        <ErrorMessage
          message={trans.__(
            'The preview of %1 could not be loaded.',
            model.dataset
          )}
          error={model.error}
          trans={trans}
          retry={() => void model.load()}
        />
      );
    }
    const { dataModel, info, detail } = model;
    if (!dataModel || !info || !detail) {
      return (
        <StateMessage
          state="loading"
          message={trans.__('Loading the preview of %1…', model.dataset)}
        />
      );
    }
    const rows = dataModel.rowCount('body');
    const masked = detail.columns.filter(c => c.effect.access === 'masked');
    const cellMasked = detail.columns.filter(
      c => c.effect.access !== 'hidden' && c.effect.cellMasks.length > 0
    );
    const hidden = detail.columns.filter(c => c.effect.access === 'hidden');
    return (
      <div
        className="jp-warden-preview-summary"
        data-warden-rows={rows}
        data-warden-version={info.viewVersion ?? undefined}
        data-warden-masked-columns={masked.map(c => c.name).join(',')}
        data-warden-cell-masked-columns={cellMasked.map(c => c.name).join(',')}
        data-warden-hidden-columns={hidden.map(c => c.name).join(',')}
      >
        <div className="jp-warden-preview-title">
          <span className="jp-warden-preview-name">{model.dataset}</span>
          <span className="jp-warden-preview-rows">
            {rowsLine(rows, model.limit, model.count, trans)}
            {model.status === 'loading' && ` · ${trans.__('refreshing…')}`}
          </span>
        </div>
        {model.lastChange && (
          <ViewUpdateNotice update={model.lastChange} trans={trans} />
        )}
        <div className="jp-warden-preview-order">
          {orderLine(model.sort, detail, trans)}
        </div>
        <div className="jp-warden-preview-row-filter">
          {info.rowFilter
            ? trans.__('Row filter: %1', info.rowFilter)
            : trans.__('No row filter applies.')}
        </div>
        {info.policies.length > 0 && (
          <div className="jp-warden-preview-policies">
            {trans.__('Policies applied:')}{' '}
            {info.policies.map(policy => (
              <span
                key={policy}
                className="jp-warden-policy"
                data-warden-policy={policy}
              >
                {policy}
              </span>
            ))}
          </div>
        )}
        <Legend
          masked={masked}
          cellMasked={cellMasked}
          hidden={hidden}
          dataModel={dataModel}
          trans={trans}
        />
        {info.requestId && (
          <div className="jp-warden-preview-request">
            {trans.__('Audit request id: %1', info.requestId)}
          </div>
        )}
      </div>
    );
  }

  private _trans: TranslationBundle;
  private _close: () => void;
}

/** "first 100 of 1,234 rows you may see", or as much of it as is known. */
function rowsLine(
  rows: number,
  limit: number,
  count: RowCount | null,
  trans: TranslationBundle
): string {
  const number = (value: number) => value.toLocaleString();
  if (!count) {
    return rows >= limit
      ? trans.__('first %1 rows you may see', number(rows))
      : trans._n('%2 row you may see', '%2 rows you may see', rows, number(rows));
  }
  if (count.capped) {
    return trans.__(
      'first %1 of more than %2 rows you may see',
      number(rows),
      number(count.rows)
    );
  }
  if (rows < count.rows) {
    return trans.__(
      'first %1 of %2 rows you may see',
      number(rows),
      number(count.rows)
    );
  }
  return trans._n(
    'the only row you may see',
    'all %2 rows you may see',
    count.rows,
    number(count.rows)
  );
}

/** In which order the rows are, and how to change it. */
function orderLine(
  sort: OrderKey | null,
  detail: DatasetDetail,
  trans: TranslationBundle
): string {
  const hint = trans.__('Click a column header to sort.');
  const typeOf = (column: string) =>
    detail.columns.find(c => c.name === column)?.type ?? '';
  if (sort) {
    return `${trans.__('Sorted by %1.', orderWords(sort, typeOf(sort.column), trans))} ${hint}`;
  }
  const keys = detail.defaultOrder
    .map(parseOrderKey)
    .filter((key): key is OrderKey => key !== null);
  if (keys.length) {
    const words = keys.map(key => orderWords(key, typeOf(key.column), trans));
    return `${trans.__("Sorted by %1 (the dataset's order).", words.join(', '))} ${hint}`;
  }
  return `${trans.__("In the dataset's order.")} ${hint}`;
}

/** What each mark in the grid means, in the words of the details section. */
function Legend(props: {
  masked: ColumnDetail[];
  cellMasked: ColumnDetail[];
  hidden: ColumnDetail[];
  dataModel: ArrowDataModel;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { masked, cellMasked, hidden, dataModel, trans } = props;
  if (!masked.length && !cellMasked.length && !hidden.length) {
    return null;
  }
  const rows = dataModel.rowCount('body');
  const withIndicator = new Set(
    dataModel.columns.filter(c => c.indicator >= 0).map(c => c.name)
  );
  return (
    <ul
      className="jp-warden-preview-legend"
      aria-label={trans.__('What the marks in the table mean')}
    >
      {masked.map(column => (
        <li key={column.name} data-warden-legend={column.name}>
          <AccessBadge access="masked" trans={trans} />
          <span className="jp-warden-legend-column">{column.name}</span>
          {trans.__(': %1', column.effect.description)}
        </li>
      ))}
      {cellMasked.map(column => (
        <li key={`${column.name}:cells`} data-warden-legend={column.name}>
          <CellMaskBadge trans={trans} />
          <span className="jp-warden-legend-column">{column.name}</span>
          {trans.__(': %1', cellMaskWords(column.effect.cellMasks, trans))}
          {withIndicator.has(column.name) &&
            ` ${trans.__(
              '(%1 of the %2 rows shown)',
              dataModel.maskedCellCount(column.name),
              rows
            )}`}
        </li>
      ))}
      {hidden.length > 0 && (
        <li data-warden-legend="hidden">
          <AccessBadge access="hidden" trans={trans} />
          {trans.__('not shown to you: %1', hidden.map(c => c.name).join(', '))}
        </li>
      )}
    </ul>
  );
}
