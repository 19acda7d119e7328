import { DataModel } from '@lumino/datagrid';
import {
  DataType,
  util as arrowUtil,
  type Schema,
  type Table,
  type Vector
} from 'apache-arrow';

import { ARROW_META } from '../../../common/api';

/** How the service shaped one column of a preview, read from its field metadata. */
export interface IColumnMarking {
  name: string;
  masked: boolean;
  /** The mask in words, when the whole column is masked. */
  mask: string;
  /** Some cells are masked by a row condition. */
  cellMasked: boolean;
  /**
   * Index of the column's mask indicator field (true where a cell mask replaced the value;
   * MASK_INDICATOR_PREFIX in common/api.ts), or -1 when the preview has none.
   */
  indicator: number;
}

/** What the schema metadata says about the whole preview. */
export interface IPreviewInfo {
  policies: string[];
  rowFilter: string | null;
  requestId: string | null;
  /** The version of the view the rows come from (DatasetDetail.version). */
  viewVersion: string | null;
}

/** The metadata handed to the cell renderers for every cell. */
export interface ICellMetadata extends DataModel.Metadata {
  masked: boolean;
  cellMasked: boolean;
  /** A cell mask replaced this value (body cells only; from the indicator column). */
  maskedCell: boolean;
  isNull: boolean;
}

/** The data columns of a preview, each with its marks and the index of its indicator field. */
export function readColumnMarkings(schema: Schema): IColumnMarking[] {
  const indicators = new Map<string, number>();
  schema.fields.forEach((field, index) => {
    const column = field.metadata.get(ARROW_META.indicatorFor);
    if (column !== undefined) {
      indicators.set(column, index);
    }
  });
  return schema.fields
    .filter(field => !field.metadata.has(ARROW_META.indicatorFor))
    .map(field => {
      const meta = field.metadata;
      return {
        name: field.name,
        masked: meta.get(ARROW_META.access) === 'masked',
        mask: meta.get(ARROW_META.mask) ?? '',
        cellMasked: meta.get(ARROW_META.cellMasked) === 'true',
        indicator: indicators.get(field.name) ?? -1
      };
    });
}

export function readPreviewInfo(schema: Schema): IPreviewInfo {
  const meta = schema.metadata;
  let policies: string[] = [];
  try {
    const parsed = JSON.parse(meta.get(ARROW_META.policies) ?? '[]');
    if (Array.isArray(parsed)) {
      policies = parsed.map(String);
    }
  } catch {
    // A malformed list is shown as no list rather than breaking the preview.
  }
  return {
    policies,
    rowFilter: meta.get(ARROW_META.rowFilter) || null,
    requestId: meta.get(ARROW_META.requestId) || null,
    viewVersion: meta.get(ARROW_META.viewVersion) || null
  };
}

/** Text for one Arrow value; null for a missing value. */
export function formatValue(value: unknown, type: DataType): string | null {
  if (value === null || value === undefined) {
    return null;
  }
  if (DataType.isDate(type) && typeof value === 'number') {
    return new Date(value).toISOString().slice(0, 10);
  }
  if (DataType.isTimestamp(type) && typeof value === 'number') {
    return new Date(value)
      .toISOString()
      .replace('T', ' ')
      .replace(/(\.000)?Z$/, '');
  }
  if (DataType.isDecimal(type)) {
    return decimalToString(
      arrowUtil.bigNumToString(
        value as Parameters<typeof arrowUtil.bigNumToString>[0]
      ),
      (type as { scale: number }).scale
    );
  }
  if (value instanceof Uint8Array) {
    return `0x${Array.from(value, byte => byte.toString(16).padStart(2, '0')).join('')}`;
  }
  if (typeof value === 'object') {
    return arrowUtil.valueToString(value);
  }
  return String(value);
}

/** Place the decimal point of an unscaled decimal integer. */
export function decimalToString(digits: string, scale: number): string {
  if (scale <= 0) {
    return digits + '0'.repeat(-scale);
  }
  const negative = digits.startsWith('-');
  const magnitude = (negative ? digits.slice(1) : digits).padStart(
    scale + 1,
    '0'
  );
  const point = magnitude.length - scale;
  return `${negative ? '-' : ''}${magnitude.slice(0, point)}.${magnitude.slice(point)}`;
}

/**
 * A read-only DataGrid model over an Arrow table, exposing the Warden
 * markings of every column as cell metadata for the renderers. Indicator
 * fields are not shown: they mark the cells of the column they describe.
 */
export class ArrowDataModel extends DataModel {
  constructor(table: Table) {
    super();
    this._table = table;
    this._columns = readColumnMarkings(table.schema);
    const fieldIndex = new Map(
      table.schema.fields.map((field, index) => [field.name, index])
    );
    const vectorAt = (index: number) => table.getChildAt(index) as Vector;
    this._vectors = this._columns.map(column =>
      vectorAt(fieldIndex.get(column.name)!)
    );
    this._indicators = this._columns.map(column =>
      column.indicator < 0 ? null : vectorAt(column.indicator)
    );
  }

  get table(): Table {
    return this._table;
  }

  get columns(): readonly IColumnMarking[] {
    return this._columns;
  }

  rowCount(region: DataModel.RowRegion): number {
    return region === 'body' ? this._table.numRows : 1;
  }

  columnCount(region: DataModel.ColumnRegion): number {
    return region === 'body' ? this._columns.length : 1;
  }

  data(
    region: DataModel.CellRegion,
    row: number,
    column: number
  ): string | number | null {
    switch (region) {
      case 'body':
        return this.text(row, column);
      case 'column-header':
        return this._columns[column].name;
      case 'row-header':
        return row + 1;
      default:
        return '';
    }
  }

  metadata(
    region: DataModel.CellRegion,
    row: number,
    column: number
  ): ICellMetadata {
    if (region !== 'body' && region !== 'column-header') {
      return NO_MARKS;
    }
    const marking = this._columns[column];
    const text = region === 'body' ? this.text(row, column) : '';
    return {
      masked: marking.masked,
      cellMasked: marking.cellMasked,
      maskedCell:
        region === 'body' && this._indicators[column]?.get(row) === true,
      isNull: text === null
    };
  }

  /** How many rows of a column a cell mask changed (0 without an indicator). */
  maskedCellCount(name: string): number {
    const indicator =
      this._indicators[this._columns.findIndex(column => column.name === name)];
    if (!indicator) {
      return 0;
    }
    let count = 0;
    for (let row = 0; row < indicator.length; row++) {
      if (indicator.get(row) === true) {
        count++;
      }
    }
    return count;
  }

  /** The text of a body cell; null for a missing value. */
  text(row: number, column: number): string | null {
    const vector = this._vectors[column];
    return formatValue(vector.get(row), vector.type);
  }

  private _table: Table;
  private _vectors: Vector[];
  private _indicators: (Vector | null)[];
  private _columns: IColumnMarking[];
}

const NO_MARKS: ICellMetadata = {
  masked: false,
  cellMasked: false,
  maskedCell: false,
  isNull: false
};
