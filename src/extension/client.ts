import type { ServerConnection } from '@jupyterlab/services';
import { tableFromIPC, type Table } from 'apache-arrow';

import {
  VIEW_EVENT,
  type CatalogPage,
  type DatasetDetail,
  type Health,
  type Principal,
  type RowCount,
  type Snippet,
  type SnippetFlavour,
  type ViewVersions
} from '../common/api';
import { ServiceConnection } from './connection';
import {
  datasetRoute,
  requestAPI,
  WardenRequestError,
  type IRequestOptions
} from './handler';
import { readEvents } from './live';
import type { IPreviewRequest, IWardenClient } from './tokens';

/**
 * The typed routes of the Warden API, as seen from the browser. Every
 * outcome is reported to `connection`, which notices the service going away
 * and coming back.
 */
export class WardenClient implements IWardenClient {
  constructor(options: WardenClient.IOptions = {}) {
    this._currentNotebook = options.currentNotebook ?? (() => null);
    this._serverSettings = options.serverSettings;
    this.connection = new ServiceConnection({
      probe: () => this.health(),
      ...options.retry
    });
  }

  readonly connection: ServiceConnection;

  health(): Promise<Health> {
    return this._json<Health>('health', this._options('extension'));
  }

  whoami(): Promise<Principal> {
    return this._json<Principal>('whoami', this._options('extension'));
  }

  listDatasets(): Promise<CatalogPage> {
    return this._json<CatalogPage>('datasets', this._options('catalog'));
  }

  getDataset(name: string): Promise<DatasetDetail> {
    return this._json<DatasetDetail>(
      datasetRoute(name),
      this._options('catalog')
    );
  }

  async preview(name: string, request: IPreviewRequest): Promise<Table> {
    const bytes = await this._track(
      requestAPI(datasetRoute(name, 'preview'), {
        ...this._options('preview', request.notebookPath),
        query: { limit: request.limit, orderBy: request.orderBy },
        responseType: 'arraybuffer'
      })
    );
    try {
      return tableFromIPC(new Uint8Array(bytes));
    } catch (error) {
      throw new WardenRequestError(
        'internal',
        `The preview is not a readable Arrow stream: ${(error as Error).message}`
      );
    }
  }

  count(name: string): Promise<RowCount> {
    return this._json<RowCount>(
      datasetRoute(name, 'count'),
      this._options('preview')
    );
  }

  async *views(signal: AbortSignal): AsyncGenerator<ViewVersions> {
    const body = await this._track(
      requestAPI('events', {
        ...this._options('extension'),
        responseType: 'stream',
        signal
      })
    );
    for await (const event of readEvents(body)) {
      if (event.event === VIEW_EVENT) {
        yield JSON.parse(event.data) as ViewVersions;
      }
    }
  }

  snippet(
    name: string,
    flavour: SnippetFlavour,
    notebookPath?: string | null
  ): Promise<Snippet> {
    return this._json<Snippet>(datasetRoute(name, 'snippet'), {
      ...this._options('extension', notebookPath),
      query: { flavour }
    });
  }

  private _json<T>(
    route: string,
    options: IRequestOptions & { responseType?: 'json' }
  ): Promise<T> {
    return this._track(requestAPI<T>(route, options));
  }

  private _track<T>(request: Promise<T>): Promise<T> {
    return request.then(
      value => {
        this.connection.succeeded();
        return value;
      },
      error => {
        this.connection.failed(error);
        throw error;
      }
    );
  }

  private _options(
    client: 'catalog' | 'preview' | 'extension',
    notebookPath?: string | null
  ) {
    return {
      client,
      notebookPath:
        notebookPath === undefined ? this._currentNotebook() : notebookPath,
      serverSettings: this._serverSettings
    };
  }

  private _currentNotebook: () => string | null;
  private _serverSettings: ServerConnection.ISettings | undefined;
}

export namespace WardenClient {
  export interface IOptions {
    /** Path of the notebook the user is working in, for the audit log. */
    currentNotebook?: () => string | null;
    serverSettings?: ServerConnection.ISettings;
    /** Backoff of the availability probe while the service is down. */
    retry?: { firstDelayMs?: number; maxDelayMs?: number };
  }
}
