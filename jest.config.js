const jestJupyterLab = require('@jupyterlab/testutils/lib/jest-config');

// ESM-only packages that babel must transform for jest.
const esModules = [
  '@codemirror',
  '@jupyter/ydoc',
  '@jupyter/react-components',
  '@jupyter/web-components',
  '@jupyterlab/',
  '@marijn',
  '@microsoft',
  'color',
  'exenv-es6',
  'lib0',
  'marked',
  'nanoid',
  'vscode-ws-jsonrpc',
  'y-protocols',
  'y-websocket',
  'yjs'
].join('|');

const baseConfig = jestJupyterLab(__dirname);

module.exports = {
  ...baseConfig,
  automock: false,
  collectCoverageFrom: [
    'src/extension/**/*.{ts,tsx}',
    '!src/**/*.d.ts',
    '!src/**/__tests__/**'
  ],
  coverageReporters: ['lcov', 'text'],
  reporters: ['default'],
  // Only the sources: the built labextension and the Python venv hold
  // package.json files that collide in jest's module map.
  roots: ['<rootDir>/src'],
  setupFiles: [
    ...baseConfig.setupFiles,
    '<rootDir>/src/extension/__tests__/jsdom-setup.ts'
  ],
  testRegex: 'src/extension/__tests__/.*\\.spec\\.tsx?$',
  transformIgnorePatterns: [`/node_modules/(?!${esModules}).+`]
};
