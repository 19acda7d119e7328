import type { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import type { ColumnAccess } from '../../common/api';

/** Clear / masked / hidden, each with its own colour and label. */
export function AccessBadge(props: {
  access: ColumnAccess;
  trans: TranslationBundle;
}): JSX.Element {
  const labels: Record<ColumnAccess, string> = {
    clear: props.trans.__('clear'),
    masked: props.trans.__('masked'),
    hidden: props.trans.__('hidden')
  };
  return (
    <span
      className={`jp-warden-access-badge jp-warden-access-${props.access}`}
      data-warden-access={props.access}
    >
      {labels[props.access]}
    </span>
  );
}

/** Marks a column some of whose cells are masked. */
export function CellMaskBadge(props: {
  trans: TranslationBundle;
}): JSX.Element {
  return (
    <span className="jp-warden-access-badge jp-warden-access-cell">
      {props.trans.__('some cells masked')}
    </span>
  );
}
