import { Token } from '@lumino/coreutils';
import type { Table } from 'apache-arrow';

import type {
  CatalogPage,
  DatasetDetail,
  Principal,
  Snippet,
  SnippetFlavour
} from '../common/api';

/** The id of the main plugin, which also owns the settings schema. */
export const PLUGIN_ID = 'jupyterlab-warden:plugin';

/** Gettext domain of this extension's strings. */
export const TRANSLATION_DOMAIN = 'jupyterlab_warden';

/** Widget id of the catalog sidebar. */
export const CATALOG_WIDGET_ID = 'warden-catalog';

/** Namespace of the Jupyter server extension routes. */
export const SERVER_NAMESPACE = 'warden';

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
  previewRowLimit: 100,
  snippetFlavour: 'pandas'
};

/**
 * Calls to the Warden service, through the Jupyter server extension.
 *
 * `notebookPath`, when given, overrides the current notebook as the one
 * reported to the audit log.
 */
export interface IWardenClient {
  whoami(): Promise<Principal>;
  listDatasets(): Promise<CatalogPage>;
  getDataset(name: string): Promise<DatasetDetail>;
  preview(
    name: string,
    limit: number,
    notebookPath?: string | null
  ): Promise<Table>;
  snippet(
    name: string,
    flavour: SnippetFlavour,
    notebookPath?: string | null
  ): Promise<Snippet>;
}

export const IWardenClient = new Token<IWardenClient>(
  'jupyterlab-warden:IWardenClient',
  'Calls the Warden policy service on behalf of the signed-in user.'
);
