import { showErrorMessage } from '@jupyterlab/apputils';
import { NotebookModel, type NotebookPanel } from '@jupyterlab/notebook';
import { NBTestUtils } from '@jupyterlab/notebook/lib/testutils';
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import plugins from '../index';
import { readSettings } from '../settings';
import { CATALOG_WIDGET_ID, CommandIDs, type IWardenClient } from '../tokens';
import { CATALOG, silenceYdocWarnings } from './fixtures';

jest.mock('@jupyterlab/apputils', () => ({
  ...jest.requireActual('@jupyterlab/apputils'),
  showErrorMessage: jest.fn(() => Promise.resolve())
}));

const SNIPPET_CODE =
  'import warden\ndf = warden.connect().scan_as_polars("drug_xyz.trial_july2020")';

interface IRoute {
  status: number;
  body: unknown;
}

/** Replace fetch: answer by route, remember every request. */
function serve(routes: Record<string, IRoute | 'never'>): Request[] {
  const requests: Request[] = [];
  jest.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    requests.push(request);
    const path = new URL(request.url).pathname.replace(
      /^.*\/warden\/api\/v1\//,
      ''
    );
    const route = routes[path];
    if (route === 'never') {
      return new Promise<Response>(() => undefined);
    }
    if (!route) {
      return new Response('not here', { status: 404 });
    }
    return new Response(JSON.stringify(route.body), { status: route.status });
  });
  return requests;
}

function fakeApp() {
  return {
    commands: new CommandRegistry(),
    shell: { add: jest.fn(), activateById: jest.fn() },
    serviceManager: { kernelspecs: { specs: null } }
  };
}

const settingRegistry = (composite: Record<string, unknown>) => ({
  load: async () => ({ composite, changed: { connect: () => undefined } })
});

function activate(
  app: ReturnType<typeof fakeApp>,
  notebooks: { currentWidget: unknown },
  settings: unknown = null
): IWardenClient {
  const [catalogPlugin] = plugins;
  return catalogPlugin.activate(
    app as any,
    notebooks,
    settings,
    null,
    null,
    null,
    null
  ) as IWardenClient;
}

afterEach(() => {
  jest.restoreAllMocks();
  (showErrorMessage as jest.Mock).mockClear();
});

describe('catalog plugin', () => {
  it('activates without waiting for the catalog request it starts', () => {
    // The catalog request never answers: activation must return regardless.
    const requests = serve({ datasets: 'never' });
    const app = fakeApp();
    const client = activate(app, { currentWidget: null });

    expect(client).toHaveProperty('listDatasets');
    expect(client).not.toHaveProperty('then');
    expect(app.shell.add).toHaveBeenCalledWith(
      expect.objectContaining({ id: CATALOG_WIDGET_ID }),
      'left',
      { rank: 850 }
    );
    expect(
      requests.map(r => [
        new URL(r.url).pathname,
        r.headers.get('X-Warden-Client')
      ])
    ).toEqual([
      [expect.stringMatching(/\/warden\/api\/v1\/datasets$/), 'catalog']
    ]);
    for (const id of Object.values(CommandIDs)) {
      expect(app.commands.hasCommand(id)).toBe(true);
    }
    // The activation time is measured for bench/jupyter.mjs.
    expect(performance.getEntriesByName('warden:activate')).toHaveLength(1);
  });
});

describe('insert-snippet command', () => {
  function notebookPanel(): NotebookPanel {
    const content = NBTestUtils.createNotebook();
    const model = new NotebookModel();
    model.sharedModel.insertCells(0, [{ cell_type: 'code', source: 'x = 1' }]);
    content.model = model;
    Widget.attach(content, document.body);
    return {
      id: 'nb-1',
      content,
      context: { path: 'work/trial.ipynb' }
    } as any;
  }

  const sources = (panel: NotebookPanel) =>
    panel.content.widgets.map(cell => cell.model.sharedModel.getSource());

  beforeEach(silenceYdocWarnings);

  it('inserts the service snippet, in the configured flavour, below the active cell', async () => {
    const requests = serve({
      datasets: { status: 200, body: CATALOG },
      'datasets/drug_xyz.trial_july2020/snippet': {
        status: 200,
        body: {
          dataset: 'drug_xyz.trial_july2020',
          flavour: 'polars',
          language: 'python',
          code: SNIPPET_CODE
        }
      }
    });
    const app = fakeApp();
    const panel = notebookPanel();
    activate(
      app,
      { currentWidget: panel },
      settingRegistry({ snippetFlavour: 'polars' })
    );
    await new Promise(resolve => setTimeout(resolve, 0));

    await app.commands.execute(CommandIDs.insertSnippet, {
      dataset: 'drug_xyz.trial_july2020'
    });

    expect(sources(panel)).toEqual(['x = 1', SNIPPET_CODE]);
    expect(app.shell.activateById).toHaveBeenCalledWith('nb-1');
    const snippetRequest = requests.find(r => r.url.includes('/snippet'))!;
    expect(new URL(snippetRequest.url).searchParams.get('flavour')).toBe(
      'polars'
    );
    expect(snippetRequest.headers.get('X-Warden-Client')).toBe('extension');
    expect(snippetRequest.headers.get('X-Warden-Notebook')).toBe(
      'work/trial.ipynb'
    );
    expect(showErrorMessage).not.toHaveBeenCalled();
  });

  it('shows the service error and inserts nothing when the snippet is refused', async () => {
    serve({
      datasets: { status: 200, body: CATALOG },
      'datasets/sales.orders/snippet': {
        status: 403,
        body: {
          error: {
            code: 'forbidden',
            message: 'alice may not read sales.orders'
          }
        }
      }
    });
    const app = fakeApp();
    const panel = notebookPanel();
    activate(app, { currentWidget: panel });

    await app.commands.execute(CommandIDs.insertSnippet, {
      dataset: 'sales.orders'
    });

    expect(sources(panel)).toEqual(['x = 1']);
    expect(showErrorMessage).toHaveBeenCalledWith(
      'Insert Access Snippet',
      'alice may not read sales.orders (forbidden)'
    );
  });
});

describe('readSettings', () => {
  it('takes valid values and falls back to defaults otherwise', () => {
    expect(
      readSettings({ previewRowLimit: 250, snippetFlavour: 'arrow' })
    ).toEqual({
      previewRowLimit: 250,
      snippetFlavour: 'arrow'
    });
    expect(
      readSettings({ previewRowLimit: 0, snippetFlavour: 'spark' })
    ).toEqual({
      previewRowLimit: 100,
      snippetFlavour: 'pandas'
    });
    expect(readSettings({})).toEqual({
      previewRowLimit: 100,
      snippetFlavour: 'pandas'
    });
  });
});
