import type { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { SidePanel } from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';
import type { AccordionPanel } from '@lumino/widgets';

import { wardenIcon } from '../icons';
import { CatalogModel, CatalogPanel } from '../panels/catalog';
import { DetailsModel, DetailsPanel } from '../panels/details';
import { CATALOG_WIDGET_ID } from '../tokens';

/** The Warden sidebar: the catalog above, the selected dataset below. */
export class WardenSidebar extends SidePanel {
  constructor(options: WardenSidebar.IOptions) {
    super({ translator: options.translator });
    const { catalog, details, commands, trans } = options;
    this.id = CATALOG_WIDGET_ID;
    this.addClass('jp-warden-sidebar');
    this.title.icon = wardenIcon;
    this.title.caption = trans.__('Warden datasets');
    this.addWidget(new CatalogPanel({ model: catalog, commands, trans }));
    this.addWidget(new DetailsPanel({ model: details, commands, trans }));
    // A catalog list is usually longer than one dataset's details.
    (this.content as AccordionPanel).setRelativeSizes([3, 2]);
  }
}

export namespace WardenSidebar {
  export interface IOptions {
    catalog: CatalogModel;
    details: DetailsModel;
    commands: CommandRegistry;
    translator: ITranslator;
    trans: TranslationBundle;
  }
}
