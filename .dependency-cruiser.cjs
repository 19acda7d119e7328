/**
 * Import rules, checked by `npm run check:deps` (part of scripts/test.sh): no cycles, and the
 * service's directories in layers, each importing only the layers below it, so that no two
 * directories can ever import each other.
 */
const LAYERS = [
  ['policy'], // the decision function and its types
  ['engine'], // compilation to SQL, engine kinds and adapters, Arrow
  ['config'], // loading and validating the config files
  ['audit', 'identity'],
  ['catalog'],
  ['access'], // the access pipeline, for every transport
  ['http'], // the HTTP transport
  ['demo']
];
const ALL = LAYERS.flat();

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules that import each other, directly or through others.',
      from: { path: '^src/' },
      to: { circular: true }
    },
    {
      name: 'common-is-the-contract',
      severity: 'error',
      comment: 'src/common is shared by the service and the browser: it imports neither.',
      from: { path: '^src/common/' },
      to: { path: '^src/(service|extension)/' }
    },
    {
      name: 'extension-and-service-apart',
      severity: 'error',
      comment: 'The browser extension and the service share only src/common.',
      from: { path: '^src/extension/' },
      to: { path: '^src/service/' }
    },
    {
      name: 'service-and-extension-apart',
      severity: 'error',
      from: { path: '^src/service/' },
      to: { path: '^src/extension/' }
    },
    {
      name: 'no-root-from-layers',
      severity: 'error',
      comment: 'service.ts and main.ts assemble the layers; no layer imports them.',
      from: { path: `^src/service/(${ALL.join('|')})/` },
      to: { path: '^src/service/[^/]+\\.ts$' }
    },
    ...LAYERS.map((layer, index) => {
      const above = LAYERS.slice(index + 1).flat();
      const siblings = layer.length > 1 ? layer : [];
      return {
        name: `layer-${layer.join('-')}`,
        severity: 'error',
        comment: `src/service/{${layer.join(',')}} imports only the layers below it (${LAYERS.slice(0, index).flat().join(', ') || 'none'}) and src/common.`,
        from: { path: `^src/service/(${layer.join('|')})/` },
        to: { path: `^src/service/(${[...above, ...siblings].join('|')})/`, pathNot: `^src/service/$1/` }
      };
    })
  ].filter(rule => rule.to.path !== '^src/service/()/'),
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    exclude: { path: '(^|/)(lib|node_modules)/' }
  }
};
