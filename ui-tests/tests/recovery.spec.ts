/**
 * The service dies (kill -9) under a working sidebar: the user sees a short message, with the
 * server's own text folded away, dataset actions are disabled, and everything comes back by
 * itself once the Jupyter server has restarted the service, without reloading the page.
 */
import { expect, test } from '@jupyterlab/galata';
import * as fs from 'fs';

import { datasetItem, detailsOf, openCatalog, TRIAL } from './helpers';

test.use({ autoGoto: true });

/** The process holding a listening IPv4 socket on `port`. */
function listeningPid(port: number): number {
  const inodes = fs
    .readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map(line => line.trim().split(/\s+/))
    // local_address is ADDR:PORT in hex; state 0A is LISTEN.
    .filter(fields => fields.length > 9 && parseInt(fields[1].split(':')[1], 16) === port && fields[3] === '0A')
    .map(fields => `socket:[${fields[9]}]`);
  for (const pid of fs.readdirSync('/proc').filter(name => /^\d+$/.test(name))) {
    let fds: string[] = [];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      try {
        if (inodes.includes(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))) {
          return Number(pid);
        }
      } catch {
        // closed meanwhile
      }
    }
  }
  throw new Error(`no process listens on port ${port}`);
}

function childrenOf(pid: number): number[] {
  return fs
    .readdirSync(`/proc/${pid}/task`)
    .flatMap(task => fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/))
    .filter(Boolean)
    .map(Number);
}

/**
 * The Warden service started by the Jupyter server on `jupyterPort`: its child running the
 * bundled service, and the process listening on the service's port.
 */
function servicePid(jupyterPort: number): number {
  const jupyter = listeningPid(jupyterPort);
  for (const child of childrenOf(jupyter)) {
    const argv = fs.readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0');
    const portFlag = argv.indexOf('--port');
    if (argv.some(arg => arg.endsWith('warden-service.cjs')) && portFlag > 0) {
      expect(listeningPid(Number(argv[portFlag + 1]))).toBe(child);
      return child;
    }
  }
  throw new Error(`the Jupyter server ${jupyter} runs no Warden service`);
}

test('recovers by itself after the service is killed', async ({ page }, testInfo) => {
  const jupyterPort = Number(new URL(testInfo.project.use.baseURL!).port);
  await openCatalog(page, testInfo);
  const datasetCount = await page.locator('.jp-warden-dataset-item').count();
  await datasetItem(page, TRIAL).click();
  const details = detailsOf(page, TRIAL);
  const insert = details.locator('.jp-warden-insert-button');
  await expect(insert).toBeEnabled();
  // Survives only if the page is not reloaded.
  await page.evaluate(() => ((window as any).wardenTestMark = 'no reload'));

  const killed = servicePid(jupyterPort);
  process.kill(killed, 'SIGKILL');
  // The next request meets the outage (the server waits a second before restarting).
  await page.locator('[data-command="warden:refresh-catalog"]').click();

  const error = page.locator('#warden-catalog-datasets .jp-warden-state-error');
  await expect(error).toBeVisible();
  // Read everything at once: the outage lasts only a second or two.
  const seen = await page.evaluate(() => {
    const state = document.querySelector<HTMLElement>('#warden-catalog-datasets .jp-warden-state-error')!;
    const disclosure = state.querySelector('details');
    return {
      visibleText: state.innerText,
      disclosureOpen: disclosure?.open,
      disclosureLabel: disclosure?.querySelector('summary')?.textContent,
      disclosureText: disclosure?.querySelector('pre')?.textContent ?? '',
      insertDisabled: document.querySelector<HTMLButtonElement>('.jp-warden-insert-button')!.disabled,
      previewDisabled: document.querySelector<HTMLButtonElement>('.jp-warden-preview-button')!.disabled
    };
  });
  expect(seen.visibleText).toContain('The catalog could not be loaded.');
  expect(seen.visibleText).toContain('The Warden service is not answering, perhaps restarting. This recovers by itself when it is back.');
  // No exit codes, paths or service output in what the user reads; they are behind "Details".
  expect(seen.visibleText).not.toMatch(/exited|code -?\d|\/work\/|warden-service/);
  expect(seen.disclosureOpen).toBe(false);
  expect(seen.disclosureLabel).toBe('Details');
  expect(seen.disclosureText).toMatch(/Warden service/);
  expect(seen.insertDisabled).toBe(true);
  expect(seen.previewDisabled).toBe(true);

  // Back by itself: the catalog, enabled actions, a new service process, the same page.
  await expect(error).toBeHidden();
  await expect(page.locator('.jp-warden-dataset-item')).toHaveCount(datasetCount);
  await expect(insert).toBeEnabled();
  await expect(details.locator('.jp-warden-details-name')).toHaveText(TRIAL);
  expect(servicePid(jupyterPort)).not.toBe(killed);
  expect(await page.evaluate(() => (window as any).wardenTestMark)).toBe('no reload');
});
