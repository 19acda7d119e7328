import { nullTranslator } from '@jupyterlab/translation';
import {
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

import {
  ArrowDataModel,
  decimalToString,
  formatValue,
  readPreviewInfo,
  redactionsFromDetail
} from '../panels/preview/datamodel';
import {
  cellBackground,
  estimateColumnWidths,
  headerLabel
} from '../panels/preview/grid';
import { PreviewModel } from '../panels/preview/model';
import { arrowStream, FakeClient, TRIAL_DETAIL } from './fixtures';

const trans = nullTranslator.load('test');

/** A preview as the service would send it, decoded the way the client does. */
function trialPreview(): Table {
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
        values: ['nausea', '[withheld]', 'none'],
        metadata: { 'warden.access': 'clear', 'warden.cell_masked': 'true' }
      },
      { name: 'age', type: new Int64(), values: [34n, 51n, null] }
    ],
    {
      'warden.policies': JSON.stringify([
        'analysts-read-clinical',
        'mask-direct-pii'
      ]),
      'warden.row_filter': "country = 'US'",
      'warden.request_id': 'req-42'
    }
  );
  return tableFromIPC(bytes);
}

describe('ArrowDataModel', () => {
  const redactions = redactionsFromDetail(TRIAL_DETAIL);
  const model = new ArrowDataModel(trialPreview(), { redactions });

  it('has the shape of the table, with one header row and column', () => {
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
    expect([...model.columns[2].redactions]).toEqual(['[withheld]']);
  });

  it('marks masked columns, redacted cells and nulls in the cell metadata', () => {
    expect(model.metadata('body', 0, 1)).toEqual({
      masked: true,
      cellMasked: false,
      maskedCell: false,
      isNull: false
    });
    expect(model.metadata('body', 1, 2).maskedCell).toBe(true);
    expect(model.metadata('body', 0, 2).maskedCell).toBe(false);
    expect(model.metadata('body', 1, 1).isNull).toBe(true);
    expect(model.metadata('column-header', 0, 2).cellMasked).toBe(true);
    expect(model.metadata('row-header', 0, 0).masked).toBe(false);
  });

  it('marks no cell when the redaction text is unknown', () => {
    const withoutDetail = new ArrowDataModel(trialPreview());
    expect(withoutDetail.metadata('body', 1, 2)).toMatchObject({
      cellMasked: true,
      maskedCell: false
    });
  });
});

describe('readPreviewInfo', () => {
  it('reads policies, row filter and request id from the schema metadata', () => {
    expect(readPreviewInfo(trialPreview().schema)).toEqual({
      policies: ['analysts-read-clinical', 'mask-direct-pii'],
      rowFilter: "country = 'US'",
      requestId: 'req-42'
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
      requestId: null
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
  it('labels headers by how the column is masked', () => {
    expect(
      headerLabel({ name: 'ssn', masked: true, cellMasked: true }, trans)
    ).toBe('ssn (masked)');
    expect(
      headerLabel({ name: 'events', masked: false, cellMasked: true }, trans)
    ).toBe('events (some cells masked)');
    expect(
      headerLabel({ name: 'id', masked: false, cellMasked: false }, trans)
    ).toBe('id');
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
  it('fetches with the current row limit and builds the grid model', async () => {
    const client = new FakeClient();
    client.table = trialPreview();
    let limit = 100;
    const model = new PreviewModel({
      dataset: TRIAL_DETAIL.name,
      client,
      rowLimit: () => limit,
      detail: name => client.getDataset(name)
    });
    await model.load();
    expect(model.status).toBe('ready');
    expect(model.limit).toBe(100);
    expect(model.info?.rowFilter).toBe("country = 'US'");
    expect(model.dataModel?.metadata('body', 1, 2).maskedCell).toBe(true);

    limit = 7;
    await model.load();
    expect(client.calls).toContain(`preview:${TRIAL_DETAIL.name}:7`);
  });

  it('still previews when the details cannot be fetched', async () => {
    const client = new FakeClient();
    client.table = trialPreview();
    const model = new PreviewModel({
      dataset: 'drug_xyz.trial_july2020',
      client,
      rowLimit: () => 10,
      detail: () => Promise.reject(new Error('nope'))
    });
    await model.load();
    expect(model.status).toBe('ready');
    expect(model.dataModel?.columns[2].redactions.size).toBe(0);
  });

  it('drops shown rows when a reload fails', async () => {
    const client = new FakeClient();
    client.table = trialPreview();
    const model = new PreviewModel({
      dataset: 'x.y',
      client,
      rowLimit: () => 10,
      detail: name => client.getDataset(name)
    });
    await model.load();
    client.table = null;
    await model.load();
    expect(model.status).toBe('error');
    expect(model.error?.message).toBe('no preview');
    expect(model.dataModel).toBeNull();
  });
});
