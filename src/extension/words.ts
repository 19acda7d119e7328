import type { TranslationBundle } from '@jupyterlab/translation';

import type {
  CellMaskEffect,
  ColumnEffect,
  DatasetDetail,
  RowFilterInfo
} from '../common/api';
import type { OrderKey } from '../common/order';

/**
 * Words shared by the details section and the preview, so both say the same thing. Masks
 * are described by the service, from the mask registry (`effect.description`); what is
 * phrased here is what the extension shows around them.
 */

/**
 * A column's cell masks as the user gets them: withheld cells (empty in the preview, null in
 * pandas, Arrow and polars; README, "Masked values") where any of the conditions holds.
 */
export function cellMaskWords(
  cellMasks: readonly CellMaskEffect[],
  trans: TranslationBundle
): string {
  return trans.__(
    'withheld where %1',
    cellMasks.map(mask => mask.condition).join(trans.__(' or '))
  );
}

/** "time, newest first" for dates and times; "ssn, descending" otherwise. */
export function orderWords(
  key: OrderKey,
  columnType: string,
  trans: TranslationBundle
): string {
  const temporal = /date|time/i.test(columnType);
  const direction = temporal
    ? key.descending
      ? trans.__('newest first')
      : trans.__('oldest first')
    : key.descending
      ? trans.__('descending')
      : trans.__('ascending');
  return trans.__('%1, %2', key.column, direction);
}

/** One way a user's view of a dataset changed, as two versions of its details tell. */
export type ViewChange =
  | {
      kind: 'column';
      column: string;
      before: ColumnEffect | null;
      after: ColumnEffect | null;
    }
  | { kind: 'rows'; after: RowFilterInfo | null }
  | { kind: 'order'; after: readonly string[] }
  | { kind: 'catalog' };

/** A change of the user's view of a dataset, seen while it was shown, and when. */
export interface IViewUpdate {
  at: Date;
  changes: ViewChange[];
}

/** What differs between two versions of a view, column by column, then rows, then order. */
export function viewChanges(
  before: DatasetDetail,
  after: DatasetDetail
): ViewChange[] {
  const effects = (detail: DatasetDetail) =>
    new Map(detail.columns.map(column => [column.name, column.effect]));
  const was = effects(before);
  const now = effects(after);
  const changes: ViewChange[] = [];
  for (const column of new Set([...was.keys(), ...now.keys()])) {
    const [from, to] = [was.get(column) ?? null, now.get(column) ?? null];
    if (effectWords(from) !== effectWords(to)) {
      changes.push({ kind: 'column', column, before: from, after: to });
    }
  }
  if (before.rowFilter?.description !== after.rowFilter?.description) {
    changes.push({ kind: 'rows', after: after.rowFilter });
  }
  if (before.defaultOrder.join() !== after.defaultOrder.join()) {
    changes.push({ kind: 'order', after: after.defaultOrder });
  }
  // The version changed, yet nothing above did: the description, owner, tags or policy names.
  if (!changes.length && before.version !== after.version) {
    changes.push({ kind: 'catalog' });
  }
  return changes;
}

/** A change in one sentence: "ssn: now clear", "adverse_events: no cells withheld any more". */
export function viewChangeWords(
  change: ViewChange,
  trans: TranslationBundle
): string {
  switch (change.kind) {
    case 'column': {
      const { column, before, after } = change;
      if (!after) {
        return trans.__('%1: no longer in the dataset', column);
      }
      if (!before) {
        return trans.__('%1: new column, %2', column, accessWords(after, trans));
      }
      // A clear column's description only says whether cell masks apply: they are told apart.
      const wholeColumn = (effect: ColumnEffect) =>
        effect.access === 'masked' ? effect.description : effect.access;
      if (wholeColumn(before) !== wholeColumn(after)) {
        return trans.__('%1: now %2', column, accessWords(after, trans));
      }
      return after.cellMasks.length
        ? trans.__('%1: now %2', column, cellMaskWords(after.cellMasks, trans))
        : trans.__('%1: no cells withheld any more', column);
    }
    case 'rows':
      return change.after
        ? trans.__('rows: now %1', change.after.description)
        : trans.__('rows: now all of them');
    case 'order':
      return change.after.length
        ? trans.__('default order: now %1', change.after.join(', '))
        : trans.__("default order: now the source's");
    case 'catalog':
      return trans.__('its description, owner, tags or the policies listed');
  }
}

/** "clear", "hidden", or the mask's words ("last 4 characters shown"). */
function accessWords(effect: ColumnEffect, trans: TranslationBundle): string {
  switch (effect.access) {
    case 'clear':
      return trans.__('clear');
    case 'hidden':
      return trans.__('hidden');
    case 'masked':
      return effect.description;
  }
}

/** An effect as it reads, for comparing two versions (null: no such column). */
function effectWords(effect: ColumnEffect | null): string {
  return effect
    ? JSON.stringify([
        effect.access,
        effect.description,
        effect.cellMasks.map(mask => [mask.condition, mask.description])
      ])
    : '';
}
