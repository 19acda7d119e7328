import { performance as nodePerformance } from 'perf_hooks';

// jsdom has no canvas, and @lumino/datagrid asks for a 2D context on import
// (to measure text). Answer "none" quietly instead of logging an error.
HTMLCanvasElement.prototype.getContext = (() => null) as any;

// jsdom has no User Timing API; the plugin marks its activation with it.
for (const method of ['mark', 'measure', 'getEntriesByName'] as const) {
  (window.performance as any)[method] ??= nodePerformance[method].bind(nodePerformance);
}
