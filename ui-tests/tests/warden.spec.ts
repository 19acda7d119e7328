/**
 * End to end, for two personas, in a real JupyterLab in Chromium with the real server
 * extension and service: browse, search, details, preview (masked values shown masked),
 * insert the snippet into a notebook, run it in a real ipykernel and check the DataFrame
 * holds exactly the governed rows and values.
 */
import { expect, galata, test } from '@jupyterlab/galata';
import * as path from 'path';

const TRIAL = 'drug_xyz.trial_july2020';
const RAW_TRIAL = path.resolve(__dirname, '../.lake/lake/drug_xyz/trial_july2020.parquet');

/** What each persona must see: the same policies the service tests check, seen from the UI. */
const EXPECTED = {
  alice: {
    datasets: ['commercial.production_batches', 'drug_abc.trial_jan2022', 'drug_xyz.trial_july2020', 'drug_xyz.trial_march2021', 'warden.audit_log'],
    ssnAccess: 'masked',
    rowFilter: "rows where country = 'US'",
    previewColumns: ['participant_id', 'name', 'ssn', 'date_of_birth', 'email', 'country', 'site', 'arm', 'outcome', 'adverse_events', 'enrolled_on'],
    // Python run in the kernel against the raw file: exact rows and values.
    check: `
expected = raw[raw.country == "US"].reset_index(drop=True)
assert list(df.columns) == list(raw.columns), list(df.columns)
assert df.participant_id.tolist() == expected.participant_id.tolist()
assert (df.name == "[redacted]").all()
assert df.ssn.tolist() == ["*******" + s[-4:] for s in expected.ssn]
assert df.date_of_birth.tolist() == [d.year for d in expected.date_of_birth]
assert df.email.tolist() == ["***@" + e.split("@")[1] for e in expected.email]
blinded = expected.adverse_events.where(expected.arm != "placebo", "[blinded]")
assert df.adverse_events.fillna("<NA>").tolist() == blinded.fillna("<NA>").tolist()
print("GOVERNED-OK", len(df))`
  },
  carlos: {
    datasets: ['drug_abc.trial_jan2022', 'drug_xyz.trial_july2020', 'drug_xyz.trial_march2021', 'warden.audit_log'],
    ssnAccess: 'hidden',
    rowFilter: null,
    previewColumns: ['participant_id', 'country', 'site', 'arm', 'outcome', 'adverse_events', 'enrolled_on'],
    check: `
assert list(df.columns) == ["participant_id", "country", "site", "arm", "outcome", "adverse_events", "enrolled_on"], list(df.columns)
assert len(df) == len(raw)
assert df.participant_id.str.fullmatch(r"tok_[0-9a-f]{16}").all()
assert df.participant_id.nunique() == len(raw)
assert df.country.tolist() == raw.country.tolist()
print("GOVERNED-OK", len(df))`
  }
} as const;

type Persona = keyof typeof EXPECTED;

test.use({ autoGoto: true, viewport: { width: 1440, height: 900 } });

test('browse, preview and load the governed view', async ({ page }, testInfo) => {
  const persona = testInfo.project.name as Persona;
  const expected = EXPECTED[persona];

  // The status bar says who Warden thinks we are.
  await expect(page.locator('.jp-warden-identity')).toContainText(persona);

  // Catalog: exactly the datasets this persona may access.
  await page.sidebar.openTab('warden-catalog');
  const items = page.locator('.jp-warden-dataset-item');
  await expect(items).toHaveCount(expected.datasets.length);
  expect((await items.evaluateAll(nodes => nodes.map(node => (node as HTMLElement).dataset.wardenDataset))).sort()).toEqual(expected.datasets);

  // Search over column names: a hidden column does not make a dataset findable.
  await page.locator('input.jp-warden-search').fill('ssn');
  if (persona === 'alice') {
    await expect(items).toHaveCount(3);
  } else {
    await expect(page.locator('#warden-catalog-datasets .jp-warden-state[data-warden-state="empty"]')).toBeVisible();
  }
  await page.locator('input.jp-warden-search').fill('july');
  await expect(items).toHaveCount(1);

  // Details: what this persona gets per column, and why; the row filter in words.
  await page.locator(`.jp-warden-dataset-item[data-warden-dataset="${TRIAL}"]`).click();
  const details = page.locator(`.jp-warden-details[data-warden-dataset="${TRIAL}"]`);
  await expect(details).toBeVisible();
  await expect(details.locator('.jp-warden-column-row[data-warden-column="ssn"]')).toHaveAttribute('data-warden-access', expected.ssnAccess);
  if (expected.rowFilter) {
    await expect(details.locator('.jp-warden-row-filter')).toContainText(expected.rowFilter);
  } else {
    await expect(details.locator('.jp-warden-row-filter')).toHaveAttribute('data-warden-row-filter', 'all');
  }

  // Preview: the enforced rows, rendered from Arrow in a DataGrid.
  await details.locator('.jp-warden-preview-button').click();
  const preview = page.locator(`.jp-warden-preview[data-warden-dataset="${TRIAL}"]`);
  await expect(preview.locator('.jp-warden-preview-grid')).toBeVisible();
  const grid = await page.evaluate(() => {
    const app = (window as any).jupyterapp;
    const widget = [...app.shell.widgets('main')].find((w: any) => w.content?.model?.dataModel);
    const model = widget.content.model.dataModel;
    const columns = model.columnCount('body');
    const header = Array.from({ length: columns }, (_, c) => String(model.data('column-header', 0, c)));
    const rows = Array.from({ length: Math.min(model.rowCount('body'), 20) }, (_, r) => Array.from({ length: columns }, (_, c) => model.data('body', r, c)));
    return { header, rows };
  });
  expect(grid.header).toEqual(expected.previewColumns);
  const column = (name: string) => grid.rows.map(row => row[grid.header.indexOf(name)]);
  if (persona === 'alice') {
    expect(column('ssn').every(value => /^\*{7}\d{4}$/.test(String(value)))).toBe(true);
    expect(new Set(column('name'))).toEqual(new Set(['[redacted]']));
    expect(new Set(column('country'))).toEqual(new Set(['US']));
    await expect(preview.locator('.jp-warden-preview-summary')).toHaveAttribute('data-warden-masked-columns', 'name,ssn,date_of_birth,email');
    await expect(preview.locator('.jp-warden-preview-summary')).toHaveAttribute('data-warden-cell-masked-columns', 'adverse_events');
    await page.screenshot({ path: path.resolve(__dirname, '../../docs/screenshot.png') });
  } else {
    expect(column('participant_id').every(value => /^tok_[0-9a-f]{16}$/.test(String(value)))).toBe(true);
  }

  // Insert the access snippet into a notebook and run it in a real kernel.
  await page.notebook.createNew('governed.ipynb');
  await page.sidebar.openTab('warden-catalog');
  await page.locator(`.jp-warden-details[data-warden-dataset="${TRIAL}"] .jp-warden-insert-button`).click();
  const notebookText = async () => {
    const cells: string[] = [];
    for (let i = 0; i < (await page.notebook.getCellCount()); i++) cells.push((await page.notebook.getCellTextInput(i)) ?? '');
    return cells.join('\n');
  };
  await expect.poll(notebookText).toContain(`df = warden.connect().scan_as_pandas("${TRIAL}")`);
  const snippet = await notebookText();
  expect(snippet).not.toMatch(/token|secret|bearer/i);
  await page.notebook.addCell('code', `import pyarrow.parquet as pq\nraw = pq.read_table(${JSON.stringify(RAW_TRIAL)}).to_pandas()\n${expected.check.trim()}`);
  await page.notebook.run();
  const outputs = await page.locator('.jp-OutputArea-output').allInnerTexts();
  expect(outputs.join('\n')).toMatch(/GOVERNED-OK \d+/);
  expect(outputs.join('\n')).not.toMatch(/Error|Traceback/);
});
