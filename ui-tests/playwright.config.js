/**
 * Galata UI tests in Debian's Chromium, against two real JupyterLab servers, each with
 * Warden embedded and signed in as a different persona (so two governed views).
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const PERSONAS = [
  { name: 'alice', port: 8931 },
  { name: 'carlos', port: 8932 }
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
    video: 'off',
    trace: 'off',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
    }
  },
  projects: PERSONAS.map(persona => ({
    name: persona.name,
    use: { baseURL: `http://127.0.0.1:${persona.port}` }
  })),
  webServer: PERSONAS.map(persona => ({
    command: `bash ./start-lab.sh ${persona.name} ${persona.port}`,
    url: `http://127.0.0.1:${persona.port}/lab`,
    timeout: 180_000,
  // CI machines have 2 cores shared with the service, DuckDB and a kernel: be patient.
  expect: { timeout: 30_000 },
    reuseExistingServer: false
  }))
};
