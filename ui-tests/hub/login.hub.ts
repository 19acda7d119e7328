/**
 * Alice, in a fresh browser, opens the hub, signs in on the identity provider's own page and
 * lands in her JupyterLab (started by the hub as OS user alice). The Warden sidebar there
 * shows her: the status bar names her, the catalog lists exactly her datasets, and a preview
 * of the trial is masked as her policies say. Plain Playwright rather than Galata's fixtures:
 * those need the test configuration of the Jupyter server, which a server the hub spawns
 * does not load.
 */
import { expect, test } from '@playwright/test';

const TRIAL = 'drug_xyz.trial_july2020';
/** What an analyst may access under the demo policies (src/service/demo/config/policies). */
const ALICE_DATASETS = ['commercial.production_batches', 'drug_abc.trial_jan2022', 'drug_xyz.trial_july2020', 'drug_xyz.trial_march2021', 'warden.audit_log'];

test('alice signs in through the identity provider and sees her catalog in the Warden sidebar', async ({ page }) => {
  const user = process.env.WARDEN_HUB_USER!;
  const password = process.env.WARDEN_HUB_PASSWORD!;
  expect(user).toBe('alice');

  await page.goto('/hub/login');
  await page.locator('a', { hasText: 'Sign in with Warden demo IdP' }).click();
  // The identity provider's page, on its own origin: not the hub's.
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  expect(new URL(page.url()).origin).not.toBe(new URL(process.env.WARDEN_HUB_URL!).origin);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();

  // Back through the hub, which starts her server if it is not running, into JupyterLab.
  await page.waitForURL(`**/user/${user}/lab**`, { timeout: 240_000 });
  await expect(page.locator('#jp-main-dock-panel')).toBeVisible({ timeout: 120_000 });
  await expect(page.locator('.jp-warden-identity')).toContainText(user);

  // Her workspace may have kept the sidebar open from an earlier visit: a click would close it.
  const tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="warden-catalog"]');
  if (!(await tab.evaluate(node => node.classList.contains('lm-mod-current')))) await tab.click();
  await expect(page.locator('#warden-catalog')).toBeVisible();
  const items = page.locator('.jp-warden-dataset-item');
  await expect(items).toHaveCount(ALICE_DATASETS.length);
  expect((await items.evaluateAll(nodes => nodes.map(node => (node as HTMLElement).dataset.wardenDataset))).sort()).toEqual(ALICE_DATASETS);

  await page.locator(`.jp-warden-dataset-item[data-warden-dataset="${TRIAL}"]`).click();
  const details = page.locator(`.jp-warden-details[data-warden-dataset="${TRIAL}"]`);
  await expect(details.locator('.jp-warden-column-row[data-warden-column="ssn"]')).toHaveAttribute('data-warden-access', 'masked');
  await expect(details.locator('.jp-warden-row-filter')).toContainText("rows where country = 'US'");
  await details.locator('.jp-warden-preview-button').click();
  const summary = page.locator(`.jp-warden-preview[data-warden-dataset="${TRIAL}"] .jp-warden-preview-summary`);
  await expect(summary).toHaveAttribute('data-warden-masked-columns', 'name,ssn,date_of_birth,email');
  await expect(summary).toHaveAttribute('data-warden-cell-masked-columns', 'adverse_events');
});
