import {
  PREVIEW_ROWS,
  SNIPPET_FLAVOURS,
  type SnippetFlavour
} from '../common/api';
import { DEFAULT_SETTINGS, type IWardenSettings } from './tokens';

/** Settings as the extension uses them; out-of-range values fall back to defaults. */
export function readSettings(
  composite: Readonly<Record<string, unknown>>
): IWardenSettings {
  const limit = composite.previewRowLimit;
  const flavour = composite.snippetFlavour;
  return {
    previewRowLimit:
      Number.isInteger(limit) &&
      (limit as number) >= 1 &&
      (limit as number) <= PREVIEW_ROWS.max
        ? (limit as number)
        : DEFAULT_SETTINGS.previewRowLimit,
    snippetFlavour: SNIPPET_FLAVOURS.includes(flavour as SnippetFlavour)
      ? (flavour as SnippetFlavour)
      : DEFAULT_SETTINGS.snippetFlavour
  };
}
