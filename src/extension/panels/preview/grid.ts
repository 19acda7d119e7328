import type { TranslationBundle } from '@jupyterlab/translation';
import {
  BasicKeyHandler,
  BasicMouseHandler,
  BasicSelectionModel,
  CellRenderer,
  DataGrid,
  TextRenderer
} from '@lumino/datagrid';
import type { Message } from '@lumino/messaging';

import type { OrderKey } from '../../../common/order';
import type {
  ArrowDataModel,
  ICellMetadata,
  IColumnMarking
} from './datamodel';

/** Colours the canvas needs, read from CSS variables so themes apply. */
export interface IGridColors {
  background: string;
  void: string;
  headerBackground: string;
  gridLine: string;
  headerGridLine: string;
  selectionFill: string;
  cursorBorder: string;
  text: string;
  dimText: string;
  maskedColumn: string;
  maskedCell: string;
  maskedHeader: string;
  font: string;
  headerFont: string;
}

/** The header text: the column name, with how it is masked and, when sorted by it, the direction. */
export function headerLabel(
  marking: Pick<IColumnMarking, 'name' | 'masked' | 'cellMasked'>,
  trans: TranslationBundle,
  sort: OrderKey | null = null
): string {
  const label = marking.masked
    ? trans.__('%1 (masked)', marking.name)
    : marking.cellMasked
      ? trans.__('%1 (some cells masked)', marking.name)
      : marking.name;
  if (sort?.column !== marking.name) {
    return label;
  }
  return `${label} ${sort.descending ? '▼' : '▲'}`;
}

/** What a body cell shows: a withheld cell says so; a missing value is `null`. */
export function cellText(
  value: unknown,
  metadata: Partial<ICellMetadata>,
  trans: TranslationBundle
): string {
  if (metadata.maskedCell) {
    return trans.__('masked');
  }
  return value === null || value === undefined ? 'null' : String(value);
}

/** The tint of a body cell: a masked value stands out from a masked column. */
export function cellBackground(
  metadata: Partial<ICellMetadata>,
  colors: Pick<IGridColors, 'maskedCell' | 'maskedColumn'>
): string {
  if (metadata.maskedCell) {
    return colors.maskedCell;
  }
  return metadata.masked ? colors.maskedColumn : '';
}

/** Column widths in pixels, from the longest text among the first rows. */
export function estimateColumnWidths(
  model: ArrowDataModel,
  headers: string[],
  sampleRows = 100
): number[] {
  const rows = Math.min(model.rowCount('body'), sampleRows);
  return headers.map((header, column) => {
    let longest = header.length;
    for (let row = 0; row < rows; row++) {
      longest = Math.max(longest, (model.text(row, column) ?? 'null').length);
    }
    return Math.min(
      MAX_COLUMN_WIDTH,
      Math.max(MIN_COLUMN_WIDTH, longest * CHAR_WIDTH + 24)
    );
  });
}

/**
 * Column header clicks, for sorting; drags (resizing a column) and clicks at a column's
 * edge (where the resize handle is) are left to the grid.
 */
class HeaderClicks extends BasicMouseHandler {
  constructor(private readonly _onClick: (column: number) => void) {
    super();
  }

  onMouseDown(grid: DataGrid, event: MouseEvent): void {
    const hit = grid.hitTest(event.clientX, event.clientY);
    const onEdge = hit.x < RESIZE_MARGIN || hit.width - hit.x < RESIZE_MARGIN;
    this._pressed =
      hit.region === 'column-header' && !onEdge && event.button === 0
        ? { column: hit.column, x: event.clientX, y: event.clientY }
        : null;
    super.onMouseDown(grid, event);
  }

  onMouseUp(grid: DataGrid, event: MouseEvent): void {
    super.onMouseUp(grid, event);
    const pressed = this._pressed;
    this._pressed = null;
    if (
      pressed &&
      Math.abs(event.clientX - pressed.x) < 4 &&
      Math.abs(event.clientY - pressed.y) < 4
    ) {
      this._onClick(pressed.column);
    }
  }

  private _pressed: { column: number; x: number; y: number } | null = null;
}

/** A DataGrid that paints Warden's masking marks, follows the theme, and sorts on a header click. */
export class PreviewGrid extends DataGrid {
  constructor(trans: TranslationBundle, options: PreviewGrid.IOptions) {
    super({
      defaultSizes: {
        rowHeight: 24,
        columnWidth: 120,
        rowHeaderWidth: 56,
        columnHeaderHeight: 28
      },
      headerVisibility: 'all'
    });
    this._trans = trans;
    this._sortOf = options.sortOf;
    this.addClass('jp-warden-preview-grid');
    this.keyHandler = new BasicKeyHandler();
    this.mouseHandler = new HeaderClicks(column => {
      const name = (this.dataModel as ArrowDataModel | null)?.columns[column]
        ?.name;
      if (name !== undefined) {
        options.onSort(name);
      }
    });
  }

  /** What the user reads in a body cell. */
  cellText(row: number, column: number): string {
    const model = this.dataModel as ArrowDataModel;
    return cellText(
      model.text(row, column),
      model.metadata('body', row, column),
      this._trans
    );
  }

  /** What the user reads in a column header. */
  headerText(column: number): string {
    const model = this.dataModel as ArrowDataModel;
    return headerLabel(model.columns[column], this._trans, this._sortOf());
  }

  /** Show a new preview. */
  setModel(model: ArrowDataModel): void {
    this.dataModel = model;
    this.selectionModel = new BasicSelectionModel({ dataModel: model });
    // Room for a sort arrow in every header.
    const headers = model.columns.map(
      column => `${headerLabel(column, this._trans)} ▼`
    );
    estimateColumnWidths(model, headers).forEach((width, column) =>
      this.resizeColumn('body', column, width)
    );
  }

  /** Re-read the theme's colours (on attach and when the theme changes). */
  refreshStyle(): void {
    const colors = readGridColors(this.node);
    this.style = {
      ...DataGrid.defaultStyle,
      voidColor: colors.void,
      backgroundColor: colors.background,
      headerBackgroundColor: colors.headerBackground,
      gridLineColor: colors.gridLine,
      headerGridLineColor: colors.headerGridLine,
      selectionFillColor: colors.selectionFill,
      headerSelectionFillColor: colors.selectionFill,
      cursorBorderColor: colors.cursorBorder
    };
    const trans = this._trans;
    const columnOf = (config: CellRenderer.CellConfig) =>
      (this.dataModel as ArrowDataModel | null)?.columns[config.column];
    this.cellRenderers.update({
      body: new TextRenderer({
        font: ({ metadata }) =>
          metadata.maskedCell ? `italic ${colors.font}` : colors.font,
        textColor: ({ metadata }) =>
          metadata.isNull && !metadata.maskedCell ? colors.dimText : colors.text,
        backgroundColor: ({ metadata }) => cellBackground(metadata, colors),
        format: ({ value, metadata }) => cellText(value, metadata, trans)
      }),
      'column-header': new TextRenderer({
        font: colors.headerFont,
        textColor: colors.text,
        backgroundColor: ({ metadata }) =>
          metadata.masked || metadata.cellMasked ? colors.maskedHeader : '',
        format: config => {
          const column = columnOf(config);
          return column
            ? headerLabel(column, trans, this._sortOf())
            : String(config.value);
        }
      }),
      'row-header': new TextRenderer({
        font: colors.font,
        textColor: colors.dimText,
        horizontalAlignment: 'right'
      })
    });
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.refreshStyle();
  }

  private _trans: TranslationBundle;
  private _sortOf: () => OrderKey | null;
}

export namespace PreviewGrid {
  export interface IOptions {
    /** The column the rows are sorted by, if a header asked for it. */
    sortOf: () => OrderKey | null;
    /** A column header was clicked. */
    onSort: (column: string) => void;
  }
}

function readGridColors(node: HTMLElement): IGridColors {
  const style = getComputedStyle(node);
  const read = (name: string, fallback: string) =>
    style.getPropertyValue(name).trim() || fallback;
  const fontSize = read('--jp-code-font-size', '13px');
  const fontFamily = read('--jp-code-font-family', 'monospace');
  return {
    background: read('--jp-layout-color0', 'white'),
    void: read('--jp-layout-color1', 'white'),
    headerBackground: read('--jp-layout-color2', '#eeeeee'),
    gridLine: read('--jp-border-color3', 'rgba(20, 20, 20, 0.15)'),
    headerGridLine: read('--jp-border-color2', 'rgba(20, 20, 20, 0.25)'),
    selectionFill: read(
      '--jp-warden-selection-background',
      'rgba(49, 119, 180, 0.2)'
    ),
    cursorBorder: read('--jp-brand-color1', '#1976d2'),
    text: read('--jp-ui-font-color1', 'black'),
    dimText: read('--jp-ui-font-color3', 'gray'),
    maskedColumn: read(
      '--jp-warden-masked-column-background',
      'rgba(255, 152, 0, 0.12)'
    ),
    maskedCell: read(
      '--jp-warden-masked-cell-background',
      'rgba(255, 152, 0, 0.4)'
    ),
    maskedHeader: read(
      '--jp-warden-masked-header-background',
      'rgba(255, 152, 0, 0.25)'
    ),
    font: `${fontSize} ${fontFamily}`,
    headerFont: `bold ${fontSize} ${fontFamily}`
  };
}

/** Pixels from a column's edge where a press resizes rather than sorts. */
const RESIZE_MARGIN = 6;
const CHAR_WIDTH = 7.5;
const MIN_COLUMN_WIDTH = 64;
const MAX_COLUMN_WIDTH = 360;
