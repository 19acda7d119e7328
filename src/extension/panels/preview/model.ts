import { VDomModel } from '@jupyterlab/ui-components';

import type { DatasetDetail } from '../../../common/api';
import type { IWardenClient } from '../../tokens';
import type { LoadStatus } from '../catalog/model';
import {
  ArrowDataModel,
  readPreviewInfo,
  redactionsFromDetail,
  type IPreviewInfo
} from './datamodel';

/** The enforced first rows of one dataset, and what shaped them. */
export class PreviewModel extends VDomModel {
  constructor(options: PreviewModel.IOptions) {
    super();
    this.dataset = options.dataset;
    this._client = options.client;
    this._rowLimit = options.rowLimit;
    this._detail = options.detail;
  }

  readonly dataset: string;

  get status(): LoadStatus {
    return this._status;
  }

  get error(): Error | null {
    return this._error;
  }

  get dataModel(): ArrowDataModel | null {
    return this._dataModel;
  }

  get info(): IPreviewInfo | null {
    return this._info;
  }

  /** The row limit the shown rows were asked with. */
  get limit(): number {
    return this._limit;
  }

  /** Fetch the preview again, with the current row limit. */
  async load(): Promise<void> {
    const generation = ++this._generation;
    this._limit = this._rowLimit();
    this._status = 'loading';
    this._error = null;
    this.stateChanged.emit();
    // The details only add cell-mask markers: a preview without them still helps.
    const detail = this._detail(this.dataset).catch(() => null);
    try {
      const table = await this._client.preview(this.dataset, this._limit);
      const found = await detail;
      if (generation !== this._generation) {
        return;
      }
      this._dataModel = new ArrowDataModel(table, {
        redactions: found ? redactionsFromDetail(found) : undefined
      });
      this._info = readPreviewInfo(table.schema);
      this._status = 'ready';
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      // Access may just have been revoked: show nothing rather than stale rows.
      this._dataModel = null;
      this._info = null;
      this._error = error as Error;
      this._status = 'error';
    }
    this.stateChanged.emit();
  }

  private _client: IWardenClient;
  private _rowLimit: () => number;
  private _detail: (name: string) => Promise<DatasetDetail>;
  private _status: LoadStatus = 'idle';
  private _error: Error | null = null;
  private _dataModel: ArrowDataModel | null = null;
  private _info: IPreviewInfo | null = null;
  private _limit = 0;
  private _generation = 0;
}

export namespace PreviewModel {
  export interface IOptions {
    dataset: string;
    client: IWardenClient;
    /** Read at every load, so a settings change applies to the next refresh. */
    rowLimit: () => number;
    /** The dataset details, for the values its cell masks write. */
    detail: (name: string) => Promise<DatasetDetail>;
  }
}
