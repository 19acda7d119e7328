import { nullTranslator } from '@jupyterlab/translation';
import { MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import {
  Bool,
  DateDay,
  Decimal,
  Float64,
  Int64,
  Int32,
  tableFromIPC,
  TimestampMillisecond,
  Utf8,
  type Table
} from 'apache-arrow';

import { MASK_INDICATOR_PREFIX } from '../../common/api';
import {
  ArrowDataModel,
  decimalToString,
  formatValue,
  readPreviewInfo
} from '../panels/preview/datamodel';
import { DetailsModel } from '../panels/details';
import {
  cellBackground,
  cellText,
  estimateColumnWidths,
  headerLabel
} from '../panels/preview/grid';
import { PreviewPanel } from '../panels/preview';
import { PreviewHeader } from '../panels/preview/body';
import { PreviewModel } from '../panels/preview/model';
import {
  columnHeaderWords,
  mirroredRows,
  PreviewTable
} from '../panels/preview/table';
import { viewChangeWords } from '../words';
import {
  arrowStream,
  FakeClient,
  TRIAL_DETAIL,
  TRIAL_DETAIL_V2
} from './fixtures';

const trans = nullTranslator.load('test');

/**
 * A preview as the service would send it, decoded the way the client does:
 * the cell mask of adverse_events changed row 2 only (its indicator column);
 * row 3 holds the same text as a real value.
 */
function trialPreview(withIndicators = true, version = 'v1'): Table {
  const indicators = withIndicators
    ? [
        {
          name: `${MASK_INDICATOR_PREFIX}adverse_events`,
          type: new Bool(),
          values: [false, true, false],
          metadata: { 'warden.indicator_for': 'adverse_events' }
        }
      ]
    : [];
  const bytes = arrowStream(
    [
      { name: 'patient_id', type: new Utf8(), values: ['P1', 'P2', 'P3'] },
      {
        name: 'ssn',
        type: new Utf8(),
        values: ['9f86d0', null, '2c26b4'],
        metadata: {
          'warden.access': 'masked',
          'warden.mask': 'keyed SHA-256 hash'
        }
      },
      {
        name: 'adverse_events',
        type: new Utf8(),
        values: ['nausea', '[withheld]', '[withheld]'],
        metadata: { 'warden.access': 'clear', 'warden.cell_masked': 'true' }
      },
      { name: 'age', type: new Int64(), values: [34n, 51n, null] },
      ...indicators
    ],
    {
      'warden.policies': JSON.stringify([
        'analysts-read-clinical',
        'mask-direct-pii'
      ]),
      'warden.row_filter': "country = 'US'",
      'warden.request_id': 'req-42',
      'warden.view_version': version
    }
  );
  return tableFromIPC(bytes);
}

describe('ArrowDataModel', () => {
  const model = new ArrowDataModel(trialPreview());

  it('has the shape of the table without its indicator columns', () => {
    expect(model.rowCount('body')).toBe(3);
    expect(model.columnCount('body')).toBe(4);
    expect(model.rowCount('column-header')).toBe(1);
    expect(model.columnCount('row-header')).toBe(1);
  });

  it('serves names, row numbers and formatted values', () => {
    expect(model.data('column-header', 0, 1)).toBe('ssn');
    expect(model.data('row-header', 2, 0)).toBe(3);
    expect(model.data('corner-header', 0, 0)).toBe('');
    expect(model.data('body', 0, 1)).toBe('9f86d0');
    expect(model.data('body', 1, 1)).toBeNull();
    expect(model.data('body', 1, 3)).toBe('51');
  });

  it('reads the Warden marks of each column from the field metadata', () => {
    expect(
      model.columns.map(c => [c.name, c.masked, c.mask, c.cellMasked])
    ).toEqual([
      ['patient_id', false, '', false],
      ['ssn', true, 'keyed SHA-256 hash', false],
      ['adverse_events', false, '', true],
      ['age', false, '', false]
    ]);
    expect(model.columns.map(c => c.indicator)).toEqual([-1, -1, 4, -1]);
  });

  it('marks masked columns, cell-masked cells and nulls in the cell metadata', () => {
    expect(model.metadata('body', 0, 1)).toEqual({
      masked: true,
      cellMasked: false,
      maskedCell: false,
      isNull: false
    });
    expect(model.metadata('body', 1, 2).maskedCell).toBe(true);
    expect(model.metadata('body', 0, 2).maskedCell).toBe(false);
    // The same text as a masked cell, but a real value: the indicator says so.
    expect(model.data('body', 2, 2)).toBe('[withheld]');
    expect(model.metadata('body', 2, 2).maskedCell).toBe(false);
    expect(model.maskedCellCount('adverse_events')).toBe(1);
    expect(model.metadata('body', 1, 1).isNull).toBe(true);
    expect(model.metadata('column-header', 0, 2).cellMasked).toBe(true);
    expect(model.metadata('row-header', 0, 0).masked).toBe(false);
  });

  it('marks no cell when the preview has no indicators', () => {
    const withoutIndicators = new ArrowDataModel(trialPreview(false));
    expect(withoutIndicators.metadata('body', 1, 2)).toMatchObject({
      cellMasked: true,
      maskedCell: false
    });
    expect(withoutIndicators.maskedCellCount('adverse_events')).toBe(0);
  });
});

describe('readPreviewInfo', () => {
  it('reads policies, row filter and request id from the schema metadata', () => {
    expect(readPreviewInfo(trialPreview().schema)).toEqual({
      policies: ['analysts-read-clinical', 'mask-direct-pii'],
      rowFilter: "country = 'US'",
      requestId: 'req-42',
      viewVersion: 'v1'
    });
  });

  it('survives missing or malformed metadata', () => {
    const table = tableFromIPC(
      arrowStream([{ name: 'a', type: new Int32(), values: [1] }], {
        'warden.policies': '{not json'
      })
    );
    expect(readPreviewInfo(table.schema)).toEqual({
      policies: [],
      rowFilter: null,
      requestId: null,
      viewVersion: null
    });
  });
});

describe('formatValue', () => {
  it('formats dates, timestamps, big integers, floats and bytes', () => {
    const day = Date.UTC(2020, 6, 1);
    expect(formatValue(day, new DateDay())).toBe('2020-07-01');
    expect(formatValue(day + 3_723_000, new TimestampMillisecond())).toBe(
      '2020-07-01 01:02:03'
    );
    expect(formatValue(day + 5, new TimestampMillisecond())).toBe(
      '2020-07-01 00:00:00.005'
    );
    expect(formatValue(2n ** 60n, new Int64())).toBe('1152921504606846976');
    expect(formatValue(1.5, new Float64())).toBe('1.5');
    expect(formatValue(new Uint8Array([1, 255]), new Utf8())).toBe('0x01ff');
    expect(formatValue(null, new Utf8())).toBeNull();
  });

  it('places the decimal point of decimals', () => {
    const table = tableFromIPC(
      arrowStream([
        {
          name: 'amount',
          type: new Decimal(2, 10, 128),
          values: [new Uint32Array([12345, 0, 0, 0])]
        }
      ])
    );
    const model = new ArrowDataModel(table);
    expect(model.data('body', 0, 0)).toBe('123.45');
    expect(decimalToString('-5', 2)).toBe('-0.05');
    expect(decimalToString('42', 0)).toBe('42');
    expect(decimalToString('42', -2)).toBe('4200');
  });
});

describe('grid helpers', () => {
  it('labels headers by how the column is masked, and the sorted one by its direction', () => {
    expect(
      headerLabel({ name: 'ssn', masked: true, cellMasked: true }, trans)
    ).toBe('ssn (masked)');
    const ssn = { name: 'ssn', masked: true, cellMasked: false };
    expect(headerLabel(ssn, trans, { column: 'ssn', descending: true })).toBe(
      'ssn (masked) ▼'
    );
    expect(headerLabel(ssn, trans, { column: 'ssn', descending: false })).toBe(
      'ssn (masked) ▲'
    );
    expect(headerLabel(ssn, trans, { column: 'id', descending: false })).toBe(
      'ssn (masked)'
    );
    expect(
      headerLabel({ name: 'events', masked: false, cellMasked: true }, trans)
    ).toBe('events (some cells masked)');
    expect(
      headerLabel({ name: 'id', masked: false, cellMasked: false }, trans)
    ).toBe('id');
  });

  it('shows a withheld cell as masked, a missing value as null', () => {
    const model = new ArrowDataModel(trialPreview());
    const shown = (row: number, column: number) =>
      cellText(
        model.text(row, column),
        model.metadata('body', row, column),
        trans
      );
    expect(shown(1, 2)).toBe('masked');
    expect(shown(0, 2)).toBe('nausea');
    expect(shown(2, 3)).toBe('null');
  });

  it('tints masked cells more than masked columns, clear cells not at all', () => {
    const colors = { maskedCell: 'strong', maskedColumn: 'light' };
    expect(cellBackground({ masked: true, maskedCell: true }, colors)).toBe(
      'strong'
    );
    expect(cellBackground({ masked: true, maskedCell: false }, colors)).toBe(
      'light'
    );
    expect(cellBackground({ masked: false, maskedCell: false }, colors)).toBe(
      ''
    );
  });

  it('sizes columns to their longest text, within bounds', () => {
    const model = new ArrowDataModel(trialPreview());
    const widths = estimateColumnWidths(model, [
      'patient_id',
      'ssn (masked)',
      'x'.repeat(200),
      'age'
    ]);
    expect(widths[0]).toBe(Math.round(10 * 7.5 + 24));
    expect(widths[1]).toBe(12 * 7.5 + 24);
    expect(widths[2]).toBe(360);
    expect(widths[3]).toBe(64);
  });
});

describe('PreviewModel', () => {
  function previewOf(client: FakeClient, limit: () => number = () => 100) {
    return new PreviewModel({
      dataset: TRIAL_DETAIL.name,
      client,
      rowLimit: limit,
      details: new DetailsModel(client)
    });
  }

  it('fetches rows with the current row limit, the details of the same view and the row count', async () => {
    const client = new FakeClient();
    client.table = trialPreview();
    let limit = 100;
    const model = previewOf(client, () => limit);
    await model.load();
    expect(model.status).toBe('ready');
    expect(model.limit).toBe(100);
    expect(model.info?.rowFilter).toBe("country = 'US'");
    expect(model.detail).toBe(TRIAL_DETAIL);
    expect(model.version).toBe('v1');
    expect(model.count).toEqual({ dataset: TRIAL_DETAIL.name, rows: 1234, capped: false });
    expect(model.dataModel?.metadata('body', 1, 2).maskedCell).toBe(true);
    expect(client.calls.sort()).toEqual(
      [`preview:${TRIAL_DETAIL.name}:100`, `dataset:${TRIAL_DETAIL.name}`, `count:${TRIAL_DETAIL.name}`].sort()
    );

    limit = 7;
    await model.load();
    expect(client.calls).toContain(`preview:${TRIAL_DETAIL.name}:7`);
  });

  it('asks again for rows and details that describe different versions of the view', async () => {
    const client = new FakeClient();
    client.table = trialPreview(true, 'v2');
    const details = new DetailsModel(client);
    await details.fetch(TRIAL_DETAIL.name);
    client.details.set(TRIAL_DETAIL.name, { ...TRIAL_DETAIL, version: 'v2' });
    client.calls = [];
    const model = new PreviewModel({ dataset: TRIAL_DETAIL.name, client, rowLimit: () => 10, details });
    await model.load();
    expect(model.detail?.version).toBe('v2');
    expect(model.version).toBe('v2');
    expect(client.calls.filter(call => call.startsWith('preview:'))).toHaveLength(2);
    expect(client.calls.filter(call => call.startsWith('dataset:'))).toHaveLength(1);
  });

  it('sorts by a column ascending, then descending, then in the dataset order', async () => {
    const client = new FakeClient();
    client.table = trialPreview();
    const model = previewOf(client, () => 5);
    await model.load();
    await model.toggleSort('ssn');
    expect(model.sort).toEqual({ column: 'ssn', descending: false });
    await model.toggleSort('ssn');
    expect(model.sort).toEqual({ column: 'ssn', descending: true });
    await model.toggleSort('ssn');
    expect(model.sort).toBeNull();
    await model.toggleSort('adverse_events');
    expect(client.calls.filter(call => call.startsWith('preview:'))).toEqual([
      `preview:${TRIAL_DETAIL.name}:5`,
      `preview:${TRIAL_DETAIL.name}:5:ssn`,
      `preview:${TRIAL_DETAIL.name}:5:ssn DESC`,
      `preview:${TRIAL_DETAIL.name}:5`,
      `preview:${TRIAL_DETAIL.name}:5:adverse_events`
    ]);
  });

  it('shows the rows without a count when counting fails, and says when a view change refreshed them', async () => {
    const client = new FakeClient();
    client.table = trialPreview();
    client.rowCount = new Error('count refused');
    const model = previewOf(client);
    await model.load();
    expect(model.status).toBe('ready');
    expect(model.count).toBeNull();
    // Loaded again, same view: nothing to tell.
    await model.load();
    expect(model.lastChange).toBeNull();
  });

  it('says how the view changed when a refresh finds another version', async () => {
    const client = new FakeClient();
    client.table = trialPreview();
    const model = previewOf(client);
    await model.load();
    client.details.set(TRIAL_DETAIL.name, TRIAL_DETAIL_V2);
    client.table = trialPreview(true, 'v2');
    await model.load(true);
    expect(model.version).toBe('v2');
    expect(model.detail).toBe(TRIAL_DETAIL_V2);
    expect(model.lastChange?.at).toBeInstanceOf(Date);
    expect(
      model.lastChange?.changes.map(change => viewChangeWords(change, trans))
    ).toEqual([
      'ssn: now clear',
      'adverse_events: no cells withheld any more',
      'rows: now all of them'
    ]);
  });

  it('tells a dataset no longer shared from a failure', async () => {
    const client = new FakeClient();
    client.table = trialPreview();
    const never = previewOf(client);
    client.details.delete(TRIAL_DETAIL.name);
    await never.load();
    expect(never.unshared).toBe('never');
    expect(never.showsView(undefined)).toBe(true);

    client.details.set(TRIAL_DETAIL.name, TRIAL_DETAIL);
    const model = previewOf(client);
    await model.load();
    expect(model.unshared).toBeNull();
    expect(model.showsView('v1')).toBe(true);
    expect(model.showsView(undefined)).toBe(false);
    client.details.delete(TRIAL_DETAIL.name);
    await model.load();
    expect(model.unshared).toBe('revoked');
    expect(model.dataModel).toBeNull();
    expect(model.showsView(undefined)).toBe(true);
    expect(model.showsView('v1')).toBe(false);
  });

  it('drops shown rows when a reload fails', async () => {
    const client = new FakeClient();
    client.table = trialPreview();
    const model = previewOf(client, () => 10);
    await model.load();
    client.table = null;
    await model.load();
    expect(model.status).toBe('error');
    expect(model.error?.message).toBe('no preview');
    expect(model.unshared).toBeNull();
    expect(model.dataModel).toBeNull();
    expect(model.detail).toBeNull();
  });
});

/** What a screen reader finds in the accessible table: caption, headers and rows of cells. */
function readTable(node: HTMLElement) {
  const texts = (elements: Iterable<Element>) =>
    [...elements].map(element => element.textContent);
  return {
    caption: node.querySelector('caption')?.textContent,
    headers: texts(node.querySelectorAll('thead th')),
    sorted: [...node.querySelectorAll('thead th[aria-sort]')].map(
      th => `${th.getAttribute('data-warden-column')} ${th.getAttribute('aria-sort')}`
    ),
    rows: [...node.querySelectorAll('tbody tr')].map(tr => texts(tr.children))
  };
}

describe('PreviewTable', () => {
  it('mirrors the rows for screen readers: masks in words, masked cells said, the sort marked', () => {
    const table = new PreviewTable(trans);
    table.mirror(new ArrowDataModel(trialPreview()), TRIAL_DETAIL, {
      column: 'ssn',
      descending: true
    });
    expect(readTable(table.node)).toEqual({
      caption: 'drug_xyz.trial_july2020: the 3 rows in the preview',
      headers: [
        'Row',
        'patient_id',
        'ssn, masked: keyed SHA-256 hash',
        "adverse_events, withheld where arm = 'placebo'",
        'age'
      ],
      sorted: ['ssn descending'],
      rows: [
        ['1', 'P1', '9f86d0', 'nausea', '34'],
        ['2', 'P2', 'null', 'masked', '51'],
        // The same text as a withheld cell, but a real value: not said to be masked.
        ['3', 'P3', '2c26b4', '[withheld]', 'null']
      ]
    });
    expect(table.node.querySelectorAll('th[scope="row"]')).toHaveLength(3);
    expect(table.node.querySelectorAll('thead th[scope="col"]')).toHaveLength(5);
    table.clear();
    expect(table.node.querySelector('table')).toBeNull();
  });

  it('words a column header from the details of the same view', () => {
    const marking = { name: 'ssn', masked: false, cellMasked: false };
    expect(columnHeaderWords(marking, TRIAL_DETAIL, trans)).toBe('ssn');
    expect(
      columnHeaderWords({ ...marking, masked: true }, TRIAL_DETAIL, trans)
    ).toBe('ssn, masked: keyed SHA-256 hash');
  });

  it('mirrors a page of rows at most, fewer when the columns are many', () => {
    expect(mirroredRows(3, 4)).toBe(3);
    expect(mirroredRows(10_000, 5)).toBe(100);
    expect(mirroredRows(10_000, 1_000)).toBe(5);
    expect(mirroredRows(10, 20_000)).toBe(1);

    const ids = Array.from({ length: 250 }, (_, i) => `P${i + 1}`);
    const model = new ArrowDataModel(
      tableFromIPC(
        arrowStream([{ name: 'patient_id', type: new Utf8(), values: ids }])
      )
    );
    const table = new PreviewTable(trans);
    table.mirror(model, TRIAL_DETAIL, null);
    const read = readTable(table.node);
    expect(read.caption).toBe(
      'drug_xyz.trial_july2020: the first 100 of the 250 rows in the preview'
    );
    expect(read.rows).toHaveLength(100);
    expect(read.rows[99]).toEqual(['100', 'P100']);
    expect(read.sorted).toEqual([]);
  });
});

describe('PreviewPanel', () => {
  it('says calmly that access was revoked, with a button that closes the tab', async () => {
    const client = new FakeClient();
    client.table = trialPreview();
    const tab = PreviewPanel.createWidget({
      dataset: TRIAL_DETAIL.name,
      client,
      rowLimit: () => 100,
      details: new DetailsModel(client),
      trans
    });
    const content = tab.content;
    Widget.attach(tab, document.body);
    const header = content.widgets[0] as PreviewHeader;
    // React commits a little after the render promise inside a main-area widget: wait for it.
    const shown = async (selector: string) => {
      MessageLoop.sendMessage(header, Widget.Msg.UpdateRequest);
      await header.renderPromise;
      for (let tries = 0; !header.node.querySelector(selector) && tries < 50; tries++) {
        await new Promise(resolve => setTimeout(resolve, 10));
      }
      return header.node;
    };
    await content.model.load();
    expect((await shown('.jp-warden-preview-name')).querySelector('.jp-warden-preview-name')?.textContent).toBe(TRIAL_DETAIL.name);

    // A policy change: the service no longer shares the dataset with the user.
    client.details.delete(TRIAL_DETAIL.name);
    await content.model.load();
    const node = await shown('.jp-warden-state');
    const state = node.querySelector<HTMLElement>('.jp-warden-state')!;
    expect(state.querySelector('.jp-warden-state-message')?.textContent).toBe(
      'You no longer have access to drug_xyz.trial_july2020: a policy change removed it.'
    );
    expect(state.querySelector('.jp-warden-state-reason')?.textContent).toBe(
      'This preview shows it again if a policy shares it with you.'
    );
    // A state, not a failure: no alert, no error styling, none of the service's text.
    expect(state.getAttribute('role')).toBe('status');
    expect(state.classList.contains('jp-warden-state-error')).toBe(false);
    expect(node.textContent).not.toMatch(/not found|could not|404|Retry|Details/);
    expect(content.grid.isHidden).toBe(true);

    const close = state.querySelector<HTMLButtonElement>('button')!;
    expect(close.textContent).toBe('Close');
    close.click();
    expect(tab.isDisposed).toBe(true);
  });

  it('keeps the accessible table in step with the grid as rows, order and access change', async () => {
    const client = new FakeClient();
    client.table = trialPreview();
    const panel = new PreviewPanel({
      dataset: TRIAL_DETAIL.name,
      client,
      rowLimit: () => 100,
      details: new DetailsModel(client),
      trans
    });
    await panel.model.load();
    const gridRow = (row: number) =>
      panel.model.dataModel!.columns.map((_, column) =>
        panel.grid.cellText(row, column)
      );
    const tableRow = (row: number) => readTable(panel.table.node).rows[row].slice(1);
    expect(tableRow(0)).toEqual(gridRow(0));
    expect(tableRow(1)).toEqual(['P2', 'null', 'masked', '51']);
    expect(tableRow(1)).toEqual(gridRow(1));

    // Sorted rows (here: another table from the service) replace the mirrored ones.
    client.table = tableFromIPC(
      arrowStream([
        { name: 'patient_id', type: new Utf8(), values: ['P9', 'P8'] }
      ])
    );
    await panel.model.toggleSort('patient_id');
    expect(readTable(panel.table.node)).toMatchObject({
      headers: ['Row', 'patient_id'],
      sorted: ['patient_id ascending'],
      rows: [
        ['1', 'P9'],
        ['2', 'P8']
      ]
    });

    // No rows shown any more (access revoked): none mirrored either.
    client.table = null;
    await panel.model.load();
    expect(panel.table.node.querySelector('table')).toBeNull();
    panel.dispose();
  });
});
