import type { TranslationBundle } from '@jupyterlab/translation';
import {
  caretDownIcon,
  caretRightIcon,
  VDomRenderer
} from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';
import React, { useId, useLayoutEffect, useRef, useState } from 'react';

import { ErrorMessage, StateMessage } from '../../components/StateMessage';
import { TagChip } from '../../components/TagChip';
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

/**
 * The keys of the dataset tree, following the ARIA tree pattern. Documented
 * in the README; the hint under the search box repeats them while the tree
 * has the focus.
 */
const TREE_KEYS = {
  details: 'Enter',
  preview: 'Shift+Enter',
  search: 'Escape'
} as const;

interface IViewProps {
  model: CatalogModel;
  commands: CommandRegistry;
  trans: TranslationBundle;
}

/** A node of the tree: a database (`db:` key) or a dataset (`ds:` key). */
interface ITreeNode {
  key: string;
  database: string;
  dataset: string | null;
}

const databaseKey = (database: string) => `db:${database}`;
const datasetKey = (name: string) => `ds:${name}`;

/** The nodes a user can move through, in the order shown. */
function visibleNodes(
  model: CatalogModel,
  groups: IDatabaseGroup[]
): ITreeNode[] {
  return groups.flatMap(group => [
    { key: databaseKey(group.database), database: group.database, dataset: null },
    ...(model.isCollapsed(group.database)
      ? []
      : group.results.map(result => ({
          key: datasetKey(result.dataset.name),
          database: group.database,
          dataset: result.dataset.name
        })))
  ]);
}

function CatalogView({ model, commands, trans }: IViewProps): JSX.Element {
  // Uncontrolled: the model re-renders asynchronously and a controlled input
  // would fight the caret while typing. Only a reset from elsewhere (clear
  // filters) is written back.
  const search = useRef<HTMLInputElement>(null);
  const tree = useRef<HTMLUListElement>(null);
  useLayoutEffect(() => {
    if (search.current && search.current.value !== model.query) {
      search.current.value = model.query;
    }
  });
  const ready = model.status === 'ready' || model.datasets.length > 0;
  return (
    <>
      <input
        ref={search}
        type="search"
        className="jp-warden-search jp-mod-styled"
        // Short enough for a narrow sidebar; the title says what is searched.
        placeholder={trans.__('Search datasets')}
        title={trans.__(
          'Matches dataset names, descriptions, column names and tags'
        )}
        aria-label={trans.__('Search datasets')}
        defaultValue={model.query}
        onChange={event => {
          model.query = event.target.value;
        }}
        onKeyDown={event => {
          // Down from the search box goes to the results, as in a combobox.
          if (event.key === 'ArrowDown' && tree.current) {
            event.preventDefault();
            tree.current.querySelector<HTMLElement>('[tabindex="0"]')?.focus();
          }
        }}
      />
      {model.tags.length > 0 && <TagFilter model={model} trans={trans} />}
      {ready && model.status !== 'error' && (
        <div className="jp-warden-list-status">
          <span className="jp-warden-result-count" aria-live="polite">
            {trans._n('%1 dataset', '%1 datasets', model.results.length)}
          </span>
          <span className="jp-warden-key-hint" aria-hidden="true">
            {trans.__(
              '%1: details · %2: preview · %3: search',
              TREE_KEYS.details,
              TREE_KEYS.preview,
              TREE_KEYS.search
            )}
          </span>
        </div>
      )}
      <div className="jp-warden-dataset-list">
        <CatalogContent
          model={model}
          commands={commands}
          trans={trans}
          tree={tree}
          focusSearch={() => search.current?.focus()}
        />
      </div>
    </>
  );
}

/**
 * The tag chips, on one line until the user asks for all: chips that do not
 * fit are hidden and counted on a "+N more" button. Active tags come first,
 * so a filter in use stays in sight.
 */
function TagFilter(props: {
  model: CatalogModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  const [expanded, setExpanded] = useState(false);
  const [overflowing, setOverflowing] = useState(0);
  const row = useRef<HTMLDivElement>(null);
  const tags = expanded
    ? model.tags
    : [
        ...model.tags.filter(tag => model.activeTags.has(tag)),
        ...model.tags.filter(tag => !model.activeTags.has(tag))
      ];

  useLayoutEffect(() => {
    const node = row.current;
    if (!node) {
      return;
    }
    const measure = () => {
      const right = node.getBoundingClientRect().right;
      let hidden = 0;
      for (const chip of Array.from(node.children)) {
        const over =
          !expanded && chip.getBoundingClientRect().right > right + 0.5;
        chip.toggleAttribute('data-warden-overflow', over);
        hidden += over ? 1 : 0;
      }
      setOverflowing(hidden);
    };
    measure();
    if (typeof ResizeObserver === 'undefined') {
      return;
    }
    const observer = new ResizeObserver(measure);
    observer.observe(node);
    return () => observer.disconnect();
  });

  return (
    <div
      className={`jp-warden-tag-filter${expanded ? ' jp-mod-expanded' : ''}`}
      role="group"
      aria-label={trans.__('Filter by tag')}
    >
      <div ref={row} className="jp-warden-tag-chips">
        {tags.map(tag => (
          <TagChip
            key={tag}
            tag={tag}
            active={model.activeTags.has(tag)}
            onToggle={tag => model.toggleTag(tag)}
          />
        ))}
      </div>
      {(expanded || overflowing > 0) && (
        <button
          type="button"
          className="jp-warden-tag-more"
          // Like the chips, a pointer convenience out of the tab order.
          tabIndex={-1}
          aria-expanded={expanded}
          onClick={() => setExpanded(!expanded)}
        >
          {expanded
            ? trans.__('Show fewer')
            : trans.__('+%1 more', overflowing)}
        </button>
      )}
    </div>
  );
}

function CatalogContent(
  props: IViewProps & {
    tree: React.RefObject<HTMLUListElement>;
    focusSearch: () => void;
  }
): JSX.Element {
  const { model, trans } = props;
  if (model.status === 'error' && model.error) {
    return (
      <ErrorMessage
        message={trans.__('The catalog could not be loaded.')}
        error={model.error}
        trans={trans}
        retry={() => void model.refresh()}
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
  return <DatasetTree {...props} groups={groups} />;
}

/**
 * Databases and their datasets as an ARIA tree with one tab stop (roving
 * tabindex): arrows move, Right/Left open and close a database, Home/End
 * jump, Enter shows a dataset's details, Shift+Enter opens its preview,
 * Escape goes back to the search box.
 */
function DatasetTree(
  props: IViewProps & {
    groups: IDatabaseGroup[];
    tree: React.RefObject<HTMLUListElement>;
    focusSearch: () => void;
  }
): JSX.Element {
  const { model, commands, trans, groups, tree, focusSearch } = props;
  const [active, setActive] = useState<string | null>(null);
  const nodes = visibleNodes(model, groups);
  // The tab stop: the node last moved to, else the selected dataset, else the first dataset.
  const selectedKey = model.selected ? datasetKey(model.selected) : null;
  const tabStop =
    [active, selectedKey].find(key => key && nodes.some(n => n.key === key)) ??
    nodes.find(node => node.dataset)?.key ??
    nodes[0].key;

  const moveTo = (node: ITreeNode | undefined) => {
    if (!node) {
      return;
    }
    setActive(node.key);
    const elements = tree.current?.querySelectorAll<HTMLElement>(
      '[data-warden-key]'
    );
    Array.from(elements ?? [])
      .find(element => element.dataset.wardenKey === node.key)
      ?.focus();
  };

  const onKeyDown = (event: React.KeyboardEvent) => {
    const key = (event.target as HTMLElement).closest<HTMLElement>(
      '[data-warden-key]'
    )?.dataset.wardenKey;
    const index = nodes.findIndex(node => node.key === key);
    const node = nodes[index];
    if (!node) {
      return;
    }
    const expanded = !node.dataset && !model.isCollapsed(node.database);
    let handled = true;
    switch (event.key) {
      case 'ArrowDown':
        moveTo(nodes[index + 1]);
        break;
      case 'ArrowUp':
        moveTo(nodes[index - 1]);
        break;
      case 'Home':
        moveTo(nodes[0]);
        break;
      case 'End':
        moveTo(nodes[nodes.length - 1]);
        break;
      case 'ArrowRight':
        if (!node.dataset) {
          if (expanded) {
            moveTo(nodes[index + 1]);
          } else {
            model.toggleDatabase(node.database);
          }
        }
        break;
      case 'ArrowLeft':
        if (node.dataset) {
          moveTo(nodes.find(n => n.key === databaseKey(node.database)));
        } else if (expanded) {
          model.toggleDatabase(node.database);
        }
        break;
      case 'Enter':
      case ' ':
        if (!node.dataset) {
          model.toggleDatabase(node.database);
        } else if (event.key === 'Enter' && event.shiftKey) {
          void commands.execute(CommandIDs.preview, { dataset: node.dataset });
        } else {
          model.select(node.dataset);
        }
        break;
      case 'Escape':
        focusSearch();
        break;
      default:
        handled = false;
    }
    if (handled) {
      event.preventDefault();
      event.stopPropagation();
    }
  };

  return (
    <ul
      ref={tree}
      className="jp-warden-tree"
      role="tree"
      aria-label={trans.__('Datasets')}
      onKeyDown={onKeyDown}
    >
      {groups.map(group => (
        <DatabaseNode
          key={group.database}
          group={group}
          tabStop={tabStop}
          onActivate={setActive}
          {...props}
        />
      ))}
    </ul>
  );
}

interface INodeProps extends IViewProps {
  tabStop: string;
  onActivate: (key: string) => void;
}

function DatabaseNode(
  props: INodeProps & { group: IDatabaseGroup }
): JSX.Element {
  const { group, model, trans, tabStop, onActivate } = props;
  const key = databaseKey(group.database);
  const collapsed = model.isCollapsed(group.database);
  const Caret = collapsed ? caretRightIcon : caretDownIcon;
  return (
    <li
      className="jp-warden-database-group"
      data-warden-database={group.database}
      data-warden-key={key}
      role="treeitem"
      aria-level={1}
      aria-expanded={!collapsed}
      aria-label={trans._n(
        '%2, %1 dataset',
        '%2, %1 datasets',
        group.results.length,
        group.database
      )}
      tabIndex={tabStop === key ? 0 : -1}
      onFocus={event => {
        if (event.target === event.currentTarget) {
          onActivate(key);
        }
      }}
    >
      <div
        className="jp-warden-database-header"
        onClick={() => model.toggleDatabase(group.database)}
      >
        <Caret.react tag="span" className="jp-warden-caret" />
        <span className="jp-warden-database-name">{group.database}</span>
        <span className="jp-warden-database-count">{group.results.length}</span>
      </div>
      {!collapsed && (
        <ul className="jp-warden-dataset-items" role="group">
          {group.results.map(result => (
            <DatasetNode key={result.dataset.name} result={result} {...props} />
          ))}
        </ul>
      )}
    </li>
  );
}

function DatasetNode(
  props: INodeProps & { result: ISearchResult }
): JSX.Element {
  const { result, model, commands, trans, tabStop, onActivate } = props;
  const { dataset, matchedColumns } = result;
  const key = datasetKey(dataset.name);
  const selected = model.selected === dataset.name;
  const descriptionId = useId();
  return (
    <li
      className={`jp-warden-dataset-item${selected ? ' jp-mod-selected' : ''}`}
      data-warden-dataset={dataset.name}
      data-warden-key={key}
      role="treeitem"
      aria-level={2}
      aria-selected={selected}
      aria-label={dataset.name}
      aria-describedby={dataset.description ? descriptionId : undefined}
      tabIndex={tabStop === key ? 0 : -1}
      title={dataset.description || dataset.name}
      onFocus={event => {
        if (event.target === event.currentTarget) {
          onActivate(key);
        }
      }}
      onClick={() => model.select(dataset.name)}
      // Right-click selects too, as in the file browser, so the menu acts on what is shown.
      onContextMenu={() => model.select(dataset.name)}
      onDoubleClick={() =>
        void commands.execute(CommandIDs.preview, { dataset: dataset.name })
      }
    >
      <div className="jp-warden-dataset-table">{dataset.table}</div>
      {dataset.description && (
        <div id={descriptionId} className="jp-warden-dataset-description">
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
