/**
 * What the UI tests share: the layout each project runs in, and checks of what a user can
 * actually see and reach (not only what the DOM holds).
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator, TestInfo } from '@playwright/test';

export const TRIAL = 'drug_xyz.trial_july2020';
export const THEMES = { light: 'JupyterLab Light', dark: 'JupyterLab Dark' } as const;
export type Theme = keyof typeof THEMES;
/** A sidebar narrower than JupyterLab's usual 250 px minimum. */
export const NARROW_SIDEBAR = 200;

export type Persona = 'alice' | 'carlos' | 'cora';

export function personaOf(testInfo: TestInfo): Persona {
  return testInfo.project.name as Persona;
}

/** The project's layout (see playwright.config.js): its theme and sidebar width. */
export function layoutOf(testInfo: TestInfo): { theme: Theme; narrow: boolean } {
  const metadata = testInfo.project.metadata as { theme: Theme; sidebar: string };
  return { theme: metadata.theme, narrow: metadata.sidebar === 'narrow' };
}

/** Open the Warden sidebar in the project's layout and wait for the catalog. */
export async function openCatalog(page: IJupyterLabPageFixture, testInfo: TestInfo): Promise<void> {
  const layout = layoutOf(testInfo);
  await expect(page.locator('body')).toHaveAttribute('data-jp-theme-name', THEMES[layout.theme]);
  await page.sidebar.openTab('warden-catalog');
  if (layout.narrow) {
    await page.sidebar.setWidth(NARROW_SIDEBAR);
  }
  await expect(page.locator('.jp-warden-dataset-item').first()).toBeVisible();
}

export function datasetItem(page: IJupyterLabPageFixture, name: string): Locator {
  return page.locator(`.jp-warden-dataset-item[data-warden-dataset="${name}"]`);
}

export function detailsOf(page: IJupyterLabPageFixture, name: string): Locator {
  return page.locator(`.jp-warden-details[data-warden-dataset="${name}"]`);
}

/**
 * Where `element` stands against what is visible: inside the window and every clipping
 * ancestor (`above`/`below` when not), and whether a click at its centre lands on it.
 */
export async function visibility(element: Locator): Promise<{ position: 'above' | 'below' | 'inside' | 'beside'; hittable: boolean }> {
  return element.evaluate(node => {
    const rect = node.getBoundingClientRect();
    const clip = { top: 0, left: 0, bottom: window.innerHeight, right: window.innerWidth };
    // The body's overflow applies to the window, already in `clip`.
    for (let parent = node.parentElement; parent && parent !== document.body; parent = parent.parentElement) {
      const style = getComputedStyle(parent);
      if (style.overflowX === 'visible' && style.overflowY === 'visible') {
        continue;
      }
      const box = parent.getBoundingClientRect();
      const top = box.top + parent.clientTop;
      const left = box.left + parent.clientLeft;
      clip.top = Math.max(clip.top, top);
      clip.left = Math.max(clip.left, left);
      clip.bottom = Math.min(clip.bottom, top + parent.clientHeight);
      clip.right = Math.min(clip.right, left + parent.clientWidth);
    }
    const slack = 0.5;
    const position =
      rect.top < clip.top - slack
        ? 'above'
        : rect.bottom > clip.bottom + slack
          ? 'below'
          : rect.left < clip.left - slack || rect.right > clip.right + slack
            ? 'beside'
            : 'inside';
    const hit = document.elementFromPoint((rect.left + rect.right) / 2, (rect.top + rect.bottom) / 2);
    return { position, hittable: position === 'inside' && !!hit && node.contains(hit) };
  });
}

/**
 * Bring `target` fully into view the way a user does, with the mouse wheel over `scroller`,
 * and check it can be clicked there. Fails when wheeling cannot get it into view.
 */
export async function wheelIntoView(page: IJupyterLabPageFixture, scroller: Locator, target: Locator): Promise<void> {
  const area = await scroller.evaluate(node => {
    const box = node.getBoundingClientRect();
    return {
      x: box.left + box.width / 2,
      y: (Math.max(box.top, 0) + Math.min(box.bottom, window.innerHeight)) / 2
    };
  });
  await page.mouse.move(area.x, area.y);
  for (let step = 0; step < 60; step++) {
    const seen = await visibility(target);
    if (seen.position === 'inside') {
      expect(seen.hittable, 'the element is in view but something covers it').toBe(true);
      return;
    }
    if (seen.position === 'beside') {
      throw new Error('the element is cut off at the side: the section is too narrow for it');
    }
    await page.mouse.wheel(0, seen.position === 'below' ? 80 : -80);
    await page.waitForTimeout(30);
  }
  throw new Error(`the mouse wheel over ${scroller} did not bring ${target} into view`);
}

/**
 * Serious and critical axe-core violations inside `selectors`. JupyterLab's <body> is 0 px
 * high (its shell is positioned absolutely), which axe reads as "everything clipped" and then
 * skips the colour checks; the body is given the window's height first, as the user sees it.
 */
export async function seriousViolations(page: IJupyterLabPageFixture, selectors: string[]): Promise<string[]> {
  await page.evaluate(() => {
    document.documentElement.style.height = '100%';
    document.body.style.height = '100%';
  });
  let builder = new AxeBuilder({ page });
  for (const selector of selectors) {
    builder = builder.include(selector);
  }
  const results = await builder.analyze();
  // The colour check must have looked at the text, not skipped it.
  const contrastChecked = [...results.passes, ...results.violations, ...results.incomplete]
    .filter(rule => rule.id === 'color-contrast')
    .reduce((count, rule) => count + rule.nodes.length, 0);
  expect(contrastChecked, 'elements whose contrast axe checked').toBeGreaterThan(20);
  return results.violations
    .filter(violation => violation.impact === 'serious' || violation.impact === 'critical')
    .flatMap(violation => violation.nodes.map(node => `${violation.id}: ${node.target.join(' ')}: ${node.failureSummary?.split('\n').slice(1).join(' ')}`));
}
