import type { TranslationBundle } from '@jupyterlab/translation';
import {
  caretDownIcon,
  MenuSvg,
  VDomRenderer
} from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';
import React from 'react';

import {
  SNIPPET_FLAVOURS,
  type ColumnDetail,
  type DatasetDetail
} from '../../../common/api';
import { AccessBadge, CellMaskBadge } from '../../components/AccessBadge';
import { ErrorMessage, StateMessage } from '../../components/StateMessage';
import { TagChip } from '../../components/TagChip';
import { ViewUpdateNotice } from '../../components/ViewUpdate';
import { parseOrderKey, type OrderKey } from '../../../common/order';
import { CommandIDs } from '../../tokens';
import { cellMaskWords, orderWords, type IViewUpdate } from '../../words';
import type { DetailsModel } from './model';

/** What the selected dataset holds, and what this user gets of it and why. */
export class DetailsBody extends VDomRenderer<DetailsModel> {
  constructor(options: DetailsBody.IOptions) {
    super(options.model);
    this._commands = options.commands;
    this._trans = options.trans;
    this._flavourMenu = new MenuSvg({ commands: options.commands });
    this._flavourMenu.addClass('jp-warden-flavour-menu');
    this.addClass('jp-warden-details-body');
  }

  dispose(): void {
    this._flavourMenu.dispose();
    super.dispose();
  }

  /** The snippet flavours, under the split button's arrow. */
  private _openFlavourMenu(dataset: string, anchor: HTMLElement): void {
    const menu = this._flavourMenu;
    menu.clearItems();
    for (const flavour of SNIPPET_FLAVOURS) {
      menu.addItem({
        command: CommandIDs.insertSnippet,
        args: { dataset, flavour }
      });
    }
    const box = anchor.getBoundingClientRect();
    menu.open(box.left, box.bottom);
    // Opened from the keyboard too: the first item takes the arrows and Enter.
    menu.activeIndex = 0;
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
        <ErrorMessage
          message={trans.__('The details of %1 could not be loaded.', name)}
          error={model.error}
          trans={trans}
          retry={() => void model.show(name)}
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
        lastChange={model.lastChange}
        actionsEnabled={model.actionsEnabled}
        commands={this._commands}
        trans={trans}
        openFlavourMenu={anchor =>
          this._openFlavourMenu(model.detail!.name, anchor)
        }
      />
    );
  }

  private _commands: CommandRegistry;
  private _trans: TranslationBundle;
  private _flavourMenu: MenuSvg;
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
  lastChange: IViewUpdate | null;
  actionsEnabled: boolean;
  commands: CommandRegistry;
  trans: TranslationBundle;
  openFlavourMenu: (anchor: HTMLElement) => void;
}): JSX.Element {
  const { detail, lastChange, actionsEnabled, commands, trans, openFlavourMenu } =
    props;
  const args = { dataset: detail.name };
  const unavailable = actionsEnabled
    ? undefined
    : trans.__('Unavailable while the catalog cannot be loaded');
  return (
    <div className="jp-warden-details" data-warden-dataset={detail.name}>
      <div className="jp-warden-details-name">
        {detail.database}.<wbr />
        {detail.table}
      </div>
      <div className="jp-warden-details-actions">
        <div className="jp-warden-split-button">
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-accept jp-warden-insert-button"
            disabled={!actionsEnabled}
            title={
              unavailable ?? commands.caption(CommandIDs.insertSnippet, args)
            }
            onClick={() =>
              void commands.execute(CommandIDs.insertSnippet, args)
            }
          >
            {trans.__('Insert snippet')}
          </button>
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-accept jp-warden-flavour-button"
            disabled={!actionsEnabled}
            aria-haspopup="menu"
            aria-label={trans.__('Insert as…')}
            title={unavailable ?? trans.__('Insert as pandas, Arrow or polars')}
            onClick={event => openFlavourMenu(event.currentTarget)}
          >
            <caretDownIcon.react tag="span" className="jp-warden-caret" />
          </button>
        </div>
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-warden-preview-button"
          disabled={!actionsEnabled}
          title={unavailable}
          onClick={() => void commands.execute(CommandIDs.preview, args)}
        >
          {trans.__('Preview')}
        </button>
      </div>
      {lastChange && <ViewUpdateNotice update={lastChange} trans={trans} />}
      {detail.description && (
        <p className="jp-warden-details-description">{detail.description}</p>
      )}
      <dl className="jp-warden-details-facts">
        <dt>{trans.__('Owner')}</dt>
        <dd className="jp-warden-details-owner">
          {detail.owner ? <Unbroken text={detail.owner} /> : '—'}
        </dd>
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
        {detail.defaultOrder.length > 0 && (
          <>
            <dt>{trans.__('Order')}</dt>
            <dd className="jp-warden-details-order">
              {detail.defaultOrder
                .map(parseOrderKey)
                .filter((key): key is OrderKey => key !== null)
                .map(key =>
                  orderWords(
                    key,
                    detail.columns.find(c => c.name === key.column)?.type ?? '',
                    trans
                  )
                )
                .join(', ')}
            </dd>
          </>
        )}
        {detail.policies.length > 0 && (
          <>
            <dt>{trans.__('Policies')}</dt>
            <dd className="jp-warden-details-policies">
              {detail.policies.map((policy, index) => (
                <React.Fragment key={policy}>
                  {index > 0 && ', '}
                  <span className="jp-warden-unbroken" title={policy}>
                    {policy}
                  </span>
                </React.Fragment>
              ))}
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
        <div className="jp-warden-column-name">{column.name}</div>
        {column.description && (
          <div className="jp-warden-column-description">
            {column.description}
          </div>
        )}
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
          {/* The badge says clear and hidden; a mask needs its words. */}
          {effect.access === 'masked' && (
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
            title={trans.__(
              'API reads without mask indicators get: %1',
              mask.description
            )}
          >
            <CellMaskBadge trans={trans} />
            <span className="jp-warden-effect-description">
              {cellMaskWords([mask], trans)}
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

/**
 * An email or name that must not break at its hyphens: it may wrap only
 * after an `@` (or anywhere, as a last resort, when a part is too long).
 */
function Unbroken(props: { text: string }): JSX.Element {
  const parts = props.text.split(/(?=@)/);
  return (
    <>
      {parts.map((part, index) => (
        <React.Fragment key={index}>
          {index > 0 && <wbr />}
          <span className="jp-warden-unbroken" title={props.text}>
            {part}
          </span>
        </React.Fragment>
      ))}
    </>
  );
}
