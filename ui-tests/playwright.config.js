/**
 * Galata UI tests in Debian's Chromium, against real JupyterLab servers, each with Warden
 * embedded and signed in as a different persona (so different governed views).
 *
 * Layouts: every test runs at 1280x800; alice's project uses the light theme with the default
 * sidebar width, carlos's the dark theme with a narrow sidebar (tests/helpers.ts applies the
 * width), so each point is checked in both themes and at both widths without running every
 * test four times. The scrolling test goes through all four combinations itself, so it runs
 * for alice only.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');
const { galata } = require('@jupyterlab/galata');

const THEMES = {
  light: 'JupyterLab Light',
  dark: 'JupyterLab Dark'
};

// run.sh picks free ports; these are for a direct `npx playwright test`.
const [alicePort, carlosPort, coraPort] = (process.env.WARDEN_UI_PORTS || '8931,8932,8933').split(',').map(Number);

const PERSONAS = [
  { name: 'alice', port: alicePort, theme: 'light', sidebar: 'default', testIgnore: ['identity.spec.ts'] },
  { name: 'carlos', port: carlosPort, theme: 'dark', sidebar: 'narrow', testIgnore: ['identity.spec.ts', 'scrolling.spec.ts'] },
  // Compliance: only the status bar's identity is checked for her.
  { name: 'cora', port: coraPort, theme: 'light', sidebar: 'default', testMatch: 'identity.spec.ts' }
];

module.exports = {
  ...baseConfig,
  timeout: 180_000,
  // CI machines have 2 cores shared with the service, DuckDB and a kernel: be patient.
  expect: { timeout: 30_000 },
  retries: 0,
  workers: 1,
  reporter: [['list'], ['html', { open: 'never' }]],
  use: {
    ...baseConfig.use,
    viewport: { width: 1280, height: 800 },
    video: 'off',
    trace: 'off',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
    }
  },
  projects: PERSONAS.map(persona => ({
    name: persona.name,
    testMatch: persona.testMatch,
    testIgnore: persona.testIgnore,
    metadata: { theme: persona.theme, sidebar: persona.sidebar },
    use: {
      baseURL: `http://127.0.0.1:${persona.port}`,
      mockSettings: {
        ...galata.DEFAULT_SETTINGS,
        '@jupyterlab/apputils-extension:themes': {
          ...galata.DEFAULT_SETTINGS['@jupyterlab/apputils-extension:themes'],
          theme: THEMES[persona.theme]
        }
      }
    }
  })),
  webServer: PERSONAS.map(persona => ({
    command: `bash ./start-lab.sh ${persona.name} ${persona.port}`,
    url: `http://127.0.0.1:${persona.port}/lab`,
    timeout: 180_000,
    reuseExistingServer: false
  }))
};
