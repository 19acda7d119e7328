import { nullTranslator } from '@jupyterlab/translation';
import { tableFromIPC, Utf8 } from 'apache-arrow';

import type { DatasetDetail, ViewVersions } from '../../common/api';
import { WardenRequestError } from '../handler';
import { followViews, LiveViews, readEvents } from '../live';
import { CatalogModel } from '../panels/catalog';
import { DetailsModel } from '../panels/details';
import { PreviewModel } from '../panels/preview';
import {
  type IViewUpdate,
  viewChangeWords,
  viewChanges
} from '../words';
import {
  arrowStream,
  CATALOG,
  FakeClient,
  TRIAL_DETAIL,
  TRIAL_DETAIL_V2
} from './fixtures';

const TRIAL = TRIAL_DETAIL.name;
const trans = nullTranslator.load('test');

/** A byte stream delivering `chunks` as they are, then ending. */
function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      chunks.forEach(chunk => controller.enqueue(encoder.encode(chunk)));
      controller.close();
    }
  });
}

/** Versions for every catalog dataset, the trial at `trial`. */
function versions(trial: string, without: string[] = []): ViewVersions {
  const datasets: Record<string, string> = {};
  for (const dataset of CATALOG.datasets) {
    if (!without.includes(dataset.name)) {
      datasets[dataset.name] = dataset.name === TRIAL ? trial : 'same';
    }
  }
  return { datasets };
}

const settle = () => new Promise(resolve => setTimeout(resolve, 0));

describe('readEvents', () => {
  it('reads events split anywhere across chunks, skipping comments and retry lines', async () => {
    const events = [];
    for await (const event of readEvents(
      streamOf([
        'retry: 1000\n\nevent: vi',
        'ews\ndata: {"datasets":{}}\n',
        '\n: heartbeat\n\r\nevent: views\r\ndata: a\r\ndata: b\r\n\r\n',
        'data: plain\n\n'
      ])
    )) {
      events.push(event);
    }
    expect(events).toEqual([
      { event: 'views', data: '{"datasets":{}}' },
      { event: 'views', data: 'a\nb' },
      { event: 'message', data: 'plain' }
    ]);
  });
});

describe('LiveViews', () => {
  it('passes each push on with the one before, and opens the stream again when it ends', async () => {
    const client = new FakeClient();
    const live = new LiveViews({ client, firstDelayMs: 5 });
    const changes: LiveViews.IChange[] = [];
    live.changed.connect((_, change) => void changes.push(change));
    live.start();
    client.pushViews(versions('v1'));
    await settle();
    expect(changes).toEqual([{ views: versions('v1'), previous: null }]);

    // Its credential expired: the service ended the stream; a new one follows.
    client.endViews();
    for (let tries = 0; client.viewStreams < 2 && tries < 50; tries++) {
      await new Promise(resolve => setTimeout(resolve, 5));
    }
    expect(client.viewStreams).toBe(2);
    client.pushViews(versions('v2'));
    await settle();
    expect(changes[1]).toEqual({ views: versions('v2'), previous: versions('v1') });
    expect(live.views).toEqual(versions('v2'));
    live.dispose();
  });

  it('tries again as soon as the service is back', async () => {
    const client = new FakeClient();
    client.viewsError = new Error('unavailable');
    const live = new LiveViews({ client, firstDelayMs: 60_000 });
    live.start();
    await settle();
    expect(client.viewStreams).toBe(1);
    // Back: the connection says so, long before the backoff would have run out.
    client.connection.failed(
      new WardenRequestError('service_unavailable', 'restarting', 503)
    );
    client.connection.succeeded();
    await settle();
    expect(client.viewStreams).toBe(2);
    live.dispose();
    client.connection.dispose();
  });

  it('says the last versions again when the service is back while the stream stayed open', async () => {
    const client = new FakeClient();
    const live = new LiveViews({ client });
    const changes: LiveViews.IChange[] = [];
    live.changed.connect((_, change) => void changes.push(change));
    live.start();
    client.pushViews(versions('v1'));
    await settle();
    // Another request met an outage (a proxy's 504, say); the stream was not interrupted.
    client.connection.failed(
      new WardenRequestError('service_unavailable', 'gateway timeout', 504)
    );
    client.connection.succeeded();
    await settle();
    expect(client.viewStreams).toBe(1);
    expect(changes).toEqual([
      { views: versions('v1'), previous: null },
      { views: versions('v1'), previous: versions('v1') }
    ]);
    live.dispose();
    client.connection.dispose();
  });

  it('lists the datasets that changed, came or went', () => {
    expect(
      LiveViews.changedDatasets(
        { datasets: { a: '1', b: '1', c: '1' } },
        { datasets: { a: '1', b: '2', d: '1' } }
      ).sort()
    ).toEqual(['b', 'c', 'd']);
  });
});

describe('followViews', () => {
  async function shown() {
    const client = new FakeClient();
    client.table = tableFromIPC(
      arrowStream([{ name: 'patient_id', type: new Utf8(), values: ['P1'] }], {
        'warden.view_version': 'v1'
      })
    );
    const catalog = new CatalogModel(client);
    await catalog.refresh();
    const details = new DetailsModel(client);
    await details.show(TRIAL);
    const preview = new PreviewModel({ dataset: TRIAL, client, rowLimit: () => 10, details });
    await preview.load();
    client.calls = [];
    const previews = { forEach: (callback: (widget: { content: { model: PreviewModel } }) => void) => callback({ content: { model: preview } }) };
    return { client, catalog, details, preview, previews };
  }

  it('reloads the details and the preview of a dataset whose view changed, and the catalog', async () => {
    const { client, catalog, details, preview, previews } = await shown();
    client.details.set(TRIAL, TRIAL_DETAIL_V2);
    client.table = tableFromIPC(
      arrowStream([{ name: 'patient_id', type: new Utf8(), values: ['P1'] }], {
        'warden.view_version': 'v2'
      })
    );
    followViews({ views: versions('v2'), previous: versions('v1') }, catalog, details, previews);
    for (let tries = 0; preview.status !== 'ready' && tries < 50; tries++) {
      await settle();
    }
    await settle();
    expect(client.calls).toEqual(expect.arrayContaining(['datasets', `dataset:${TRIAL}`, `preview:${TRIAL}:10`]));
    expect(details.detail?.version).toBe('v2');
    expect(preview.version).toBe('v2');
    // Both say what changed, in the same words.
    const said = (update: IViewUpdate | null) =>
      update?.changes.map(change => viewChangeWords(change, trans));
    expect(said(details.lastChange)).toEqual([
      'ssn: now clear',
      'adverse_events: no cells withheld any more',
      'rows: now all of them'
    ]);
    expect(said(preview.lastChange)).toEqual(said(details.lastChange));
  });

  it('leaves everything alone when nothing the user looks at changed', async () => {
    const { client, catalog, details, preview, previews } = await shown();
    followViews({ views: versions('v1'), previous: versions('v1') }, catalog, details, previews);
    await settle();
    expect(client.calls).toEqual([]);
    expect(preview.lastChange).toBeNull();
    expect(details.lastChange).toBeNull();
  });

  it('refreshes the catalog when a dataset is no longer shared, and the preview then says it is gone', async () => {
    const { client, catalog, details, preview, previews } = await shown();
    client.catalog = { ...CATALOG, datasets: CATALOG.datasets.filter(d => d.name !== TRIAL) };
    client.details.delete(TRIAL);
    followViews({ views: versions('v1', [TRIAL]), previous: versions('v1') }, catalog, details, previews);
    for (let tries = 0; preview.status !== 'error' && tries < 50; tries++) {
      await settle();
    }
    expect(client.calls).toContain('datasets');
    expect(preview.unshared).toBe('revoked');
    expect(preview.dataModel).toBeNull();

    // Other views change, the trial is still not shared: the preview already says so.
    client.calls = [];
    followViews({ views: versions('v1', [TRIAL]), previous: versions('v1', [TRIAL]) }, catalog, details, previews);
    await settle();
    expect(client.calls.filter(call => /^(preview|count):/.test(call))).toEqual([]);

    // Shared again: the preview shows it again by itself.
    client.catalog = CATALOG;
    client.details.set(TRIAL, TRIAL_DETAIL);
    followViews({ views: versions('v1'), previous: versions('v1', [TRIAL]) }, catalog, details, previews);
    for (let tries = 0; preview.status !== 'ready' && tries < 50; tries++) {
      await settle();
    }
    expect(preview.unshared).toBeNull();
    expect(preview.version).toBe('v1');
  });
});

describe('viewChanges', () => {
  const words = (before: DatasetDetail, after: DatasetDetail) =>
    viewChanges(before, after).map(change => viewChangeWords(change, trans));

  it('names each column whose treatment changed, in the words of the details section', () => {
    const [patient, ssn, birth, events] = TRIAL_DETAIL.columns;
    const after: DatasetDetail = {
      ...TRIAL_DETAIL,
      version: 'v2',
      defaultOrder: ['enrolled_on DESC'],
      columns: [
        { ...patient, effect: { ...ssn.effect } },
        { ...ssn, effect: { ...birth.effect } },
        {
          ...events,
          effect: {
            ...events.effect,
            cellMasks: [{ ...events.effect.cellMasks[0], condition: "arm <> 'treatment'" }]
          }
        },
        { ...patient, name: 'site' }
      ]
    };
    expect(words(TRIAL_DETAIL, after)).toEqual([
      'patient_id: now keyed SHA-256 hash',
      'ssn: now hidden',
      'birth_date: no longer in the dataset',
      "adverse_events: now withheld where arm <> 'treatment'",
      'site: new column, clear',
      'default order: now enrolled_on DESC'
    ]);
  });

  it('says the row filter as the service words it, and when only the catalog entry changed', () => {
    expect(
      words(TRIAL_DETAIL, {
        ...TRIAL_DETAIL,
        version: 'v3',
        rowFilter: { policies: ['p'], description: "rows where country = 'DE'" }
      })
    ).toEqual(["rows: now rows where country = 'DE'"]);
    expect(
      words(TRIAL_DETAIL, { ...TRIAL_DETAIL, version: 'v4', owner: 'someone@example.com' })
    ).toEqual(['its description, owner, tags or the policies listed']);
    expect(words(TRIAL_DETAIL, TRIAL_DETAIL)).toEqual([]);
  });
});
