import type { TranslationBundle } from '@jupyterlab/translation';
import { VDomRenderer } from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';
import React from 'react';

import type { ColumnDetail, DatasetDetail } from '../../../common/api';
import { AccessBadge, CellMaskBadge } from '../../components/AccessBadge';
import { StateMessage } from '../../components/StateMessage';
import { TagChip } from '../../components/TagChip';
import { describeError } from '../../handler';
import { CommandIDs } from '../../tokens';
import type { DetailsModel } from './model';

/** What the selected dataset holds, and what this user gets of it and why. */
export class DetailsBody extends VDomRenderer<DetailsModel> {
  constructor(options: DetailsBody.IOptions) {
    super(options.model);
    this._commands = options.commands;
    this._trans = options.trans;
    this.addClass('jp-warden-details-body');
  }

  protected render(): JSX.Element {
    const { model } = this;
    const trans = this._trans;
    if (!model.name) {
      return (
        <StateMessage
          state="empty"
          message={trans.__(
            'Select a dataset to see its columns and what you may see of them.'
          )}
        />
      );
    }
    if (model.status === 'error' && model.error) {
      const name = model.name;
      return (
        <StateMessage
          state="error"
          message={trans.__('The details of %1 could not be loaded.', name)}
          detail={describeError(model.error)}
          action={{ label: trans.__('Retry'), onClick: () => model.show(name) }}
        />
      );
    }
    if (!model.detail) {
      return (
        <StateMessage
          state="loading"
          message={trans.__('Loading %1…', model.name)}
        />
      );
    }
    return (
      <DatasetDetails
        detail={model.detail}
        commands={this._commands}
        trans={trans}
      />
    );
  }

  private _commands: CommandRegistry;
  private _trans: TranslationBundle;
}

export namespace DetailsBody {
  export interface IOptions {
    model: DetailsModel;
    commands: CommandRegistry;
    trans: TranslationBundle;
  }
}

function DatasetDetails(props: {
  detail: DatasetDetail;
  commands: CommandRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { detail, commands, trans } = props;
  const args = { dataset: detail.name };
  return (
    <div className="jp-warden-details" data-warden-dataset={detail.name}>
      <div className="jp-warden-details-name">{detail.name}</div>
      <div className="jp-warden-details-actions">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-accept jp-warden-insert-button"
          onClick={() => void commands.execute(CommandIDs.insertSnippet, args)}
        >
          {trans.__('Insert snippet')}
        </button>
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-warden-preview-button"
          onClick={() => void commands.execute(CommandIDs.preview, args)}
        >
          {trans.__('Preview')}
        </button>
      </div>
      {detail.description && (
        <p className="jp-warden-details-description">{detail.description}</p>
      )}
      <dl className="jp-warden-details-facts">
        <dt>{trans.__('Owner')}</dt>
        <dd className="jp-warden-details-owner">{detail.owner || '—'}</dd>
        {detail.tags.length > 0 && (
          <>
            <dt>{trans.__('Tags')}</dt>
            <dd>
              {detail.tags.map(tag => (
                <TagChip key={tag} tag={tag} />
              ))}
            </dd>
          </>
        )}
        <dt>{trans.__('Rows')}</dt>
        <dd
          className="jp-warden-row-filter"
          data-warden-row-filter={detail.rowFilter ? 'filtered' : 'all'}
        >
          {detail.rowFilter ? (
            <>
              {trans.__('You see %1.', detail.rowFilter.description)}
              <div className="jp-warden-why">
                {trans._n(
                  'by policy %2',
                  'by policies %2',
                  detail.rowFilter.policies.length,
                  detail.rowFilter.policies.join(', ')
                )}
              </div>
            </>
          ) : (
            trans.__('You see all rows: no row filter applies to you.')
          )}
        </dd>
        {detail.policies.length > 0 && (
          <>
            <dt>{trans.__('Policies')}</dt>
            <dd className="jp-warden-details-policies">
              {detail.policies.join(', ')}
            </dd>
          </>
        )}
      </dl>
      <table className="jp-warden-schema">
        <thead>
          <tr>
            <th scope="col">{trans.__('Column')}</th>
            <th scope="col">{trans.__('What you get')}</th>
          </tr>
        </thead>
        <tbody>
          {detail.columns.map(column => (
            <ColumnRow key={column.name} column={column} trans={trans} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ColumnRow(props: {
  column: ColumnDetail;
  trans: TranslationBundle;
}): JSX.Element {
  const { column, trans } = props;
  const { effect } = column;
  const cellMasked = effect.cellMasks.length > 0;
  return (
    <tr
      className="jp-warden-column-row"
      data-warden-column={column.name}
      data-warden-access={effect.access}
      data-warden-cell-masked={cellMasked ? 'true' : undefined}
    >
      <td>
        <div className="jp-warden-column-name" title={column.description}>
          {column.name}
        </div>
        <div className="jp-warden-column-type">
          {column.type}
          {column.sourceType && column.sourceType !== column.type && (
            <span className="jp-warden-column-source-type">
              {' '}
              {trans.__('(stored as %1)', column.sourceType)}
            </span>
          )}
        </div>
        {column.tags.length > 0 && (
          <div className="jp-warden-column-tags">
            {column.tags.map(tag => (
              <TagChip key={tag} tag={tag} />
            ))}
          </div>
        )}
      </td>
      <td>
        <div className="jp-warden-effect">
          <AccessBadge access={effect.access} trans={trans} />
          {effect.access !== 'clear' && effect.description && (
            <span className="jp-warden-effect-description">
              {effect.description}
            </span>
          )}
        </div>
        {effect.policy && (
          <div className="jp-warden-why">
            {effect.reason
              ? trans.__(
                  'by policy %1, because of %2',
                  effect.policy,
                  effect.reason
                )
              : trans.__('by policy %1', effect.policy)}
          </div>
        )}
        {effect.cellMasks.map(mask => (
          <div
            key={`${mask.policy}:${mask.condition}`}
            className="jp-warden-cell-mask"
          >
            <CellMaskBadge trans={trans} />
            <span className="jp-warden-effect-description">
              {trans.__('%1 where %2', mask.description, mask.condition)}
            </span>
            <div className="jp-warden-why">
              {trans.__('by policy %1', mask.policy)}
            </div>
          </div>
        ))}
      </td>
    </tr>
  );
}
