import { nullTranslator } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import { MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { CatalogBody } from '../panels/catalog/body';
import {
  CatalogModel,
  groupByDatabase,
  searchDatasets
} from '../panels/catalog/model';
import { WardenRequestError } from '../handler';
import { CommandIDs } from '../tokens';
import { CATALOG, FakeClient, summary } from './fixtures';

const names = (results: { dataset: { name: string } }[]) =>
  results.map(r => r.dataset.name);

describe('searchDatasets', () => {
  const datasets = CATALOG.datasets;

  it('returns everything for an empty query and no tags', () => {
    expect(names(searchDatasets(datasets, '   '))).toEqual([
      'drug_xyz.trial_july2020',
      'drug_xyz.adverse_events',
      'sales.orders',
      'warden.audit_log'
    ]);
  });

  it('matches names, descriptions, tags and columns, ignoring case', () => {
    expect(names(searchDatasets(datasets, 'ORDERS'))).toEqual(['sales.orders']);
    expect(names(searchDatasets(datasets, 'cohort'))).toEqual([
      'drug_xyz.trial_july2020'
    ]);
    expect(names(searchDatasets(datasets, 'finance'))).toEqual([
      'sales.orders'
    ]);
    expect(names(searchDatasets(datasets, 'severity'))).toEqual([
      'drug_xyz.adverse_events'
    ]);
    expect(names(searchDatasets(datasets, 'pii.contact'))).toEqual([
      'sales.orders'
    ]);
  });

  it('needs every word to match, each anywhere', () => {
    expect(names(searchDatasets(datasets, 'clinical ssn'))).toEqual([
      'drug_xyz.trial_july2020'
    ]);
    expect(names(searchDatasets(datasets, 'clinical amount'))).toEqual([]);
  });

  it('reports the columns that matched', () => {
    const [result] = searchDatasets(datasets, 'patient');
    expect(result.dataset.name).toBe('drug_xyz.trial_july2020');
    expect(result.matchedColumns).toEqual(['patient_id']);
    expect(searchDatasets(datasets, 'cohort')[0].matchedColumns).toEqual([]);
  });

  it('keeps only datasets carrying every active tag, on the dataset or a column', () => {
    expect(names(searchDatasets(datasets, '', new Set(['clinical'])))).toEqual([
      'drug_xyz.trial_july2020',
      'drug_xyz.adverse_events'
    ]);
    expect(
      names(searchDatasets(datasets, '', new Set(['clinical', 'pii.direct'])))
    ).toEqual(['drug_xyz.trial_july2020']);
    expect(
      names(searchDatasets(datasets, 'severity', new Set(['pii.direct'])))
    ).toEqual([]);
  });
});

describe('groupByDatabase', () => {
  it('groups by database, both levels in alphabetical order', () => {
    const results = searchDatasets(
      [
        summary('zeta.b'),
        summary('alpha.z'),
        summary('zeta.a'),
        summary('alpha.a')
      ],
      ''
    );
    expect(
      groupByDatabase(results).map(g => [
        g.database,
        g.results.map(r => r.dataset.table)
      ])
    ).toEqual([
      ['alpha', ['a', 'z']],
      ['zeta', ['a', 'b']]
    ]);
  });
});

describe('CatalogModel', () => {
  it('loads the catalog once and sorts the tags', async () => {
    const client = new FakeClient();
    const model = new CatalogModel(client);
    expect(model.status).toBe('idle');
    const loading = model.refresh();
    expect(model.status).toBe('loading');
    await loading;
    expect(model.status).toBe('ready');
    expect(model.datasets).toHaveLength(4);
    expect(model.tags).toEqual([
      'audit',
      'clinical',
      'finance',
      'phase3',
      'pii.contact',
      'pii.direct'
    ]);
    await model.whenLoaded();
    expect(client.calls).toEqual(['datasets']);
  });

  it('filters and groups from query and tag chips', async () => {
    const model = new CatalogModel(new FakeClient());
    await model.refresh();
    model.query = 'patient';
    expect(model.groups.map(g => g.database)).toEqual(['drug_xyz']);
    expect(names(model.results)).toEqual([
      'drug_xyz.trial_july2020',
      'drug_xyz.adverse_events'
    ]);
    model.toggleTag('phase3');
    expect(names(model.results)).toEqual(['drug_xyz.trial_july2020']);
    model.toggleTag('phase3');
    expect(model.activeTags.size).toBe(0);
    model.clearFilters();
    expect(model.results).toHaveLength(4);
  });

  it('collapses and expands a database', () => {
    const model = new CatalogModel(new FakeClient());
    model.toggleDatabase('sales');
    expect(model.isCollapsed('sales')).toBe(true);
    model.toggleDatabase('sales');
    expect(model.isCollapsed('sales')).toBe(false);
  });

  it('announces selection, and drops it when a refresh removes the dataset', async () => {
    const client = new FakeClient();
    const model = new CatalogModel(client);
    await model.refresh();
    const seen: (string | null)[] = [];
    model.selectionChanged.connect((_, name) => seen.push(name));
    model.select('sales.orders');
    model.select('sales.orders');
    client.catalog = { datasets: [CATALOG.datasets[0]], tags: ['clinical'] };
    model.toggleTag('finance');
    let refreshed = 0;
    model.refreshed.connect(() => refreshed++);
    await model.refresh();
    expect(seen).toEqual(['sales.orders', null]);
    expect(model.selected).toBeNull();
    expect(model.activeTags.size).toBe(0);
    expect(refreshed).toBe(1);
  });

  it('keeps the error of a failed load', async () => {
    const client = new FakeClient();
    client.catalogError = new Error('service down');
    const model = new CatalogModel(client);
    await model.refresh();
    expect(model.status).toBe('error');
    expect(model.error?.message).toBe('service down');
  });
});

describe('CatalogBody', () => {
  async function rerender(body: CatalogBody): Promise<void> {
    MessageLoop.sendMessage(body, Widget.Msg.UpdateRequest);
    await body.renderPromise;
  }

  async function render(model: CatalogModel): Promise<CatalogBody> {
    const body = new CatalogBody({
      model,
      commands: new CommandRegistry(),
      trans: nullTranslator.load('test')
    });
    Widget.attach(body, document.body);
    MessageLoop.sendMessage(body, Widget.Msg.UpdateRequest);
    await body.renderPromise;
    return body;
  }

  it('renders groups, items and chips with stable hooks for UI tests', async () => {
    const model = new CatalogModel(new FakeClient());
    await model.refresh();
    model.select('sales.orders');
    const body = await render(model);
    const node = body.node;
    expect(node.querySelector('input.jp-warden-search')).not.toBeNull();
    expect(
      Array.from(node.querySelectorAll('.jp-warden-database-group')).map(
        g => (g as HTMLElement).dataset.wardenDatabase
      )
    ).toEqual(['drug_xyz', 'sales', 'warden']);
    const items = Array.from(
      node.querySelectorAll<HTMLElement>('.jp-warden-dataset-item')
    );
    expect(items.map(i => i.dataset.wardenDataset)).toEqual([
      'drug_xyz.adverse_events',
      'drug_xyz.trial_july2020',
      'sales.orders',
      'warden.audit_log'
    ]);
    expect(
      node
        .querySelector('.jp-warden-dataset-item.jp-mod-selected')
        ?.getAttribute('data-warden-dataset')
    ).toBe('sales.orders');
    expect(node.querySelectorAll('.jp-warden-tag-chip')).toHaveLength(6);

    items[0].click();
    expect(model.selected).toBe('drug_xyz.adverse_events');
    body.dispose();
  });

  it('searches as the user types, and clears the box with the filters', async () => {
    const model = new CatalogModel(new FakeClient());
    await model.refresh();
    const body = await render(model);
    const input =
      body.node.querySelector<HTMLInputElement>('.jp-warden-search')!;
    // React listens to native input events; set the value the way a browser does.
    const setValue = Object.getOwnPropertyDescriptor(
      HTMLInputElement.prototype,
      'value'
    )!.set!;
    setValue.call(input, 'no-such-thing');
    input.dispatchEvent(new Event('input', { bubbles: true }));
    expect(model.query).toBe('no-such-thing');

    await rerender(body);
    const state = body.node.querySelector<HTMLElement>('.jp-warden-state')!;
    expect(state.dataset.wardenState).toBe('empty');
    state.querySelector('button')!.click();
    await rerender(body);
    expect(model.query).toBe('');
    expect(input.value).toBe('');
    expect(body.node.querySelectorAll('.jp-warden-dataset-item')).toHaveLength(
      4
    );
    body.dispose();
  });

  it('moves through the tree with the keys of the ARIA tree pattern', async () => {
    const commands = new CommandRegistry();
    const previewed: unknown[] = [];
    commands.addCommand(CommandIDs.preview, {
      execute: args => void previewed.push(args.dataset)
    });
    const model = new CatalogModel(new FakeClient());
    await model.refresh();
    const body = new CatalogBody({ model, commands, trans: nullTranslator.load('test') });
    Widget.attach(body, document.body);
    await rerender(body);
    const node = body.node;
    const focused = () =>
      (document.activeElement as HTMLElement).dataset.wardenKey ?? 'outside';
    const press = async (key: string, init: KeyboardEventInit = {}) => {
      document.activeElement!.dispatchEvent(
        new KeyboardEvent('keydown', { key, bubbles: true, ...init })
      );
      await rerender(body);
    };

    // One tab stop, on the first dataset; the chips are out of the tab order.
    const tabStops = Array.from(
      node.querySelectorAll<HTMLElement>('[tabindex="0"], input, button:not([tabindex="-1"])')
    );
    expect(tabStops.map(e => e.dataset.wardenKey ?? e.tagName)).toEqual([
      'INPUT',
      'ds:drug_xyz.adverse_events'
    ]);
    node.querySelector<HTMLInputElement>('.jp-warden-search')!.focus();
    await press('ArrowDown');
    expect(focused()).toBe('ds:drug_xyz.adverse_events');
    await press('ArrowDown');
    expect(focused()).toBe('ds:drug_xyz.trial_july2020');
    await press('End');
    expect(focused()).toBe('ds:warden.audit_log');
    await press('Home');
    expect(focused()).toBe('db:drug_xyz');
    await press('ArrowLeft');
    expect(model.isCollapsed('drug_xyz')).toBe(true);
    await press('ArrowDown');
    expect(focused()).toBe('db:sales');
    await press('ArrowLeft');
    expect(model.isCollapsed('sales')).toBe(true);
    await press('ArrowRight');
    expect(model.isCollapsed('sales')).toBe(false);
    expect(focused()).toBe('db:sales');
    await press('ArrowRight');
    expect(focused()).toBe('ds:sales.orders');
    await press('Enter');
    expect(model.selected).toBe('sales.orders');
    expect(
      node.querySelector('[data-warden-key="ds:sales.orders"]')?.getAttribute('aria-selected')
    ).toBe('true');
    await press('Enter', { shiftKey: true });
    expect(previewed).toEqual(['sales.orders']);
    await press('ArrowLeft');
    expect(focused()).toBe('db:sales');
    await press('Escape');
    expect(document.activeElement).toBe(node.querySelector('.jp-warden-search'));
    body.dispose();
  });

  it('explains an outage in words and folds the server output away', async () => {
    const client = new FakeClient();
    client.catalogError = new WardenRequestError(
      'service_unavailable',
      'The Warden service exited unexpectedly with code 0. Last output:\n  /srv/warden/policies/a.yaml: old reload error',
      503
    );
    const model = new CatalogModel(client);
    await model.refresh();
    const body = await render(model);
    const state = body.node.querySelector<HTMLElement>('.jp-warden-state')!;
    expect(state.dataset.wardenState).toBe('error');
    expect(state.querySelector('.jp-warden-state-message')?.textContent).toBe(
      'The catalog could not be loaded.'
    );
    expect(state.querySelector('.jp-warden-state-reason')?.textContent).toBe(
      'The Warden service is not answering, perhaps restarting. This recovers by itself when it is back.'
    );
    const disclosure = state.querySelector('details')!;
    expect(disclosure.open).toBe(false);
    expect(disclosure.querySelector('summary')?.textContent).toBe('Details');
    expect(disclosure.querySelector('pre')?.textContent).toContain(
      '/srv/warden/policies/a.yaml: old reload error'
    );
    body.dispose();
  });

  it('shows the error state with the service message', async () => {
    const client = new FakeClient();
    client.catalogError = new Error('service down');
    const model = new CatalogModel(client);
    await model.refresh();
    const body = await render(model);
    const state = body.node.querySelector<HTMLElement>('.jp-warden-state');
    expect(state?.dataset.wardenState).toBe('error');
    expect(state?.textContent).toContain('service down');
    body.dispose();
  });
});
