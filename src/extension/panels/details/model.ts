import { VDomModel } from '@jupyterlab/ui-components';

import type { DatasetDetail } from '../../../common/api';
import type { IWardenClient } from '../../tokens';
import { viewChanges, type IViewUpdate } from '../../words';
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

  /**
   * How the shown dataset's view changed at its last reload (a policy, the catalog or the
   * user's attributes), and when; null until it changes while shown.
   */
  get lastChange(): IViewUpdate | null {
    return this._lastChange;
  }

  /**
   * Whether the dataset's actions (preview, insert snippet) are offered:
   * not while the catalog cannot be loaded, as they would fail too.
   */
  get actionsEnabled(): boolean {
    return this._actionsEnabled;
  }

  set actionsEnabled(value: boolean) {
    if (value !== this._actionsEnabled) {
      this._actionsEnabled = value;
      this.stateChanged.emit();
    }
  }

  /** Show a dataset (null: show nothing); the same one again: keep it shown while it reloads. */
  async show(name: string | null): Promise<void> {
    if (name !== this._name || this._status === 'error') {
      this._detail = null;
      this._lastChange = null;
    }
    const shown = this._detail;
    this._name = name;
    this._error = null;
    this._status = name ? 'loading' : 'idle';
    const generation = ++this._generation;
    this.stateChanged.emit();
    if (!name) {
      return;
    }
    try {
      const detail = await this.fetch(name);
      if (generation === this._generation) {
        if (shown && shown.version !== detail.version) {
          this._lastChange = {
            at: new Date(),
            changes: viewChanges(shown, detail)
          };
        }
        this._detail = detail;
        this._status = 'ready';
      }
    } catch (error) {
      if (generation === this._generation) {
        this._error = error as Error;
        this._status = 'error';
      }
    }
    if (generation === this._generation) {
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

  /** Forget the cached details of one dataset (they describe another version of its view). */
  forget(name: string): void {
    this._cache.delete(name);
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
  private _actionsEnabled = true;
  private _lastChange: IViewUpdate | null = null;
  private _generation = 0;
}
