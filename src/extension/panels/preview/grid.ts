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

/** The header text: the column name, with how it is masked. */
export function headerLabel(
  marking: Pick<IColumnMarking, 'name' | 'masked' | 'cellMasked'>,
  trans: TranslationBundle
): string {
  if (marking.masked) {
    return trans.__('%1 (masked)', marking.name);
  }
  if (marking.cellMasked) {
    return trans.__('%1 (some cells masked)', marking.name);
  }
  return marking.name;
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

/** A DataGrid that paints Warden's masking marks and follows the theme. */
export class PreviewGrid extends DataGrid {
  constructor(trans: TranslationBundle) {
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
    this.addClass('jp-warden-preview-grid');
    this.keyHandler = new BasicKeyHandler();
    this.mouseHandler = new BasicMouseHandler();
  }

  /** Show a new preview. */
  setModel(model: ArrowDataModel): void {
    this.dataModel = model;
    this.selectionModel = new BasicSelectionModel({ dataModel: model });
    const headers = model.columns.map(column =>
      headerLabel(column, this._trans)
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
        font: colors.font,
        textColor: ({ metadata }) =>
          metadata.isNull ? colors.dimText : colors.text,
        backgroundColor: ({ metadata }) => cellBackground(metadata, colors),
        format: ({ value }) => (value === null ? 'null' : String(value))
      }),
      'column-header': new TextRenderer({
        font: colors.headerFont,
        textColor: colors.text,
        backgroundColor: ({ metadata }) =>
          metadata.masked || metadata.cellMasked ? colors.maskedHeader : '',
        format: config => {
          const column = columnOf(config);
          return column ? headerLabel(column, trans) : String(config.value);
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

const CHAR_WIDTH = 7.5;
const MIN_COLUMN_WIDTH = 64;
const MAX_COLUMN_WIDTH = 360;
