import { MainAreaWidget } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import { refreshIcon, ToolbarButton } from '@jupyterlab/ui-components';
import { Panel } from '@lumino/widgets';

import { wardenIcon } from '../../icons';
import { PreviewHeader } from './body';
import type { ArrowDataModel } from './datamodel';
import { PreviewGrid } from './grid';
import { PreviewModel } from './model';
import { PreviewTable } from './table';

export { PreviewModel } from './model';

/**
 * The preview of one dataset: a summary of the enforcement above a grid, and the grid's rows
 * again as a table for screen readers (the grid is a canvas).
 */
export class PreviewPanel extends Panel {
  constructor(options: PreviewPanel.IOptions) {
    super();
    this.model = new PreviewModel(options);
    this.addClass('jp-warden-preview');
    this.node.dataset.wardenDataset = options.dataset;
    this._grid = new PreviewGrid(options.trans, {
      sortOf: () => this.model.sort,
      onSort: column => void this.model.toggleSort(column)
    });
    this._grid.hide();
    this._table = new PreviewTable(options.trans);
    // Closing the preview closes the tab holding it.
    const close = () => (this.parent ?? this).close();
    this.addWidget(new PreviewHeader(this.model, options.trans, close));
    this.addWidget(this._grid);
    this.addWidget(this._table);
    this.model.stateChanged.connect(this._onModelChanged, this);
  }

  readonly model: PreviewModel;

  /** The grid, for what the user reads in it (tests). */
  get grid(): PreviewGrid {
    return this._grid;
  }

  /** The rows as a screen reader reads them. */
  get table(): PreviewTable {
    return this._table;
  }

  /** Repaint with the current theme's colours. */
  refreshStyle(): void {
    this._grid.refreshStyle();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.dispose();
    super.dispose();
  }

  private _onModelChanged(): void {
    const { dataModel, detail, sort } = this.model;
    if (dataModel !== this._shown) {
      this._shown = dataModel;
      if (dataModel && detail) {
        this._grid.setModel(dataModel);
        this._table.mirror(dataModel, detail, sort);
      } else {
        this._table.clear();
      }
    }
    this._grid.setHidden(!dataModel);
  }

  private _grid: PreviewGrid;
  private _table: PreviewTable;
  private _shown: ArrowDataModel | null = null;
}

export namespace PreviewPanel {
  export interface IOptions extends PreviewModel.IOptions {
    trans: TranslationBundle;
  }

  /** A main-area tab holding the preview, with a refresh button. */
  export function createWidget(
    options: IOptions
  ): MainAreaWidget<PreviewPanel> {
    const content = new PreviewPanel(options);
    const widget = new MainAreaWidget({ content });
    widget.id = `warden-preview-${options.dataset.replace(/[^\w-]/g, '-')}`;
    widget.title.label = options.trans.__('Preview: %1', options.dataset);
    widget.title.caption = options.trans.__(
      'First rows of %1 after Warden policies; click a column header to sort',
      options.dataset
    );
    widget.title.icon = wardenIcon;
    widget.title.closable = true;
    widget.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        className: 'jp-warden-preview-refresh',
        tooltip: options.trans.__('Fetch the preview again'),
        onClick: () => void content.model.load()
      })
    );
    return widget;
  }
}
