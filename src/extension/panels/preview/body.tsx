import type { TranslationBundle } from '@jupyterlab/translation';
import { VDomRenderer } from '@jupyterlab/ui-components';
import React from 'react';

import { StateMessage } from '../../components/StateMessage';
import { describeError } from '../../handler';
import type { PreviewModel } from './model';

/** Above the grid: how many rows, which row filter, which policies, which masks. */
export class PreviewHeader extends VDomRenderer<PreviewModel> {
  constructor(model: PreviewModel, trans: TranslationBundle) {
    super(model);
    this._trans = trans;
    this.addClass('jp-warden-preview-header');
  }

  protected render(): JSX.Element {
    const { model } = this;
    const trans = this._trans;
    if (model.status === 'error' && model.error) {
      return (
        <StateMessage
          state="error"
          message={trans.__(
            'The preview of %1 could not be loaded.',
            model.dataset
          )}
          detail={describeError(model.error)}
          action={{ label: trans.__('Retry'), onClick: () => model.load() }}
        />
      );
    }
    const dataModel = model.dataModel;
    const info = model.info;
    if (!dataModel || !info) {
      return (
        <StateMessage
          state="loading"
          message={trans.__('Loading the preview of %1…', model.dataset)}
        />
      );
    }
    const rows = dataModel.rowCount('body');
    const masked = dataModel.columns.filter(c => c.masked);
    const cellMasked = dataModel.columns.filter(c => c.cellMasked);
    return (
      <div
        className="jp-warden-preview-summary"
        data-warden-rows={rows}
        data-warden-masked-columns={masked.map(c => c.name).join(',')}
        data-warden-cell-masked-columns={cellMasked.map(c => c.name).join(',')}
      >
        <div className="jp-warden-preview-title">
          <span className="jp-warden-preview-name">{model.dataset}</span>
          <span className="jp-warden-preview-rows">
            {rows >= model.limit
              ? trans.__('first %1 rows, as you are allowed to see them', rows)
              : trans._n(
                  '%1 row, as you are allowed to see it',
                  '%1 rows, as you are allowed to see them',
                  rows
                )}
            {model.status === 'loading' && ` · ${trans.__('refreshing…')}`}
          </span>
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
        {(masked.length > 0 || cellMasked.length > 0) && (
          <ul className="jp-warden-preview-legend">
            {masked.map(column => (
              <li key={column.name}>
                <span className="jp-warden-swatch jp-warden-swatch-column" />
                {column.mask
                  ? trans.__('%1: %2', column.name, column.mask)
                  : trans.__('%1: masked', column.name)}
              </li>
            ))}
            {cellMasked.map(column => (
              <li key={`${column.name}:cells`}>
                <span className="jp-warden-swatch jp-warden-swatch-cell" />
                {column.redactions.size
                  ? trans.__(
                      '%1: some cells masked, shown as %2',
                      column.name,
                      [...column.redactions].join(', ')
                    )
                  : trans.__('%1: some cells masked', column.name)}
              </li>
            ))}
          </ul>
        )}
        {info.requestId && (
          <div className="jp-warden-preview-request">
            {trans.__('Audit request id: %1', info.requestId)}
          </div>
        )}
      </div>
    );
  }

  private _trans: TranslationBundle;
}
