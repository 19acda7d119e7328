import { DataModel } from '@lumino/datagrid';
import {
  DataType,
  util as arrowUtil,
  type Schema,
  type Table,
  type Vector
} from 'apache-arrow';

import { ARROW_META, type DatasetDetail } from '../../../common/api';

/** How the service shaped one column of a preview, read from field metadata. */
export interface IColumnMarking {
  name: string;
  masked: boolean;
  /** The mask in words, when the whole column is masked. */
  mask: string;
  /** Some cells are masked by a row condition. */
  cellMasked: boolean;
  /** Values that a cell mask writes, to mark the cells that carry them. */
  redactions: ReadonlySet<string>;
}

/** What the schema metadata says about the whole preview. */
export interface IPreviewInfo {
  policies: string[];
  rowFilter: string | null;
  requestId: string | null;
}

/** The metadata handed to the cell renderers for every cell. */
export interface ICellMetadata extends DataModel.Metadata {
  masked: boolean;
  cellMasked: boolean;
  /** The value is one a cell mask writes (body cells only). */
  maskedCell: boolean;
  isNull: boolean;
}

export function readColumnMarkings(
  schema: Schema,
  redactions: ReadonlyMap<string, ReadonlySet<string>> = new Map()
): IColumnMarking[] {
  return schema.fields.map(field => {
    const meta = field.metadata;
    const cellMasked = meta.get(ARROW_META.cellMasked) === 'true';
    return {
      name: field.name,
      masked: meta.get(ARROW_META.access) === 'masked',
      mask: meta.get(ARROW_META.mask) ?? '',
      cellMasked,
      redactions: cellMasked
        ? (redactions.get(field.name) ?? new Set())
        : new Set()
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
    requestId: meta.get(ARROW_META.requestId) || null
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
      arrowUtil.bigNumToString(value as any),
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
 * markings of every column as cell metadata for the renderers.
 */
export class ArrowDataModel extends DataModel {
  constructor(table: Table, options: ArrowDataModel.IOptions = {}) {
    super();
    this._table = table;
    this._vectors = table.schema.fields.map(
      (_, index) => table.getChildAt(index) as Vector
    );
    this._columns = readColumnMarkings(table.schema, options.redactions);
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
      maskedCell: text !== null && marking.redactions.has(text),
      isNull: text === null
    };
  }

  /** The text of a body cell; null for a missing value. */
  text(row: number, column: number): string | null {
    const vector = this._vectors[column];
    return formatValue(vector.get(row), vector.type);
  }

  private _table: Table;
  private _vectors: Vector[];
  private _columns: IColumnMarking[];
}

export namespace ArrowDataModel {
  export interface IOptions {
    /** Per column, the values cell masks write (from the dataset details). */
    redactions?: ReadonlyMap<string, ReadonlySet<string>>;
  }
}

const NO_MARKS: ICellMetadata = {
  masked: false,
  cellMasked: false,
  maskedCell: false,
  isNull: false
};

/**
 * Per column, the texts its redacting cell masks write. Only `redact` leaves a
 * recognisable value; the other masks cannot be told apart from data.
 */
export function redactionsFromDetail(
  detail: DatasetDetail
): Map<string, Set<string>> {
  const redactions = new Map<string, Set<string>>();
  for (const column of detail.columns) {
    for (const cellMask of column.effect.cellMasks) {
      if (cellMask.mask.type === 'redact') {
        const values = redactions.get(column.name) ?? new Set<string>();
        values.add(cellMask.mask.value ?? DEFAULT_REDACTION);
        redactions.set(column.name, values);
      }
    }
  }
  return redactions;
}

/** What `redact` writes when the policy gives no value (docs/configuration.md). */
const DEFAULT_REDACTION = '***';
