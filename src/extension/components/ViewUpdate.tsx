import type { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { viewChangeWords, type IViewUpdate } from '../words';

/**
 * Says that what is shown was refreshed because the user's view changed, and how: the same
 * notice in the details section and the preview, announced to screen readers.
 */
export function ViewUpdateNotice(props: {
  update: IViewUpdate;
  trans: TranslationBundle;
}): JSX.Element {
  const { update, trans } = props;
  return (
    <div className="jp-warden-view-update" role="status">
      {trans.__(
        'Updated at %1: your view changed (a policy, the catalog or your attributes).',
        update.at.toLocaleTimeString()
      )}
      <ul className="jp-warden-view-changes">
        {update.changes.map(change => {
          const words = viewChangeWords(change, trans);
          return <li key={words}>{words}</li>;
        })}
      </ul>
    </div>
  );
}
