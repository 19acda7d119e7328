/**
 * libuv's thread pool runs every DuckDB call (a scan's fetches hold a thread while DuckDB
 * produces the chunk), JWT checks (WebCrypto), and the audit log's writes and fsyncs. At
 * libuv's default of 4 threads, four large scans hold the whole pool and every preview waits
 * behind them, before it is even authenticated. libuv sizes the pool at its first use, and
 * loading DuckDB's bindings already uses it (detect-libc reads /proc/self/exe asynchronously),
 * so main.ts imports this module before any other.
 */
process.env.UV_THREADPOOL_SIZE ??= '32';
