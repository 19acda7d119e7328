/**
 * Words and marks people understand in the preview: how many rows the user may see in all,
 * the masks in the words of the details section (never internal names such as
 * `show_last(4)`), hidden columns listed as hidden, the audit log newest first, and a column
 * header click that sorts (ascending, descending, back to the dataset's order). The grid is a
 * canvas: screen readers get its rows as a table, which must say what the grid shows.
 */
import { expect, test, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator, TestInfo } from '@playwright/test';

import { datasetItem, detailsOf, openCatalog, personaOf, seriousViolations, TRIAL } from './helpers';

test.use({ autoGoto: true });

const AUDIT = 'warden.audit_log';
/** The trial's rows in the UI tests' demo lake (run.sh: --rows 400). */
const TRIAL_ROWS = 400;

async function openPreview(page: IJupyterLabPageFixture, testInfo: TestInfo, dataset: string): Promise<Locator> {
  await openCatalog(page, testInfo);
  await datasetItem(page, dataset).click();
  await detailsOf(page, dataset).locator('.jp-warden-preview-button').click();
  const preview = page.locator(`.jp-warden-preview[data-warden-dataset="${dataset}"]`);
  await expect(preview.locator('.jp-warden-preview-grid')).toBeVisible();
  return preview;
}

/** What the user reads in the open preview of `dataset`: headers and cells, column by column. */
async function readGrid(page: IJupyterLabPageFixture, dataset: string): Promise<{ headers: string[]; cells: Record<string, string[]> }> {
  return page.evaluate(name => {
    const app = (window as any).jupyterapp;
    const panel = [...app.shell.widgets('main')].find((w: any) => w.content?.model?.dataset === name).content;
    const model = panel.model.dataModel;
    const cells: Record<string, string[]> = {};
    const headers = model.columns.map((column: { name: string }, c: number) => {
      cells[column.name] = Array.from({ length: model.rowCount('body') }, (_, r) => panel.grid.cellText(r, c));
      return panel.grid.headerText(c);
    });
    return { headers, cells };
  }, dataset);
}

/**
 * What a screen reader finds in the preview's accessible table (found by its role and name,
 * as assistive technology does): column headers, and the cells of the first `rows` rows.
 */
async function readAccessibleTable(preview: Locator, dataset: string, rows: number): Promise<{ headers: string[]; sorted: string[]; cells: string[][] }> {
  const table = preview.getByRole('table', { name: new RegExp(`^${dataset.replace(/\./g, '\\.')}: `) });
  const headers = await table.getByRole('columnheader').allTextContents();
  const sorted = await table.locator('th[aria-sort]').evaluateAll(ths => ths.map(th => `${th.getAttribute('data-warden-column')} ${th.getAttribute('aria-sort')}`));
  const cells: string[][] = [];
  for (let row = 1; row <= rows; row++) {
    cells.push(await table.getByRole('row').nth(row).getByRole('cell').allTextContents());
  }
  return { headers, sorted, cells };
}

/** Clicks the middle of a column's header in the grid (a canvas), as a user does. */
async function clickHeader(page: IJupyterLabPageFixture, dataset: string, column: string): Promise<void> {
  const point = await page.evaluate(
    ({ name, column }) => {
      const app = (window as any).jupyterapp;
      const grid = [...app.shell.widgets('main')].find((w: any) => w.content?.model?.dataset === name).content.grid;
      const index = grid.dataModel.columns.findIndex((c: { name: string }) => c.name === column);
      let left = grid.headerWidth - grid.scrollX;
      for (let c = 0; c < index; c++) left += grid.columnSize('body', c);
      const box = grid.viewport.node.getBoundingClientRect();
      return { x: box.left + left + grid.columnSize('body', index) / 2, y: box.top + grid.headerHeight / 2 };
    },
    { name: dataset, column }
  );
  await page.mouse.click(point.x, point.y);
}

const ascending = (values: string[]) => values.every((value, i) => i === 0 || values[i - 1] <= value);
const descending = (values: string[]) => values.every((value, i) => i === 0 || values[i - 1] >= value);

test('the preview says how many rows there are in all, what each mark means, and sorts by a header', async ({ page }, testInfo) => {
  const alice = personaOf(testInfo) === 'alice';
  const preview = await openPreview(page, testInfo, TRIAL);
  const summary = preview.locator('.jp-warden-preview-summary');

  // All the rows the user may see, counted under the same row filter: alice the US ones.
  const rowsLine = summary.locator('.jp-warden-preview-rows');
  await expect(rowsLine).toHaveText(/^first 100 of [\d,]+ rows you may see$/);
  const total = Number((await rowsLine.textContent())!.match(/of ([\d,]+)/)![1].replace(/,/g, ''));
  if (alice) {
    expect(total).toBeGreaterThan(100);
    expect(total).toBeLessThan(TRIAL_ROWS);
  } else {
    expect(total).toBe(TRIAL_ROWS);
  }

  // The legend: the masks in the details' words, cells withheld, hidden columns as hidden.
  const legend = summary.locator('.jp-warden-preview-legend');
  const legendText = (await legend.textContent())!;
  expect(legendText).not.toMatch(/show_last|year_only|email_domain|tokenize\b|\(\d+\)/);
  await expect(legend.locator('[data-warden-legend="adverse_events"]')).toContainText("adverse_events: withheld where arm = 'placebo'");
  if (alice) {
    await expect(legend.locator('[data-warden-legend="ssn"]')).toContainText('ssn: last 4 characters shown');
    await expect(legend.locator('[data-warden-legend="date_of_birth"]')).toContainText('date_of_birth: year only');
    await expect(legend.locator('[data-warden-legend="hidden"]')).toHaveCount(0);
  } else {
    await expect(legend.locator('[data-warden-legend="hidden"]')).toContainText('not shown to you: name, ssn, date_of_birth, email');
    await expect(legend.locator('[data-warden-legend="ssn"]')).toHaveCount(0);
  }
  // The badges are those of the details section.
  await expect(legend.locator('.jp-warden-access-badge').first()).toBeVisible();

  // The accessible table holds what the grid shows: a column per grid column, its mask in
  // words in the header, the same first values, masked cells said to be masked.
  const grid = await readGrid(page, TRIAL);
  const columns = Object.keys(grid.cells);
  const FIRST_ROWS = 5;
  const accessible = await readAccessibleTable(preview, TRIAL, FIRST_ROWS);
  expect(accessible.headers[0]).toBe('Row');
  expect(accessible.headers.slice(1).map(header => header.split(',')[0])).toEqual(columns);
  expect(accessible.headers).toContain("adverse_events, withheld where arm = 'placebo'");
  if (alice) {
    expect(accessible.headers).toContain('ssn, masked: last 4 characters shown');
  }
  expect(accessible.cells).toEqual(Array.from({ length: FIRST_ROWS }, (_, row) => columns.map(column => grid.cells[column][row])));
  const allCells = await preview.getByRole('table').getByRole('cell').allTextContents();
  expect(allCells).toHaveLength(100 * columns.length);
  expect(allCells.filter(text => text === 'masked').length).toBe(grid.cells.adverse_events.filter(text => text === 'masked').length);
  expect(allCells).toContain('masked');
  expect(await seriousViolations(page, ['#warden-catalog', '.jp-warden-preview'])).toEqual([]);

  // A header click sorts: ascending, descending, then the dataset's order again.
  const order = summary.locator('.jp-warden-preview-order');
  await expect(order).toHaveText("In the dataset's order. Click a column header to sort.");
  const sourceOrder = (await readGrid(page, TRIAL)).cells.participant_id;
  // The rows come a moment after the click: what the grid shows is polled.
  const shown = async () => {
    const grid = await readGrid(page, TRIAL);
    return { header: grid.headers[0], ids: grid.cells.participant_id };
  };
  await clickHeader(page, TRIAL, 'participant_id');
  await expect(order).toHaveText('Sorted by participant_id, ascending. Click a column header to sort.');
  await expect.poll(async () => ascending((await shown()).ids)).toBe(true);
  expect((await shown()).header).toMatch(/^participant_id.* ▲$/);
  // The accessible table follows: the same first ids, the sort said on its header.
  const sortedTable = await readAccessibleTable(preview, TRIAL, 3);
  expect(sortedTable.sorted).toEqual(['participant_id ascending']);
  expect(sortedTable.cells.map(cells => cells[0])).toEqual((await shown()).ids.slice(0, 3));
  await clickHeader(page, TRIAL, 'participant_id');
  await expect(order).toHaveText('Sorted by participant_id, descending. Click a column header to sort.');
  await expect.poll(async () => descending((await shown()).ids)).toBe(true);
  expect((await shown()).header).toMatch(/^participant_id.* ▼$/);
  expect((await shown()).ids).not.toEqual(sourceOrder);
  await clickHeader(page, TRIAL, 'participant_id');
  await expect(order).toHaveText("In the dataset's order. Click a column header to sort.");
  await expect.poll(async () => (await shown()).ids).toEqual(sourceOrder);
  expect((await shown()).header).not.toMatch(/[▲▼]/);
});

test('the audit log reads newest first', async ({ page }, testInfo) => {
  const preview = await openPreview(page, testInfo, AUDIT);
  await expect(preview.locator('.jp-warden-preview-order')).toHaveText(
    "Sorted by time, newest first (the dataset's order). Click a column header to sort."
  );
  const times = (await readGrid(page, AUDIT)).cells.time;
  expect(times.length).toBeGreaterThan(1);
  expect(descending(times)).toBe(true);
  expect(times[0]).not.toBe(times[times.length - 1]);
});
