import { VDomModel } from '@jupyterlab/ui-components';

import type { DatasetDetail } from '../../../common/api';
import type { IWardenClient } from '../../tokens';
import type { LoadStatus } from '../catalog/model';

/**
 * The dataset shown in the details section, and a per-session cache of the
 * details fetched so far (the preview reuses it for cell-mask markers).
 */
export class DetailsModel extends VDomModel {
  constructor(client: IWardenClient) {
    super();
    this._client = client;
  }

  get name(): string | null {
    return this._name;
  }

  get status(): LoadStatus {
    return this._status;
  }

  get detail(): DatasetDetail | null {
    return this._detail;
  }

  get error(): Error | null {
    return this._error;
  }

  /** Show a dataset (null: show nothing). */
  async show(name: string | null): Promise<void> {
    this._name = name;
    this._detail = null;
    this._error = null;
    this._status = name ? 'loading' : 'idle';
    this.stateChanged.emit();
    if (!name) {
      return;
    }
    try {
      const detail = await this.fetch(name);
      if (this._name === name) {
        this._detail = detail;
        this._status = 'ready';
      }
    } catch (error) {
      if (this._name === name) {
        this._error = error as Error;
        this._status = 'error';
      }
    }
    if (this._name === name) {
      this.stateChanged.emit();
    }
  }

  /** The details of a dataset, fetched once per session (failures are retried). */
  fetch(name: string): Promise<DatasetDetail> {
    let pending = this._cache.get(name);
    if (!pending) {
      pending = this._client.getDataset(name);
      const attempt = pending;
      attempt.catch(() => {
        if (this._cache.get(name) === attempt) {
          this._cache.delete(name);
        }
      });
      this._cache.set(name, pending);
    }
    return pending;
  }

  /** Forget cached details (policies may have changed) and reload the shown one. */
  invalidate(): Promise<void> {
    this._cache.clear();
    return this.show(this._name);
  }

  private _client: IWardenClient;
  private _cache = new Map<string, Promise<DatasetDetail>>();
  private _name: string | null = null;
  private _status: LoadStatus = 'idle';
  private _detail: DatasetDetail | null = null;
  private _error: Error | null = null;
}
