import type { TranslationBundle } from '@jupyterlab/translation';
import {
  CommandToolbarButton,
  PanelWithToolbar
} from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';

import { CommandIDs } from '../../tokens';
import { CatalogBody } from './body';
import type { CatalogModel } from './model';

export { CatalogModel } from './model';

/** The "Datasets" section of the sidebar, with a refresh button in its title. */
export class CatalogPanel extends PanelWithToolbar {
  constructor(options: CatalogPanel.IOptions) {
    super();
    this.id = 'warden-catalog-datasets';
    this.addClass('jp-warden-catalog');
    this.title.label = options.trans.__('Datasets');
    this.toolbar.addItem(
      'refresh',
      new CommandToolbarButton({
        commands: options.commands,
        id: CommandIDs.refreshCatalog,
        label: ''
      })
    );
    this.addWidget(new CatalogBody(options));
  }
}

export namespace CatalogPanel {
  export interface IOptions {
    model: CatalogModel;
    commands: CommandRegistry;
    trans: TranslationBundle;
  }
}
