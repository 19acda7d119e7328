import { VDomModel } from '@jupyterlab/ui-components';
import type { Table } from 'apache-arrow';

import type { DatasetDetail, RowCount } from '../../../common/api';
import { formatOrderKey, type OrderKey } from '../../../common/order';
import { WardenRequestError } from '../../handler';
import type { IWardenClient } from '../../tokens';
import { viewChanges, type IViewUpdate } from '../../words';
import type { LoadStatus } from '../catalog/model';
import { ArrowDataModel, readPreviewInfo, type IPreviewInfo } from './datamodel';

/**
 * The enforced first rows of one dataset, what shaped them (the dataset's details, the very
 * view the rows come from), how many rows the user may see in all, and the order asked for.
 */
export class PreviewModel extends VDomModel {
  constructor(options: PreviewModel.IOptions) {
    super();
    this.dataset = options.dataset;
    this._client = options.client;
    this._rowLimit = options.rowLimit;
    this._details = options.details;
  }

  readonly dataset: string;

  get status(): LoadStatus {
    return this._status;
  }

  get error(): Error | null {
    return this._error;
  }

  /**
   * The dataset is not shared with the user (the service answers "not found" for a dataset
   * its policies keep from them): `revoked` when this preview showed its rows before,
   * `never` when it did not; null when it is shared, or the last load failed for another reason.
   */
  get unshared(): 'revoked' | 'never' | null {
    if (
      !(this._error instanceof WardenRequestError) ||
      this._error.code !== 'not_found'
    ) {
      return null;
    }
    return this._everShown ? 'revoked' : 'never';
  }

  /**
   * Whether the preview shows this version of the user's view of the dataset (undefined: the
   * dataset is not shared, which a preview that found it unshared shows too).
   */
  showsView(version: string | undefined): boolean {
    return version === undefined
      ? this.unshared !== null
      : this.version === version;
  }

  get dataModel(): ArrowDataModel | null {
    return this._dataModel;
  }

  get info(): IPreviewInfo | null {
    return this._info;
  }

  /** The details of the view the shown rows come from (same version): the legend's words. */
  get detail(): DatasetDetail | null {
    return this._detail;
  }

  /** The version of the view shown; null before the first load. */
  get version(): string | null {
    return this._info?.viewVersion ?? null;
  }

  /** Rows the user may see in all; null while counting or when the count failed. */
  get count(): RowCount | null {
    return this._count;
  }

  /** The row limit the shown rows were asked with. */
  get limit(): number {
    return this._limit;
  }

  /** The order asked for by a column header; null: the dataset's default order. */
  get sort(): OrderKey | null {
    return this._sort;
  }

  /**
   * How the user's view of the dataset changed at the last refresh that found it changed (a
   * policy, the catalog or the user's attributes), and when; null until then.
   */
  get lastChange(): IViewUpdate | null {
    return this._lastChange;
  }

  /** Sort by a column: ascending, then descending, then back to the dataset's order. */
  toggleSort(column: string): Promise<void> {
    const current = this._sort?.column === column ? this._sort : null;
    this._sort = !current
      ? { column, descending: false }
      : current.descending
        ? null
        : { column, descending: true };
    return this.load();
  }

  /**
   * Fetch the preview again, with the current row limit and order. `viewChanged`: the
   * service said the user's view of the dataset changed, so the shown count is stale too.
   */
  async load(viewChanged = false): Promise<void> {
    const generation = ++this._generation;
    this._limit = this._rowLimit();
    this._status = 'loading';
    this._error = null;
    if (viewChanged) {
      this._count = null;
    }
    this.stateChanged.emit();
    void this._loadCount(generation);
    const shown = this._detail;
    try {
      let [table, detail] = await this._fetch();
      // Two answers from either side of a policy change: ask once more for both, so that
      // the legend and the policies always describe the rows shown.
      if (readPreviewInfo(table.schema).viewVersion !== detail.version) {
        this._details.forget(this.dataset);
        [table, detail] = await this._fetch();
      }
      if (generation !== this._generation) {
        return;
      }
      this._dataModel = new ArrowDataModel(table);
      this._info = readPreviewInfo(table.schema);
      this._detail = detail;
      this._status = 'ready';
      this._everShown = true;
      if (shown && shown.version !== detail.version) {
        this._lastChange = { at: new Date(), changes: viewChanges(shown, detail) };
      }
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      // Access may just have been revoked: show nothing rather than stale rows.
      this._dataModel = null;
      this._info = null;
      this._detail = null;
      this._error = error as Error;
      this._status = 'error';
    }
    this.stateChanged.emit();
  }

  private _fetch(): Promise<[Table, DatasetDetail]> {
    return Promise.all([
      this._client.preview(this.dataset, {
        limit: this._limit,
        orderBy: this._sort ? [formatOrderKey(this._sort)] : []
      }),
      this._details.fetch(this.dataset)
    ]);
  }

  /** The count is apart: a preview shows without it, and it may come later. */
  private async _loadCount(generation: number): Promise<void> {
    let count: RowCount | null = null;
    try {
      count = await this._client.count(this.dataset);
    } catch {
      // The rows shown say enough; the count line is left out.
    }
    if (generation === this._generation) {
      this._count = count;
      this.stateChanged.emit();
    }
  }

  private _client: IWardenClient;
  private _rowLimit: () => number;
  private _details: PreviewModel.IDetails;
  private _status: LoadStatus = 'idle';
  private _error: Error | null = null;
  private _dataModel: ArrowDataModel | null = null;
  private _info: IPreviewInfo | null = null;
  private _detail: DatasetDetail | null = null;
  private _count: RowCount | null = null;
  private _limit = 0;
  private _sort: OrderKey | null = null;
  private _lastChange: IViewUpdate | null = null;
  private _generation = 0;
  private _everShown = false;
}

export namespace PreviewModel {
  /** Dataset details, shared with the sidebar so both show the same view. */
  export interface IDetails {
    fetch(name: string): Promise<DatasetDetail>;
    /** Drop a cached answer: it describes another version of the view. */
    forget(name: string): void;
  }

  export interface IOptions {
    dataset: string;
    client: IWardenClient;
    /** Read at every load, so a settings change applies to the next refresh. */
    rowLimit: () => number;
    details: IDetails;
  }
}
