import type { JupyterFrontEnd } from '@jupyterlab/application';
import {
  InputDialog,
  showErrorMessage,
  type MainAreaWidget,
  type WidgetTracker
} from '@jupyterlab/apputils';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { TranslationBundle } from '@jupyterlab/translation';
import { codeIcon, refreshIcon } from '@jupyterlab/ui-components';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { describeError } from './handler';
import { wardenIcon } from './icons';
import type { CatalogModel } from './panels/catalog';
import type { DetailsModel } from './panels/details';
import { PreviewPanel } from './panels/preview';
import { insertCodeCell, looksLikeCredential } from './snippet';
import {
  CATALOG_WIDGET_ID,
  CommandIDs,
  type IWardenClient,
  type IWardenSettings
} from './tokens';

export interface ICommandContext {
  app: JupyterFrontEnd;
  client: IWardenClient;
  catalog: CatalogModel;
  details: DetailsModel;
  notebooks: INotebookTracker;
  previews: WidgetTracker<MainAreaWidget<PreviewPanel>>;
  settings: () => IWardenSettings;
  trans: TranslationBundle;
}

export function addCommands(context: ICommandContext): void {
  const { app, catalog, trans } = context;
  const { commands } = app;

  commands.addCommand(CommandIDs.insertSnippet, {
    label: args =>
      args.dataset
        ? trans.__('Insert Access Snippet for %1', args.dataset)
        : trans.__('Insert Access Snippet'),
    caption: trans.__(
      'Add a code cell that loads the dataset, enforced for you, into the active notebook'
    ),
    icon: codeIcon,
    describedBy: DATASET_ARGS,
    execute: async args => {
      const title = trans.__('Insert Access Snippet');
      const dataset = await resolveDataset(context, args, title);
      if (dataset) {
        await insertSnippet(context, dataset).catch(error =>
          showErrorMessage(title, describeError(error))
        );
      }
    }
  });

  commands.addCommand(CommandIDs.preview, {
    label: args =>
      args.dataset
        ? trans.__('Preview %1', args.dataset)
        : trans.__('Preview Dataset'),
    caption: trans.__(
      'Show the first rows of the dataset, as you may see them'
    ),
    icon: wardenIcon,
    describedBy: DATASET_ARGS,
    execute: async args => {
      const dataset = await resolveDataset(
        context,
        args,
        trans.__('Preview Dataset')
      );
      return dataset ? openPreview(context, dataset) : undefined;
    }
  });

  commands.addCommand(CommandIDs.refreshCatalog, {
    label: trans.__('Refresh Warden Catalog'),
    caption: trans.__('Fetch the catalog and your access again'),
    icon: refreshIcon,
    execute: () => catalog.refresh()
  });

  commands.addCommand(CommandIDs.showCatalog, {
    label: trans.__('Show Warden Catalog'),
    icon: wardenIcon,
    execute: () => app.shell.activateById(CATALOG_WIDGET_ID)
  });
}

const DATASET_ARGS = {
  args: {
    type: 'object',
    properties: {
      dataset: {
        type: 'string',
        description:
          'Dataset name, `database.table`; the selected one if omitted'
      }
    }
  }
};

/**
 * The dataset a command acts on: the one in its arguments, else the one
 * selected in the catalog (a right-click selects too), else the user's pick.
 */
async function resolveDataset(
  context: ICommandContext,
  args: ReadonlyPartialJSONObject,
  title: string
): Promise<string | null> {
  const { catalog, trans } = context;
  if (typeof args.dataset === 'string' && args.dataset) {
    return args.dataset;
  }
  if (catalog.selected) {
    return catalog.selected;
  }
  // The user is asking now: a catalog that failed to load gets another try.
  await (catalog.status === 'error' ? catalog.refresh() : catalog.whenLoaded());
  const names = catalog.datasets.map(dataset => dataset.name);
  if (!names.length) {
    await showErrorMessage(
      title,
      catalog.error
        ? describeError(catalog.error)
        : trans.__('No dataset is shared with you.')
    );
    return null;
  }
  const choice = await InputDialog.getItem({
    title,
    label: trans.__('Dataset'),
    items: names
  });
  return choice.button.accept ? choice.value : null;
}

async function openPreview(
  context: ICommandContext,
  dataset: string
): Promise<MainAreaWidget<PreviewPanel>> {
  const { app, client, details, previews, settings, trans } = context;
  let widget = previews.find(w => w.content.model.dataset === dataset);
  if (!widget) {
    widget = PreviewPanel.createWidget({
      dataset,
      client,
      rowLimit: () => settings().previewRowLimit,
      detail: name => details.fetch(name),
      trans
    });
    void previews.add(widget);
    app.shell.add(widget, 'main');
  }
  app.shell.activateById(widget.id);
  await widget.content.model.load();
  return widget;
}

/**
 * Fetch the service's snippet first, so a refusal leaves no empty notebook
 * behind; then write it into the active notebook, or a new one.
 */
async function insertSnippet(
  context: ICommandContext,
  dataset: string
): Promise<void> {
  const { app, client, notebooks, settings, trans } = context;
  const current = notebooks.currentWidget;
  const snippet = await client.snippet(
    dataset,
    settings().snippetFlavour,
    current?.context.path ?? null
  );
  if (looksLikeCredential(snippet.code)) {
    throw new Error(
      trans.__(
        'The snippet for %1 appears to contain a credential, so it was not inserted.',
        dataset
      )
    );
  }
  const panel = current ?? (await createNotebook(context));
  insertCodeCell(panel.content, snippet.code, { reuseEmptyCell: !current });
  app.shell.activateById(panel.id);
}

async function createNotebook(
  context: ICommandContext
): Promise<NotebookPanel> {
  const { app, trans } = context;
  if (!app.commands.hasCommand(NEW_NOTEBOOK_COMMAND)) {
    throw new Error(trans.__('Open a notebook first.'));
  }
  // Naming the default kernel skips the kernel picker.
  const kernelName = app.serviceManager.kernelspecs.specs?.default;
  const panel = (await app.commands.execute(
    NEW_NOTEBOOK_COMMAND,
    kernelName ? { kernelName } : {}
  )) as NotebookPanel;
  await panel.context.ready;
  return panel;
}

const NEW_NOTEBOOK_COMMAND = 'notebook:create-new';
