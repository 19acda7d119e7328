import type { ServerConnection } from '@jupyterlab/services';
import { tableFromIPC, type Table } from 'apache-arrow';

import type {
  CatalogPage,
  DatasetDetail,
  Principal,
  Snippet,
  SnippetFlavour
} from '../common/api';
import { datasetRoute, requestAPI, WardenRequestError } from './handler';
import type { IWardenClient } from './tokens';

/** The typed routes of the Warden API, as seen from the browser. */
export class WardenClient implements IWardenClient {
  constructor(options: WardenClient.IOptions = {}) {
    this._currentNotebook = options.currentNotebook ?? (() => null);
    this._serverSettings = options.serverSettings;
  }

  whoami(): Promise<Principal> {
    return requestAPI<Principal>('whoami', this._options('extension'));
  }

  listDatasets(): Promise<CatalogPage> {
    return requestAPI<CatalogPage>('datasets', this._options('catalog'));
  }

  getDataset(name: string): Promise<DatasetDetail> {
    return requestAPI<DatasetDetail>(
      datasetRoute(name),
      this._options('catalog')
    );
  }

  async preview(
    name: string,
    limit: number,
    notebookPath?: string | null
  ): Promise<Table> {
    const bytes = await requestAPI(datasetRoute(name, 'preview'), {
      ...this._options('preview', notebookPath),
      query: { limit },
      responseType: 'arraybuffer'
    });
    try {
      return tableFromIPC(new Uint8Array(bytes));
    } catch (error) {
      throw new WardenRequestError(
        'internal',
        `The preview is not a readable Arrow stream: ${(error as Error).message}`
      );
    }
  }

  snippet(
    name: string,
    flavour: SnippetFlavour,
    notebookPath?: string | null
  ): Promise<Snippet> {
    return requestAPI<Snippet>(datasetRoute(name, 'snippet'), {
      ...this._options('extension', notebookPath),
      query: { flavour }
    });
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
  }
}
