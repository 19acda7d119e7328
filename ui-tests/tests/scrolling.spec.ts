/**
 * Every sidebar section scrolls: at 1280x800, with the default and a narrow sidebar, in the
 * light and dark themes, the last dataset of the list and the last row of the per-column
 * table can be wheeled into view and clicked.
 */
import { expect, test } from '@jupyterlab/galata';

import { datasetItem, detailsOf, NARROW_SIDEBAR, THEMES, TRIAL, wheelIntoView } from './helpers';

test.use({ autoGoto: true });

// In the order the list shows them: databases, then tables, alphabetically.
const LAST_DATASET = 'warden.audit_log';
const LAST_TRIAL_COLUMN = 'enrolled_on';

test('the dataset list and the details scroll to their last rows', async ({ page }) => {
  await page.sidebar.openTab('warden-catalog');
  const list = page.locator('.jp-warden-dataset-list');
  const detailsBody = page.locator('.jp-warden-details-body');
  await expect(datasetItem(page, LAST_DATASET)).toHaveCount(1);
  const defaultWidth = (await page.locator('#warden-catalog').boundingBox())!.width;

  for (const theme of ['light', 'dark'] as const) {
    await page.theme.setTheme(THEMES[theme]);
    for (const width of [defaultWidth, NARROW_SIDEBAR]) {
      await test.step(`${theme} theme, sidebar ${width}px`, async () => {
        await page.sidebar.setWidth(width);
        await list.evaluate(node => node.scrollTo(0, 0));

        // The last dataset: wheeled into view, clicked, and its details shown.
        const last = datasetItem(page, LAST_DATASET);
        await wheelIntoView(page, list, last);
        await last.click();
        await expect(last).toHaveAttribute('aria-selected', 'true');
        await expect(detailsOf(page, LAST_DATASET).locator('.jp-warden-details-name')).toHaveText(LAST_DATASET);

        // The per-column table of the trial, down to its last row.
        const trial = datasetItem(page, TRIAL);
        await wheelIntoView(page, list, trial);
        await trial.click();
        const lastRow = detailsOf(page, TRIAL).locator(`.jp-warden-column-row[data-warden-column="${LAST_TRIAL_COLUMN}"]`);
        await expect(lastRow).toHaveCount(1);
        await detailsBody.evaluate(node => node.scrollTo(0, 0));
        await wheelIntoView(page, detailsBody, lastRow);
        await lastRow.click();
        await expect(lastRow.locator('.jp-warden-column-name')).toHaveText(LAST_TRIAL_COLUMN);
        await expect(lastRow.locator('.jp-warden-access-badge')).toHaveText('clear');
      });
    }
  }
});
