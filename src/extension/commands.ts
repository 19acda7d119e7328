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

import { SNIPPET_FLAVOURS, type SnippetFlavour } from '../common/api';
import { explainError } from './errors';
import { wardenIcon } from './icons';
import type { CatalogModel } from './panels/catalog';
import type { DetailsModel } from './panels/details';
import { PreviewPanel } from './panels/preview';
import {
  adaptSnippet,
  boundNames,
  importsWarden,
  insertCodeCell,
  looksLikeCredential,
  variableName
} from './snippet';
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
  /** Dataset details, shared by the sidebar and the previews. */
  details: DetailsModel;
  notebooks: INotebookTracker;
  previews: WidgetTracker<MainAreaWidget<PreviewPanel>>;
  settings: () => IWardenSettings;
  trans: TranslationBundle;
}

export function addCommands(context: ICommandContext): void {
  const { app, catalog, trans } = context;
  const { commands } = app;

  const flavourOf = (args: ReadonlyPartialJSONObject): SnippetFlavour =>
    SNIPPET_FLAVOURS.includes(args.flavour as SnippetFlavour)
      ? (args.flavour as SnippetFlavour)
      : context.settings().snippetFlavour;
  const flavourLabels: Record<SnippetFlavour, string> = {
    pandas: trans.__('pandas DataFrame'),
    arrow: trans.__('pyarrow Table'),
    polars: trans.__('polars DataFrame')
  };

  commands.addCommand(CommandIDs.insertSnippet, {
    label: args =>
      args.flavour
        ? trans.__('Insert as %1', flavourLabels[flavourOf(args)])
        : args.dataset
          ? trans.__('Insert Access Snippet for %1', args.dataset)
          : trans.__('Insert Access Snippet'),
    caption: args =>
      trans.__(
        'Add a code cell that loads the dataset, enforced for you, as a %1 (the default flavour is set in Settings)',
        flavourLabels[flavourOf(args)]
      ),
    icon: args => (args.flavour ? undefined : codeIcon),
    isEnabled: () => context.details.actionsEnabled,
    describedBy: DATASET_ARGS,
    execute: async args => {
      const title = trans.__('Insert Access Snippet');
      const dataset = await resolveDataset(context, args, title);
      if (dataset) {
        await insertSnippet(context, dataset, flavourOf(args)).catch(error =>
          showErrorMessage(title, explainError(error, trans).reason)
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
    isEnabled: () => context.details.actionsEnabled,
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
    execute: async () => {
      await catalog.refresh();
      // The details too, but not while the service is away: they stay shown, their actions disabled.
      if (catalog.status !== 'error') {
        await context.details.invalidate();
      }
    }
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
      },
      flavour: {
        type: 'string',
        enum: [...SNIPPET_FLAVOURS],
        description:
          'For the snippet: what to load the dataset into; the setting if omitted'
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
        ? explainError(catalog.error, trans).reason
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
      details,
      trans
    });
    void previews.add(widget);
    app.shell.add(widget, 'main');
  }
  app.shell.activateById(widget.id);
  // Not awaited: restoring the layout after a reload must not wait on the service.
  void widget.content.model.load();
  return widget;
}

/**
 * Fetch the service's snippet first, so a refusal leaves no empty notebook
 * behind; then write it into the active notebook, or a new one, under a
 * variable named after the dataset and importing `warden` once.
 */
async function insertSnippet(
  context: ICommandContext,
  dataset: string,
  flavour: SnippetFlavour
): Promise<void> {
  const { app, client, notebooks, trans } = context;
  const current = notebooks.currentWidget;
  const snippet = await client.snippet(
    dataset,
    flavour,
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
  insertCodeCell(panel.content, ({ above, all }) =>
    adaptSnippet(snippet.code, {
      variable: variableName(dataset, boundNames(all)),
      withImport: !importsWarden(above)
    })
  );
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
