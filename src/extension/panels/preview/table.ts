import type { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { PREVIEW_ROWS, type DatasetDetail } from '../../../common/api';
import type { OrderKey } from '../../../common/order';
import { cellMaskWords } from '../../words';
import type { ArrowDataModel, IColumnMarking } from './datamodel';
import { cellText } from './grid';

/**
 * A column header as a screen reader says it: the name and, in the words of the details
 * section, how the column is masked.
 */
export function columnHeaderWords(
  marking: Pick<IColumnMarking, 'name' | 'masked' | 'cellMasked'>,
  detail: DatasetDetail,
  trans: TranslationBundle
): string {
  const effect = detail.columns.find(c => c.name === marking.name)?.effect;
  if (marking.masked) {
    return trans.__(
      '%1, masked: %2',
      marking.name,
      effect?.description ?? trans.__('masked')
    );
  }
  if (marking.cellMasked && effect?.cellMasks.length) {
    return trans.__(
      '%1, %2',
      marking.name,
      cellMaskWords(effect.cellMasks, trans)
    );
  }
  return marking.name;
}

/**
 * How many rows of a preview the table mirrors: a page at most, fewer when the columns are
 * many, so the document stays small whatever the row limit and the width of the dataset.
 */
export function mirroredRows(rows: number, columns: number): number {
  return Math.min(
    rows,
    PREVIEW_ROWS.default,
    Math.max(1, Math.floor(MAX_MIRRORED_CELLS / Math.max(1, columns)))
  );
}

/**
 * The rows the grid paints on its canvas, as an HTML table that screen readers can walk
 * (headers, row numbers, cells); kept out of sight, not out of the accessibility tree.
 */
export class PreviewTable extends Widget {
  constructor(trans: TranslationBundle) {
    super();
    this._trans = trans;
    this.addClass('jp-warden-preview-table');
  }

  /** Mirror the rows of `model`, described by `detail` and asked for in the order `sort`. */
  mirror(
    model: ArrowDataModel,
    detail: DatasetDetail,
    sort: OrderKey | null
  ): void {
    const trans = this._trans;
    const columns = model.columns;
    const shown = model.rowCount('body');
    const rows = mirroredRows(shown, columns.length);
    const table = document.createElement('table');
    const cell = (tag: 'th' | 'td', text: string) => {
      const element = document.createElement(tag);
      element.textContent = text;
      return element;
    };

    table.createCaption().textContent =
      rows < shown
        ? trans.__(
            '%1: the first %2 of the %3 rows in the preview',
            detail.name,
            rows,
            shown
          )
        : trans._n(
            '%2: the row in the preview',
            '%2: the %1 rows in the preview',
            shown,
            detail.name
          );

    const headerRow = table.createTHead().insertRow();
    const rowNumbers = cell('th', trans.__('Row'));
    rowNumbers.scope = 'col';
    headerRow.append(rowNumbers);
    for (const marking of columns) {
      const header = cell('th', columnHeaderWords(marking, detail, trans));
      header.scope = 'col';
      header.dataset.wardenColumn = marking.name;
      if (sort?.column === marking.name) {
        header.setAttribute(
          'aria-sort',
          sort.descending ? 'descending' : 'ascending'
        );
      }
      headerRow.append(header);
    }

    const body = table.createTBody();
    for (let row = 0; row < rows; row++) {
      const tr = body.insertRow();
      const number = cell('th', String(row + 1));
      number.scope = 'row';
      tr.append(number);
      columns.forEach((_, column) =>
        tr.append(
          cell(
            'td',
            cellText(
              model.text(row, column),
              model.metadata('body', row, column),
              trans
            )
          )
        )
      );
    }
    this.node.replaceChildren(table);
  }

  /** Mirror nothing: the preview shows no rows. */
  clear(): void {
    this.node.replaceChildren();
  }

  private _trans: TranslationBundle;
}

/** The most cells the table holds (rows times columns). */
const MAX_MIRRORED_CELLS = 5_000;
