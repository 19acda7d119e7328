/**
 * The multi-user deployment in Chromium: a persona logs in through JupyterHub and the
 * deployment's OpenID Connect provider, as a person would, and uses Warden in the JupyterLab
 * the hub starts for them. Run by tests/hub/test_browser.py against the hub it started
 * (WARDEN_HUB_URL, WARDEN_HUB_USER, WARDEN_HUB_PASSWORD); not by ui-tests/run.sh, whose
 * servers are single-user ones (its test files are *.spec.ts, these *.hub.ts).
 */
module.exports = {
  testDir: '.',
  testMatch: '*.hub.ts',
  outputDir: '../test-results/hub',
  // The first login spawns the user's server: up to the hub's start timeout (180 s).
  timeout: 300_000,
  expect: { timeout: 30_000 },
  retries: 0,
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: process.env.WARDEN_HUB_URL,
    viewport: { width: 1440, height: 900 },
    video: 'off',
    trace: 'off',
    browserName: 'chromium',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
    }
  }
};
