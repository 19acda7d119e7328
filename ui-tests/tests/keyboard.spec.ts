/**
 * Keyboard and accessibility: from the search box, Tab reaches the datasets; the tree follows
 * the ARIA tree pattern (arrows, Home/End, Enter for details, Shift+Enter for the preview,
 * Escape back to search); axe-core finds no serious or critical violation in the sidebar,
 * the details and the preview, in the project's theme (light for alice, dark and narrow for
 * carlos).
 */
import { expect, test, type IJupyterLabPageFixture } from '@jupyterlab/galata';

import { detailsOf, layoutOf, openCatalog, seriousViolations, THEMES, TRIAL } from './helpers';

test.use({ autoGoto: true });

const FIRST_DATASET = { alice: 'commercial.production_batches', carlos: 'drug_abc.trial_jan2022' } as Record<string, string>;

/** The focused element, by its tree key, or its tag for anything else. */
async function focused(page: IJupyterLabPageFixture): Promise<string> {
  return page.evaluate(() => {
    const element = document.activeElement as HTMLElement | null;
    return element?.dataset.wardenKey ?? element?.tagName ?? 'none';
  });
}

test('keyboard through the catalog, and no serious axe violation', async ({ page }, testInfo) => {
  const persona = testInfo.project.name;
  await openCatalog(page, testInfo);
  const search = page.locator('input.jp-warden-search');
  const hint = page.locator('.jp-warden-key-hint');
  await search.focus();
  await expect(hint).toBeHidden();

  // Tab goes straight from the search box to the first dataset (the tag chips are skipped).
  await page.keyboard.press('Tab');
  expect(await focused(page)).toBe(`ds:${FIRST_DATASET[persona]}`);
  await expect(hint).toHaveText('Enter: details · Shift+Enter: preview · Escape: search');

  await page.keyboard.press('End');
  expect(await focused(page)).toBe('ds:warden.audit_log');
  await page.keyboard.press('Home');
  expect(await focused(page)).toBe(`db:${FIRST_DATASET[persona].split('.')[0]}`);
  // Down to the trial, one node at a time.
  for (let step = 0; step < 10 && (await focused(page)) !== `ds:${TRIAL}`; step++) {
    await page.keyboard.press('ArrowDown');
  }
  expect(await focused(page)).toBe(`ds:${TRIAL}`);
  await page.keyboard.press('ArrowLeft');
  expect(await focused(page)).toBe('db:drug_xyz');
  await page.keyboard.press('ArrowLeft');
  await expect(page.locator('[data-warden-key="db:drug_xyz"]')).toHaveAttribute('aria-expanded', 'false');
  await expect(page.locator(`[data-warden-dataset="${TRIAL}"]`)).toHaveCount(0);
  // Right opens the database, then goes to its first dataset.
  await page.keyboard.press('ArrowRight');
  expect(await focused(page)).toBe('db:drug_xyz');
  await page.keyboard.press('ArrowRight');
  expect(await focused(page)).toBe(`ds:${TRIAL}`);

  // Enter: the details of the focused dataset; Escape: back to the search box.
  await page.keyboard.press('Enter');
  await expect(detailsOf(page, TRIAL).locator('.jp-warden-details-name')).toHaveText(TRIAL);
  await expect(page.locator(`[data-warden-key="ds:${TRIAL}"]`)).toHaveAttribute('aria-selected', 'true');
  await page.keyboard.press('Escape');
  expect(await focused(page)).toBe('INPUT');
  // Down from the search box returns to the dataset last visited; Shift+Enter previews it.
  await page.keyboard.press('ArrowDown');
  expect(await focused(page)).toBe(`ds:${TRIAL}`);
  await page.keyboard.press('Shift+Enter');
  const preview = page.locator(`.jp-warden-preview[data-warden-dataset="${TRIAL}"]`);
  await expect(preview.locator('.jp-warden-preview-name')).toHaveText(TRIAL);
  await expect(preview.locator('.jp-warden-preview-grid')).toBeVisible();

  // axe-core on the sidebar (catalog and details) and the preview.
  const theme = layoutOf(testInfo).theme;
  await expect(page.locator('body')).toHaveAttribute('data-jp-theme-name', THEMES[theme]);
  expect(await seriousViolations(page, ['#warden-catalog', '.jp-warden-preview']), `${theme} theme`).toEqual([]);
});
