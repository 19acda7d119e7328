import { VDomModel } from '@jupyterlab/ui-components';
import { Signal, type ISignal } from '@lumino/signaling';

import type { DatasetSummary } from '../../../common/api';
import type { IWardenClient } from '../../tokens';

/** A dataset that passed the search, with the columns that made it match. */
export interface ISearchResult {
  dataset: DatasetSummary;
  matchedColumns: string[];
}

export interface IDatabaseGroup {
  database: string;
  results: ISearchResult[];
}

export type LoadStatus = 'idle' | 'loading' | 'ready' | 'error';

/**
 * Filter datasets by a free-text query and tag chips.
 *
 * Every word of the query must appear (case-insensitively) in the name, the
 * description, a column name or a tag; every active tag must be carried by the
 * dataset or one of its columns.
 */
export function searchDatasets(
  datasets: readonly DatasetSummary[],
  query: string,
  activeTags: ReadonlySet<string> = new Set()
): ISearchResult[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const results: ISearchResult[] = [];
  for (const dataset of datasets) {
    const allTags = new Set([...dataset.tags, ...dataset.columnTags]);
    if ([...activeTags].some(tag => !allTags.has(tag))) {
      continue;
    }
    const text = [dataset.name, dataset.description, ...allTags]
      .join('\n')
      .toLowerCase();
    const columns = dataset.columnNames.map(name => name.toLowerCase());
    const matches = words.every(
      word => text.includes(word) || columns.some(c => c.includes(word))
    );
    if (!matches) {
      continue;
    }
    const matchedColumns = words.length
      ? dataset.columnNames.filter(name =>
          words.some(word => name.toLowerCase().includes(word))
        )
      : [];
    results.push({ dataset, matchedColumns });
  }
  return results;
}

/** Group results by database; databases and tables in alphabetical order. */
export function groupByDatabase(
  results: readonly ISearchResult[]
): IDatabaseGroup[] {
  const groups = new Map<string, ISearchResult[]>();
  for (const result of results) {
    const group = groups.get(result.dataset.database) ?? [];
    group.push(result);
    groups.set(result.dataset.database, group);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([database, members]) => ({
      database,
      results: members.sort((a, b) =>
        a.dataset.table.localeCompare(b.dataset.table)
      )
    }));
}

/**
 * The catalog the user may see, fetched once (and on refresh), searched and
 * grouped in the browser so results follow every keystroke.
 */
export class CatalogModel extends VDomModel {
  constructor(client: IWardenClient) {
    super();
    this._client = client;
  }

  get status(): LoadStatus {
    return this._status;
  }

  get error(): Error | null {
    return this._error;
  }

  get datasets(): readonly DatasetSummary[] {
    return this._datasets;
  }

  get tags(): readonly string[] {
    return this._tags;
  }

  get query(): string {
    return this._query;
  }

  set query(value: string) {
    if (value === this._query) {
      return;
    }
    this._query = value;
    this._changed();
  }

  get activeTags(): ReadonlySet<string> {
    return this._activeTags;
  }

  toggleTag(tag: string): void {
    const tags = new Set(this._activeTags);
    if (!tags.delete(tag)) {
      tags.add(tag);
    }
    this._activeTags = tags;
    this._changed();
  }

  clearFilters(): void {
    this._query = '';
    this._activeTags = new Set();
    this._changed();
  }

  isCollapsed(database: string): boolean {
    return this._collapsed.has(database);
  }

  toggleDatabase(database: string): void {
    if (!this._collapsed.delete(database)) {
      this._collapsed.add(database);
    }
    this.stateChanged.emit();
  }

  /** Datasets that pass the current search and tag chips. */
  get results(): ISearchResult[] {
    if (!this._results) {
      this._results = searchDatasets(
        this._datasets,
        this._query,
        this._activeTags
      );
    }
    return this._results;
  }

  get groups(): IDatabaseGroup[] {
    return groupByDatabase(this.results);
  }

  get selected(): string | null {
    return this._selected;
  }

  select(name: string | null): void {
    if (name === this._selected) {
      return;
    }
    this._selected = name;
    this.stateChanged.emit();
    this._selectionChanged.emit(name);
  }

  /** Emitted with the newly selected dataset name (or null). */
  get selectionChanged(): ISignal<this, string | null> {
    return this._selectionChanged;
  }

  /** Emitted after a reload, so cached dataset details can be dropped. */
  get refreshed(): ISignal<this, void> {
    return this._refreshed;
  }

  /** Resolves once the current (or last) load has settled. */
  whenLoaded(): Promise<void> {
    return this._loading ?? this.refresh();
  }

  /** (Re)fetch the catalog. Never rejects: failures land in `error`. */
  refresh(): Promise<void> {
    const generation = ++this._generation;
    this._status = 'loading';
    this._error = null;
    this.stateChanged.emit();
    this._loading = this._client.listDatasets().then(
      page => {
        if (generation !== this._generation) {
          return;
        }
        this._datasets = page.datasets;
        this._tags = [...page.tags].sort((a, b) => a.localeCompare(b));
        this._activeTags = new Set(
          [...this._activeTags].filter(tag => this._tags.includes(tag))
        );
        this._status = 'ready';
        this._changed();
        if (
          this._selected &&
          !page.datasets.some(d => d.name === this._selected)
        ) {
          this.select(null);
        }
        this._refreshed.emit();
      },
      (error: Error) => {
        if (generation !== this._generation) {
          return;
        }
        this._status = 'error';
        this._error = error;
        this.stateChanged.emit();
      }
    );
    return this._loading;
  }

  private _changed(): void {
    this._results = null;
    this.stateChanged.emit();
  }

  private _client: IWardenClient;
  private _status: LoadStatus = 'idle';
  private _error: Error | null = null;
  private _datasets: DatasetSummary[] = [];
  private _tags: string[] = [];
  private _query = '';
  private _activeTags: ReadonlySet<string> = new Set();
  private _collapsed = new Set<string>();
  private _results: ISearchResult[] | null = null;
  private _selected: string | null = null;
  private _selectionChanged = new Signal<this, string | null>(this);
  private _refreshed = new Signal<this, void>(this);
  private _loading: Promise<void> | null = null;
  private _generation = 0;
}
