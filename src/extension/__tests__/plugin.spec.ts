import type { JupyterFrontEnd } from '@jupyterlab/application';
import { showErrorMessage } from '@jupyterlab/apputils';
import { NotebookModel, type NotebookPanel } from '@jupyterlab/notebook';
import { NBTestUtils } from '@jupyterlab/notebook/lib/testutils';
import { StateDB } from '@jupyterlab/statedb';
import type { MainAreaWidget } from '@jupyterlab/apputils';
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Utf8 } from 'apache-arrow';

import { PREVIEW_ROWS, VIEW_EVENT, type ViewVersions } from '../../common/api';
import plugins from '../index';
import type { PreviewPanel } from '../panels/preview';
import { readSettings } from '../settings';
import { CATALOG_WIDGET_ID, CommandIDs, type IWardenClient } from '../tokens';
import {
  arrowStream,
  CATALOG,
  silenceYdocWarnings,
  TRIAL_DETAIL
} from './fixtures';

jest.mock('@jupyterlab/apputils', () => ({
  ...jest.requireActual('@jupyterlab/apputils'),
  showErrorMessage: jest.fn(() => Promise.resolve())
}));

const SNIPPET_CODE =
  'import warden\ndf = warden.connect().scan_as_polars("drug_xyz.trial_july2020")';

interface IRoute {
  status: number;
  /** Sent as JSON, except bytes and streams (a preview's Arrow, the view stream), sent as they are. */
  body: unknown;
}

/**
 * Replace fetch: answer by route, remember every request. A list of answers
 * is served in turn, its last one from then on. The view stream (`events`)
 * stays open without a word unless a route says otherwise.
 */
function serve(routes: Record<string, IRoute | IRoute[] | 'never'>): Request[] {
  routes = { events: 'never', ...routes };
  const requests: Request[] = [];
  jest.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    requests.push(request);
    const path = new URL(request.url).pathname.replace(
      /^.*\/warden\/api\/v1\//,
      ''
    );
    const answers = routes[path];
    if (answers === 'never') {
      return new Promise<Response>(() => undefined);
    }
    const route = Array.isArray(answers)
      ? answers.length > 1
        ? answers.shift()
        : answers[0]
      : answers;
    if (!route) {
      return new Response('not here', { status: 404 });
    }
    const raw =
      route.body instanceof Uint8Array || route.body instanceof ReadableStream;
    return new Response(
      raw ? (route.body as BodyInit) : JSON.stringify(route.body),
      { status: route.status }
    );
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
  settings: unknown = null,
  state: StateDB | null = null
): IWardenClient {
  const [catalogPlugin] = plugins;
  return catalogPlugin.activate(
    app as unknown as JupyterFrontEnd,
    notebooks,
    settings,
    null,
    null,
    null,
    null,
    state
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
      [expect.stringMatching(/\/warden\/api\/v1\/datasets$/), 'catalog'],
      // The stream of the user's view versions (policy changes), opened once.
      [expect.stringMatching(/\/warden\/api\/v1\/events$/), 'extension']
    ]);
    for (const id of Object.values(CommandIDs)) {
      expect(app.commands.hasCommand(id)).toBe(true);
    }
    // The activation time is measured for bench/jupyter.mjs.
    expect(performance.getEntriesByName('warden:activate')).toHaveLength(1);
  });
});

describe('selection after a reload', () => {
  it('selects again the dataset selected before, once the catalog has it', async () => {
    const requests = serve({
      datasets: { status: 200, body: CATALOG },
      'datasets/sales.orders': {
        status: 200,
        body: { ...CATALOG.datasets[2], columns: [], rowFilter: null, policies: [], defaultOrder: [], version: 'v1' }
      }
    });
    const state = new StateDB();
    await state.save('jupyterlab-warden:plugin:selection', 'sales.orders');
    activate(fakeApp(), { currentWidget: null }, null, state);
    await new Promise(resolve => setTimeout(resolve, 0));
    // Selecting shows the details: their request says what was selected.
    expect(requests.map(r => new URL(r.url).pathname.split('/v1/')[1])).toEqual([
      'datasets',
      'events',
      'datasets/sales.orders'
    ]);
  });

  it('keeps the shown details, actions disabled, when a refresh meets an outage', async () => {
    const outage = {
      status: 503,
      body: { error: { code: 'service_unavailable', message: 'restarting' } }
    };
    const requests = serve({
      datasets: [{ status: 200, body: CATALOG }, outage],
      'datasets/sales.orders': {
        status: 200,
        body: { ...CATALOG.datasets[2], columns: [], rowFilter: null, policies: [], defaultOrder: [], version: 'v1' }
      },
      health: 'never'
    });
    const state = new StateDB();
    await state.save('jupyterlab-warden:plugin:selection', 'sales.orders');
    const app = fakeApp();
    activate(app, { currentWidget: null }, null, state);
    const sidebar = app.shell.add.mock.calls[0][0] as Widget;
    Widget.attach(sidebar, document.body);
    const insert = () =>
      sidebar.node.querySelector<HTMLButtonElement>(
        '.jp-warden-details[data-warden-dataset="sales.orders"] .jp-warden-insert-button'
      );
    for (let tries = 0; !insert() && tries < 100; tries++) {
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    expect(insert()!.disabled).toBe(false);

    await app.commands.execute(CommandIDs.refreshCatalog);
    for (let tries = 0; !insert()?.disabled && tries < 100; tries++) {
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    // Still there, not replaced by an error, and not asked for again while the service is away.
    expect(insert()!.disabled).toBe(true);
    expect(
      requests.filter(r => r.url.includes('datasets/sales.orders'))
    ).toHaveLength(1);
    sidebar.dispose();
  });

  it('forgets a dataset that is gone, and remembers the next selection', async () => {
    serve({ datasets: { status: 200, body: CATALOG } });
    const state = new StateDB();
    await state.save('jupyterlab-warden:plugin:selection', 'gone.table');
    const app = fakeApp();
    activate(app, { currentWidget: null }, null, state);
    await new Promise(resolve => setTimeout(resolve, 0));
    const sidebar = app.shell.add.mock.calls[0][0] as Widget;
    Widget.attach(sidebar, document.body);
    let item: HTMLElement | null = null;
    for (let tries = 0; !item && tries < 100; tries++) {
      await new Promise(resolve => setTimeout(resolve, 10));
      item = sidebar.node.querySelector<HTMLElement>(
        '[data-warden-dataset="warden.audit_log"]'
      );
    }
    expect(sidebar.node.querySelector('.jp-mod-selected')).toBeNull();
    item!.click();
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(await state.fetch('jupyterlab-warden:plugin:selection')).toBe(
      'warden.audit_log'
    );
    sidebar.dispose();
  });
});

describe('recovery', () => {
  beforeEach(() =>
    jest.useFakeTimers({ doNotFake: ['performance', 'queueMicrotask'] })
  );
  afterEach(() => jest.useRealTimers());

  const flush = async () => {
    for (let i = 0; i < 20; i++) {
      await Promise.resolve();
    }
  };

  it('disables dataset commands during an outage and reloads the catalog when the service is back', async () => {
    const outage = {
      status: 503,
      body: {
        error: {
          code: 'service_unavailable',
          message: 'The Warden service exited unexpectedly with code 0.'
        }
      }
    };
    const health = { status: 200, body: { status: 'ok' } };
    const requests = serve({
      datasets: [outage, { status: 200, body: CATALOG }],
      health: [outage, health]
    });
    const app = fakeApp();
    activate(app, { currentWidget: null });
    await flush();
    const paths = () =>
      requests
        .map(r => new URL(r.url).pathname.replace(/^.*\/v1\//, ''))
        .filter(path => path !== 'events');
    expect(paths()).toEqual(['datasets']);
    expect(app.commands.isEnabled(CommandIDs.preview)).toBe(false);
    expect(app.commands.isEnabled(CommandIDs.insertSnippet)).toBe(false);

    // The first probe finds the service still away, the second finds it back.
    jest.advanceTimersByTime(1000);
    await flush();
    expect(paths()).toEqual(['datasets', 'health']);
    jest.advanceTimersByTime(1999);
    await flush();
    expect(paths()).toEqual(['datasets', 'health']);
    jest.advanceTimersByTime(1);
    await flush();
    expect(paths()).toEqual(['datasets', 'health', 'health', 'datasets']);
    expect(app.commands.isEnabled(CommandIDs.preview)).toBe(true);

    // Up again: no more requests of its own.
    jest.advanceTimersByTime(120_000);
    await flush();
    expect(paths()).toHaveLength(4);
  });
});

describe('an outage found by the live view stream', () => {
  beforeEach(() =>
    jest.useFakeTimers({ doNotFake: ['performance', 'queueMicrotask'] })
  );
  afterEach(() => jest.useRealTimers());

  it('disables dataset commands before the user clicks anything, and enables them once the service is back', async () => {
    const outage = {
      status: 503,
      body: {
        error: { code: 'service_unavailable', message: 'restarting' }
      }
    };
    const flush = async () => {
      for (let i = 0; i < 20; i++) {
        await Promise.resolve();
      }
    };
    // The stream ends (the service died), and reconnecting finds it away.
    const requests = serve({
      datasets: { status: 200, body: CATALOG },
      events: [{ status: 200, body: '' }, outage],
      health: { status: 200, body: { status: 'ok' } }
    });
    const app = fakeApp();
    activate(app, { currentWidget: null });
    await flush();
    expect(app.commands.isEnabled(CommandIDs.preview)).toBe(true);
    jest.advanceTimersByTime(1000);
    await flush();
    expect(requests.map(r => new URL(r.url).pathname.split('/').pop())).toEqual(['datasets', 'events', 'events']);
    expect(app.commands.isEnabled(CommandIDs.preview)).toBe(false);
    expect(app.commands.isEnabled(CommandIDs.insertSnippet)).toBe(false);
    // The connection's probe finds it back.
    jest.advanceTimersByTime(1000);
    await flush();
    expect(app.commands.isEnabled(CommandIDs.preview)).toBe(true);
  });
});

describe('an open preview when the service is back', () => {
  beforeEach(() =>
    jest.useFakeTimers({ doNotFake: ['performance', 'queueMicrotask'] })
  );
  afterEach(() => jest.useRealTimers());

  const TRIAL = TRIAL_DETAIL.name;
  const outage = {
    status: 503,
    body: { error: { code: 'service_unavailable', message: 'restarting' } }
  };
  const VERSIONS: ViewVersions = {
    datasets: Object.fromEntries(
      CATALOG.datasets.map(d => [d.name, d.name === TRIAL ? 'v1' : 'other'])
    )
  };
  const rows = {
    status: 200,
    body: arrowStream(
      [{ name: 'patient_id', type: new Utf8(), values: ['P1', 'P2'] }],
      { 'warden.view_version': 'v1' }
    )
  };
  const count = { status: 200, body: { dataset: TRIAL, rows: 2, capped: false } };

  /** A view stream that pushes the versions, then stays open until `end()` (the service died). */
  function viewStream() {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
        c.enqueue(
          new TextEncoder().encode(
            `event: ${VIEW_EVENT}\ndata: ${JSON.stringify(VERSIONS)}\n\n`
          )
        );
      }
    });
    return { route: { status: 200, body }, end: () => controller.close() };
  }

  const flush = async () => {
    for (let i = 0; i < 50; i++) {
      await Promise.resolve();
    }
  };

  /** Activate, open the trial's preview, then refresh it into an outage (the service just died). */
  async function previewMeetsOutage(events: IRoute[]) {
    const requests = serve({
      datasets: { status: 200, body: CATALOG },
      [`datasets/${TRIAL}`]: { status: 200, body: TRIAL_DETAIL },
      [`datasets/${TRIAL}/preview`]: [rows, outage, rows],
      [`datasets/${TRIAL}/count`]: [count, outage, count],
      events,
      health: { status: 200, body: { status: 'ok' } }
    });
    const app = fakeApp();
    const client = activate(app, { currentWidget: null });
    // The catalog and the first versions are in before the user opens the preview.
    await flush();
    await app.commands.execute(CommandIDs.preview, { dataset: TRIAL });
    await flush();
    const preview = app.shell.add.mock.calls.find(
      ([widget]) => widget.id.startsWith('warden-preview-')
    )![0] as MainAreaWidget<PreviewPanel>;
    expect(preview.content.model.status).toBe('ready');
    await preview.content.model.load();
    await flush();
    expect(preview.content.model.status).toBe('error');
    expect(client.connection.status).toBe('down');
    // From here on: what recovery asks for.
    const asked = requests.length;
    const fetched = (route: string) =>
      requests
        .slice(asked)
        .filter(r => new URL(r.url).pathname.endsWith(`/${TRIAL}/${route}`))
        .length;
    return { preview, fetched };
  }

  it('fetches its rows and count once, when the view stream had ended with the service', async () => {
    const first = viewStream();
    const second = viewStream();
    const { preview, fetched } = await previewMeetsOutage([first.route, second.route]);
    first.end();
    await flush();
    // The connection's probe and the stream's reconnection, a second later, both find it back.
    jest.advanceTimersByTime(1000);
    await flush();
    await flush();
    expect(preview.content.model.status).toBe('ready');
    expect(preview.content.grid.cellText(1, 0)).toBe('P2');
    expect([fetched('preview'), fetched('count')]).toEqual([1, 1]);
    jest.advanceTimersByTime(60_000);
    await flush();
    expect([fetched('preview'), fetched('count')]).toEqual([1, 1]);
  });

  it('fetches its rows and count once, when the view stream stayed open', async () => {
    const { preview, fetched } = await previewMeetsOutage([viewStream().route]);
    jest.advanceTimersByTime(1000);
    await flush();
    await flush();
    expect(preview.content.model.status).toBe('ready');
    expect([fetched('preview'), fetched('count')]).toEqual([1, 1]);
    jest.advanceTimersByTime(60_000);
    await flush();
    expect([fetched('preview'), fetched('count')]).toEqual([1, 1]);
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
    } as unknown as NotebookPanel;
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
      },
      'datasets/sales.orders/snippet': {
        status: 200,
        body: {
          dataset: 'sales.orders',
          flavour: 'arrow',
          language: 'python',
          code: 'import warden\n\ntable = warden.connect().scan_as_arrow("sales.orders")\ntable.schema'
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

    const july = SNIPPET_CODE.replace('df =', 'trial_july2020 =');
    expect(sources(panel)).toEqual(['x = 1', july]);
    expect(app.shell.activateById).toHaveBeenCalledWith('nb-1');

    // The flavour chosen at insert time wins over the setting; warden is imported once.
    await app.commands.execute(CommandIDs.insertSnippet, {
      dataset: 'sales.orders',
      flavour: 'arrow'
    });
    expect(sources(panel)).toEqual([
      'x = 1',
      july,
      'orders = warden.connect().scan_as_arrow("sales.orders")\norders.schema'
    ]);
    expect(
      app.commands.label(CommandIDs.insertSnippet, { flavour: 'arrow' })
    ).toBe('Insert as pyarrow Table');

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
      'alice may not read sales.orders'
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

describe('the settings schema', () => {
  it('bounds the preview row limit as the service does', () => {
    const schema = JSON.parse(
      readFileSync(join(__dirname, '../../../schema/plugin.json'), 'utf8')
    );
    const limit = schema.properties.previewRowLimit;
    expect([limit.default, limit.maximum]).toEqual([
      PREVIEW_ROWS.default,
      PREVIEW_ROWS.max
    ]);
    expect(readSettings({ previewRowLimit: PREVIEW_ROWS.max + 1 })).toEqual(
      readSettings({})
    );
  });
});
