import type { TranslationBundle } from '@jupyterlab/translation';
import { PanelWithToolbar } from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';

import { DetailsBody } from './body';
import type { DetailsModel } from './model';

export { DetailsModel } from './model';

/** The "Details" section of the sidebar, following the catalog's selection. */
export class DetailsPanel extends PanelWithToolbar {
  constructor(options: DetailsPanel.IOptions) {
    super();
    this.id = 'warden-catalog-details';
    this.addClass('jp-warden-details-panel');
    this.title.label = options.trans.__('Details');
    this.addWidget(new DetailsBody(options));
  }
}

export namespace DetailsPanel {
  export interface IOptions {
    model: DetailsModel;
    commands: CommandRegistry;
    trans: TranslationBundle;
  }
}
