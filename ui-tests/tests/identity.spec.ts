/**
 * Cora (compliance, no attributes): the status bar says who Warden sees and what it sees of
 * her, and her catalog is the audit log alone.
 */
import { expect, test } from '@jupyterlab/galata';

test.use({ autoGoto: true });

test('the status item says who cora is for Warden', async ({ page }) => {
  const status = page.locator('.jp-warden-identity');
  await expect(status).toHaveText('Warden: cora (compliance)');
  await expect(status.locator('[title]')).toHaveAttribute('title', 'Warden sees you as cora\nGroups: compliance\nAttributes: none');

  // A click opens the catalog: the audit log, nothing else.
  await status.click();
  await expect(page.locator('.jp-warden-dataset-item')).toHaveCount(1);
  await expect(page.locator('.jp-warden-dataset-item')).toHaveAttribute('data-warden-dataset', 'warden.audit_log');
});
