import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  IThemeManager,
  WidgetTracker,
  type MainAreaWidget
} from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { WardenClient } from './client';
import { addCommands } from './commands';
import { followViews, LiveViews } from './live';
import { CatalogModel } from './panels/catalog';
import { DetailsModel } from './panels/details';
import type { PreviewPanel } from './panels/preview';
import { readSettings } from './settings';
import {
  CATALOG_WIDGET_ID,
  CommandIDs,
  DEFAULT_SETTINGS,
  IWardenClient,
  PLUGIN_ID,
  TRANSLATION_DOMAIN,
  type IWardenSettings
} from './tokens';
import { IdentityStatus } from './widgets/identityStatus';
import { WardenSidebar } from './widgets/sidebar';

export * from './tokens';

/**
 * Catalog sidebar, dataset details, enforced preview and access snippets.
 *
 * Activation only builds widgets and starts requests: nothing here waits on
 * the network, so JupyterLab starts as fast without the service as with it.
 */
const catalogPlugin: JupyterFrontEndPlugin<IWardenClient> = {
  id: PLUGIN_ID,
  description:
    'Browse governed datasets, preview them as policies allow, and insert access snippets.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [
    ISettingRegistry,
    ITranslator,
    ICommandPalette,
    ILayoutRestorer,
    IThemeManager,
    IStateDB
  ],
  provides: IWardenClient,
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    themeManager: IThemeManager | null,
    state: IStateDB | null
  ): IWardenClient => {
    // User Timing marks: bench/jupyter.mjs reads the `warden:activate` measure.
    const activateStart = performance.mark('warden:activate:start');
    const trans = (translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
    const client = new WardenClient({
      currentNotebook: () => notebooks.currentWidget?.context.path ?? null
    });
    const catalog = new CatalogModel(client);
    const details = new DetailsModel(client);
    catalog.selectionChanged.connect((_, name) => void details.show(name));
    // Dataset actions are disabled while the catalog cannot be loaded or the service is not
    // answering (the live view stream or a probe says so first): they would fail too.
    const updateActions = () => {
      const enabled =
        catalog.status !== 'error' && client.connection.status === 'up';
      if (details.actionsEnabled !== enabled) {
        details.actionsEnabled = enabled;
        app.commands.notifyCommandChanged(CommandIDs.insertSnippet);
        app.commands.notifyCommandChanged(CommandIDs.preview);
      }
    };
    catalog.stateChanged.connect(updateActions);
    client.connection.changed.connect(updateActions);

    let settings: IWardenSettings = { ...DEFAULT_SETTINGS };
    const previews = new WidgetTracker<MainAreaWidget<PreviewPanel>>({
      namespace: 'warden-preview'
    });
    addCommands({
      app,
      client,
      catalog,
      details,
      notebooks,
      previews,
      settings: () => settings,
      trans
    });

    const sidebar = new WardenSidebar({
      catalog,
      details,
      commands: app.commands,
      translator: translator ?? nullTranslator,
      trans
    });
    app.shell.add(sidebar, 'left', { rank: 850 });
    restorer?.add(sidebar, CATALOG_WIDGET_ID);
    // Open previews come back after a reload, and so does the selected dataset.
    void restorer?.restore(previews, {
      command: CommandIDs.preview,
      args: widget => ({ dataset: widget.content.model.dataset }),
      name: widget => widget.content.model.dataset
    });
    if (state) {
      void restoreSelection(state, catalog);
    }

    if (palette) {
      const category = trans.__('Warden');
      for (const command of [
        CommandIDs.showCatalog,
        CommandIDs.refreshCatalog,
        CommandIDs.preview,
        CommandIDs.insertSnippet
      ]) {
        palette.addItem({ command, category });
      }
    }

    themeManager?.themeChanged.connect(() =>
      previews.forEach(widget => widget.content.refreshStyle())
    );

    // When the service is back, reload what failed while it was away. Previews are left to
    // the view stream's update that follows it (a failed preview shows no version, so it
    // reloads there), so that each is fetched once.
    client.connection.changed.connect((_, status) => {
      if (status !== 'up') {
        return;
      }
      if (catalog.status === 'error') {
        void catalog.refresh();
      }
      if (details.status === 'error') {
        void details.show(details.name);
      }
    });

    // What the user sees follows the service's pushed view versions (policy changes).
    const live = new LiveViews({ client });
    live.changed.connect((_, change) =>
      followViews(change, catalog, details, previews)
    );

    void catalog.refresh();
    live.start();
    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(registry => {
          const apply = () => {
            settings = readSettings(registry.composite);
          };
          apply();
          registry.changed.connect(apply);
        })
        .catch(reason =>
          console.error('Warden: the settings could not be loaded.', reason)
        );
    }
    performance.measure('warden:activate', activateStart.name);
    return client;
  }
};

const SELECTION_STATE_KEY = `${PLUGIN_ID}:selection`;

/** Select again the dataset selected before the reload, if it is still there; then keep track. */
async function restoreSelection(
  state: IStateDB,
  catalog: CatalogModel
): Promise<void> {
  const saved = await state.fetch(SELECTION_STATE_KEY).catch(() => null);
  // The first catalog that loads decides (it may load only once the service
  // is back); a dataset the user picked meanwhile wins.
  const reselect = () => {
    catalog.refreshed.disconnect(reselect);
    if (
      typeof saved === 'string' &&
      !catalog.selected &&
      catalog.datasets.some(dataset => dataset.name === saved)
    ) {
      catalog.select(saved);
    }
  };
  await catalog.whenLoaded();
  if (catalog.status === 'ready') {
    reselect();
  } else {
    catalog.refreshed.connect(reselect);
  }
  catalog.selectionChanged.connect((_, name) => {
    void state.save(SELECTION_STATE_KEY, name);
  });
}

/** "Warden: alice (analysts)" in the status bar; a click opens the catalog. */
const identityStatusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-warden:identity-status',
  description: 'Shows in the status bar whom Warden sees as the user.',
  autoStart: true,
  requires: [IWardenClient],
  optional: [IStatusBar, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    client: IWardenClient,
    statusBar: IStatusBar | null,
    translator: ITranslator | null
  ): void => {
    if (!statusBar) {
      return;
    }
    const trans = (translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
    const model = new IdentityStatus.Model(client);
    const item = new IdentityStatus(model, trans);
    item.node.addEventListener('click', () => {
      void app.commands.execute(CommandIDs.showCatalog);
    });
    statusBar.registerStatusItem(identityStatusPlugin.id, {
      item,
      align: 'left',
      rank: 5
    });
    client.connection.changed.connect((_, status) => {
      if (status === 'up' && model.error) {
        void model.refresh();
      }
    });
    void model.refresh();
  }
};

const plugins: JupyterFrontEndPlugin<unknown>[] = [
  catalogPlugin,
  identityStatusPlugin
];

export default plugins;
