import { Token } from '@lumino/coreutils';
import type { Table } from 'apache-arrow';

import { PREVIEW_ROWS } from '../common/api';
import type { IServiceConnection } from './connection';

import type {
  CatalogPage,
  DatasetDetail,
  Health,
  Principal,
  RowCount,
  Snippet,
  SnippetFlavour,
  ViewVersions
} from '../common/api';

/** The id of the main plugin, which also owns the settings schema. */
export const PLUGIN_ID = 'jupyterlab-warden:plugin';

/** Gettext domain of this extension's strings. */
export const TRANSLATION_DOMAIN = 'jupyterlab_warden';

/** Widget id of the catalog sidebar. */
export const CATALOG_WIDGET_ID = 'warden-catalog';

export namespace CommandIDs {
  export const insertSnippet = 'warden:insert-snippet';
  export const preview = 'warden:preview';
  export const refreshCatalog = 'warden:refresh-catalog';
  export const showCatalog = 'warden:show-catalog';
}

/** Settings the extension reads, with their schema defaults. */
export interface IWardenSettings {
  previewRowLimit: number;
  snippetFlavour: SnippetFlavour;
}

export const DEFAULT_SETTINGS: IWardenSettings = {
  previewRowLimit: PREVIEW_ROWS.default,
  snippetFlavour: 'pandas'
};

/**
 * Calls to the Warden service, through the Jupyter server extension.
 *
 * `notebookPath`, when given, overrides the current notebook as the one
 * reported to the audit log.
 */
export interface IWardenClient {
  /** Whether the service answers, from the outcome of every call below. */
  readonly connection: IServiceConnection;
  health(): Promise<Health>;
  whoami(): Promise<Principal>;
  listDatasets(): Promise<CatalogPage>;
  getDataset(name: string): Promise<DatasetDetail>;
  /** The first enforced rows, with mask indicators, as Arrow. */
  preview(name: string, request: IPreviewRequest): Promise<Table>;
  /** How many rows the user may see in all (counted by the service, up to a limit). */
  count(name: string): Promise<RowCount>;
  /**
   * The versions of the user's views, now and whenever they change, while the service's
   * stream lasts (it ends when its credential expires); rejects when it cannot be opened.
   */
  views(signal: AbortSignal): AsyncIterable<ViewVersions>;
  snippet(
    name: string,
    flavour: SnippetFlavour,
    notebookPath?: string | null
  ): Promise<Snippet>;
}

export interface IPreviewRequest {
  limit: number;
  /** `orderBy` entries, applied to the masked view; none: the dataset's default order. */
  orderBy?: readonly string[];
  /** Overrides the current notebook as the one the audit log records. */
  notebookPath?: string | null;
}

export const IWardenClient = new Token<IWardenClient>(
  'jupyterlab-warden:IWardenClient',
  'Calls the Warden policy service on behalf of the signed-in user.'
);
