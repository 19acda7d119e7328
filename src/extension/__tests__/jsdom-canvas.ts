// jsdom has no canvas, and @lumino/datagrid asks for a 2D context on import
// (to measure text). Answer "none" quietly instead of logging an error.
HTMLCanvasElement.prototype.getContext = (() => null) as any;
