/**
 * The sidebar's smaller points, as the user sees them: usable below JupyterLab's 250 px
 * (placeholder whole, emails and policy names not broken at hyphens), tag chips on one line
 * with "+N more", column descriptions shown, and open previews and the selection restored
 * after a reload.
 */
import { expect, test, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

import { datasetItem, detailsOf, NARROW_SIDEBAR, openCatalog, TRIAL } from './helpers';

test.use({ autoGoto: true });

const MARCH = 'drug_xyz.trial_march2021';
const TAG_COUNT = { alice: 13, carlos: 6 } as Record<string, number>;

/**
 * Where `element`'s text wraps: for each hyphen, whether the characters around it sit on
 * one line; and whether each unbreakable part is shown whole (not cut by an ellipsis).
 */
async function wrapping(element: Locator): Promise<{ hyphensBroken: number; hyphens: number; partsCut: number }> {
  return element.evaluate(node => {
    let hyphens = 0;
    let hyphensBroken = 0;
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode() as Text | null; text; text = walker.nextNode() as Text | null) {
      const value = text.data;
      for (let at = value.indexOf('-'); at > 0 && at < value.length - 1; at = value.indexOf('-', at + 1)) {
        hyphens++;
        const range = document.createRange();
        range.setStart(text, at - 1);
        range.setEnd(text, at + 2);
        const tops = new Set(Array.from(range.getClientRects()).map(rect => Math.round(rect.top)));
        hyphensBroken += tops.size > 1 ? 1 : 0;
      }
    }
    const partsCut = Array.from(node.querySelectorAll<HTMLElement>('.jp-warden-unbroken')).filter(part => part.scrollWidth > part.clientWidth + 1).length;
    return { hyphens, hyphensBroken, partsCut };
  });
}

test('a sidebar narrower than 250 px stays readable', async ({ page }, testInfo) => {
  await openCatalog(page, testInfo);
  await page.sidebar.setWidth(NARROW_SIDEBAR);
  const width = (await page.locator('#warden-catalog').boundingBox())!.width;
  expect(width).toBeLessThan(250);
  expect(width).toBeGreaterThanOrEqual(NARROW_SIDEBAR - 10);

  // The placeholder is shown whole.
  const search = page.locator('input.jp-warden-search');
  const placeholder = await search.evaluate((input: HTMLInputElement) => {
    const style = getComputedStyle(input);
    const context = document.createElement('canvas').getContext('2d')!;
    context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    return {
      text: input.placeholder,
      width: context.measureText(input.placeholder).width,
      room: input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)
    };
  });
  expect(placeholder.text).toBe('Search datasets');
  expect(placeholder.width).toBeLessThanOrEqual(placeholder.room);

  // The owner's email and the policy names wrap between names, never at their hyphens.
  await datasetItem(page, TRIAL).click();
  const details = detailsOf(page, TRIAL);
  const owner = details.locator('.jp-warden-details-owner');
  await expect(owner).toHaveText('clinical-data@example.com');
  expect(await wrapping(owner)).toEqual({ hyphens: 1, hyphensBroken: 0, partsCut: 0 });
  const policies = await wrapping(details.locator('.jp-warden-details-policies'));
  expect(policies.hyphens).toBeGreaterThan(3);
  expect(policies.hyphensBroken).toBe(0);

  // Column descriptions are text in the table, not tooltips.
  const country = details.locator('.jp-warden-column-row[data-warden-column="country"] .jp-warden-column-description');
  await expect(country).toHaveText('Country of the trial site');
  await expect(country).toBeVisible();
});

test('tag chips take one line until asked for more', async ({ page }, testInfo) => {
  await openCatalog(page, testInfo);
  const more = page.locator('.jp-warden-tag-more');
  await expect(more).toHaveText(/^\+\d+ more$/);
  const row = page.locator('.jp-warden-tag-chips');
  const chips = async () =>
    row.evaluate(node => {
      const box = node.getBoundingClientRect();
      const shown = Array.from(node.children).filter(chip => getComputedStyle(chip).visibility !== 'hidden');
      return {
        total: node.children.length,
        shown: shown.length,
        lines: new Set(shown.map(chip => Math.round(chip.getBoundingClientRect().top))).size,
        allInside: shown.every(chip => chip.getBoundingClientRect().right <= box.right + 0.5)
      };
    });
  const collapsed = await chips();
  expect(collapsed.total).toBe(TAG_COUNT[testInfo.project.name]);
  expect(collapsed).toMatchObject({ lines: 1, allInside: true });
  expect(collapsed.shown).toBeGreaterThan(0);
  expect(await more.textContent()).toBe(`+${collapsed.total - collapsed.shown} more`);

  await more.click();
  await expect(more).toHaveText('Show fewer');
  const expanded = await chips();
  expect(expanded.shown).toBe(expanded.total);
  expect(expanded.lines).toBeGreaterThan(1);
  expect(expanded.allInside).toBe(true);

  // A chip filters; collapsed again, the active chip is the first one shown.
  const last = row.locator('.jp-warden-tag-chip').last();
  const tag = (await last.getAttribute('data-warden-tag'))!;
  await last.click();
  await more.click();
  await expect(row.locator('.jp-warden-tag-chip').first()).toHaveAttribute('data-warden-tag', tag);
  await expect(row.locator('.jp-warden-tag-chip').first()).toHaveAttribute('aria-pressed', 'true');
});

test('open previews and the selection come back after a reload', async ({ page }, testInfo) => {
  await openCatalog(page, testInfo);
  await datasetItem(page, TRIAL).click();
  await detailsOf(page, TRIAL).locator('.jp-warden-preview-button').click();
  const preview = page.locator(`.jp-warden-preview[data-warden-dataset="${TRIAL}"]`);
  await expect(preview.locator('.jp-warden-preview-grid')).toBeVisible();
  // JupyterLab saves its state to the workspace within a second: wait for the selection to be in it.
  const saved = page.waitForRequest(request => request.method() === 'PUT' && /\/api\/workspaces\//.test(request.url()) && (request.postData() ?? '').includes(`"${MARCH}"`));
  await datasetItem(page, MARCH).click();
  await expect(detailsOf(page, MARCH)).toBeVisible();
  await saved;

  await reload(page);
  await expect(page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: `Preview: ${TRIAL}` })).toBeVisible();
  await expect(preview.locator('.jp-warden-preview-name')).toHaveText(TRIAL);
  await expect(preview.locator('.jp-warden-preview-grid')).toBeVisible();
  await expect(datasetItem(page, MARCH)).toHaveAttribute('aria-selected', 'true');
  await expect(detailsOf(page, MARCH).locator('.jp-warden-details-name')).toHaveText(MARCH);
});

async function reload(page: IJupyterLabPageFixture): Promise<void> {
  await page.evaluate(() => ((window as any).wardenTestMark = 'before reload'));
  // Galata's reload waits for the Launcher, which the restored layout does not show;
  // `waitForIsReady` (a Galata option Playwright's type does not list) skips that.
  await page.reload({ waitForIsReady: false } as Parameters<typeof page.reload>[0]);
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
  expect(await page.evaluate(() => (window as any).wardenTestMark)).toBeUndefined();
}
