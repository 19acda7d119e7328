import { performance as nodePerformance } from 'perf_hooks';
import { ReadableStream as NodeReadableStream } from 'stream/web';

// jsdom has no canvas, and @lumino/datagrid asks for a 2D context on import
// (to measure text). Answer "none" quietly instead of logging an error.
HTMLCanvasElement.prototype.getContext = (() => null) as unknown as HTMLCanvasElement['getContext'];

// jsdom has no User Timing API; the plugin marks its activation with it.
for (const method of ['mark', 'measure', 'getEntriesByName'] as const) {
  (window.performance as unknown as Record<string, unknown>)[method] ??= nodePerformance[method].bind(nodePerformance);
}

// jsdom has no streams; the view stream is read from a fetch body, which is one.
(globalThis as Record<string, unknown>).ReadableStream ??= NodeReadableStream;
