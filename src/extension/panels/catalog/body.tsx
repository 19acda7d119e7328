import type { TranslationBundle } from '@jupyterlab/translation';
import {
  caretDownIcon,
  caretRightIcon,
  VDomRenderer
} from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';
import React, { useLayoutEffect, useRef } from 'react';

import { StateMessage } from '../../components/StateMessage';
import { TagChip } from '../../components/TagChip';
import { describeError } from '../../handler';
import { CommandIDs } from '../../tokens';
import type { CatalogModel, IDatabaseGroup, ISearchResult } from './model';

/** Search box, tag chips and the datasets grouped by database. */
export class CatalogBody extends VDomRenderer<CatalogModel> {
  constructor(options: CatalogBody.IOptions) {
    super(options.model);
    this._commands = options.commands;
    this._trans = options.trans;
    this.addClass('jp-warden-catalog-body');
  }

  protected render(): JSX.Element {
    return (
      <CatalogView
        model={this.model}
        commands={this._commands}
        trans={this._trans}
      />
    );
  }

  private _commands: CommandRegistry;
  private _trans: TranslationBundle;
}

export namespace CatalogBody {
  export interface IOptions {
    model: CatalogModel;
    commands: CommandRegistry;
    trans: TranslationBundle;
  }
}

interface IViewProps {
  model: CatalogModel;
  commands: CommandRegistry;
  trans: TranslationBundle;
}

function CatalogView({ model, commands, trans }: IViewProps): JSX.Element {
  // Uncontrolled: the model re-renders asynchronously and a controlled input
  // would fight the caret while typing. Only a reset from elsewhere (clear
  // filters) is written back.
  const search = useRef<HTMLInputElement>(null);
  useLayoutEffect(() => {
    if (search.current && search.current.value !== model.query) {
      search.current.value = model.query;
    }
  });
  return (
    <>
      <input
        ref={search}
        type="search"
        className="jp-warden-search jp-mod-styled"
        placeholder={trans.__('Search names, descriptions, columns, tags')}
        aria-label={trans.__('Search datasets')}
        defaultValue={model.query}
        onChange={event => {
          model.query = event.target.value;
        }}
      />
      {model.tags.length > 0 && (
        <div
          className="jp-warden-tag-chips"
          role="group"
          aria-label={trans.__('Filter by tag')}
        >
          {model.tags.map(tag => (
            <TagChip
              key={tag}
              tag={tag}
              active={model.activeTags.has(tag)}
              onToggle={tag => model.toggleTag(tag)}
            />
          ))}
        </div>
      )}
      <CatalogContent model={model} commands={commands} trans={trans} />
    </>
  );
}

function CatalogContent({ model, commands, trans }: IViewProps): JSX.Element {
  const refresh = { label: trans.__('Retry'), onClick: () => model.refresh() };
  if (model.status === 'error' && model.error) {
    return (
      <StateMessage
        state="error"
        message={trans.__('The catalog could not be loaded.')}
        detail={describeError(model.error)}
        action={refresh}
      />
    );
  }
  if (
    model.status === 'idle' ||
    (model.status === 'loading' && !model.datasets.length)
  ) {
    return (
      <StateMessage
        state="loading"
        message={trans.__('Loading the catalog…')}
      />
    );
  }
  if (!model.datasets.length) {
    return (
      <StateMessage
        state="empty"
        message={trans.__('No dataset is shared with you yet.')}
      />
    );
  }
  const groups = model.groups;
  if (!groups.length) {
    return (
      <StateMessage
        state="empty"
        message={trans.__('No dataset matches the search.')}
        action={{
          label: trans.__('Clear filters'),
          onClick: () => model.clearFilters()
        }}
      />
    );
  }
  return (
    <div className="jp-warden-dataset-list">
      <div className="jp-warden-result-count" aria-live="polite">
        {trans._n('%1 dataset', '%1 datasets', model.results.length)}
      </div>
      {groups.map(group => (
        <DatabaseGroup
          key={group.database}
          group={group}
          model={model}
          commands={commands}
          trans={trans}
        />
      ))}
    </div>
  );
}

function DatabaseGroup(
  props: IViewProps & { group: IDatabaseGroup }
): JSX.Element {
  const { group, model } = props;
  const collapsed = model.isCollapsed(group.database);
  const Caret = collapsed ? caretRightIcon : caretDownIcon;
  return (
    <div
      className="jp-warden-database-group"
      data-warden-database={group.database}
    >
      <button
        type="button"
        className="jp-warden-database-header"
        aria-expanded={!collapsed}
        onClick={() => model.toggleDatabase(group.database)}
      >
        <Caret.react tag="span" className="jp-warden-caret" />
        <span className="jp-warden-database-name">{group.database}</span>
        <span className="jp-warden-database-count">{group.results.length}</span>
      </button>
      {!collapsed && (
        <ul className="jp-warden-dataset-items" role="listbox">
          {group.results.map(result => (
            <DatasetItem key={result.dataset.name} result={result} {...props} />
          ))}
        </ul>
      )}
    </div>
  );
}

function DatasetItem(
  props: IViewProps & { result: ISearchResult }
): JSX.Element {
  const { result, model, commands, trans } = props;
  const { dataset, matchedColumns } = result;
  const selected = model.selected === dataset.name;
  return (
    <li
      className={`jp-warden-dataset-item${selected ? ' jp-mod-selected' : ''}`}
      data-warden-dataset={dataset.name}
      role="option"
      aria-selected={selected}
      tabIndex={0}
      title={dataset.description || dataset.name}
      onClick={() => model.select(dataset.name)}
      // Right-click selects too, as in the file browser, so the menu acts on what is shown.
      onContextMenu={() => model.select(dataset.name)}
      onDoubleClick={() =>
        void commands.execute(CommandIDs.preview, { dataset: dataset.name })
      }
      onKeyDown={event => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          model.select(dataset.name);
        }
      }}
    >
      <div className="jp-warden-dataset-table">{dataset.table}</div>
      {dataset.description && (
        <div className="jp-warden-dataset-description">
          {dataset.description}
        </div>
      )}
      {matchedColumns.length > 0 && (
        <div className="jp-warden-dataset-columns">
          {trans.__('Columns: %1', matchedColumns.join(', '))}
        </div>
      )}
      {dataset.tags.length > 0 && (
        <div className="jp-warden-dataset-tags">
          {dataset.tags.map(tag => (
            <TagChip key={tag} tag={tag} />
          ))}
        </div>
      )}
    </li>
  );
}
