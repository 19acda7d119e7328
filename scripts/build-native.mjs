// Builds the native DuckDB-to-Arrow addon (src/service/engine/duckdb/native/) into
// build/native/warden_duckdb_arrow.node with the machine's C compiler, against the Node-API
// headers of the pinned node-api-headers package and the libduckdb.so that
// @duckdb/node-bindings ships. A build is cached in ~/.cache/warden/native/ under a hash of
// that library, the sources, the headers and the command, so running it again costs a hash.
//   node scripts/build-native.mjs        (also run by scripts/build-service.mjs)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
export const ADDON_FILE = 'warden_duckdb_arrow.node';
export const ADDON_PATH = join(root, 'build', 'native', ADDON_FILE);

export function buildNative() {
  const sourceDir = join(root, 'src', 'service', 'engine', 'duckdb', 'native');
  const sources = readdirSync(sourceDir).filter(name => /\.[ch]$/.test(name)).sort();
  const bindingsDir = dirname(require.resolve(`@duckdb/node-bindings-${process.platform}-${process.arch}/package.json`));
  const library = join(bindingsDir, process.platform === 'darwin' ? 'libduckdb.dylib' : 'libduckdb.so');
  const headers = require('node-api-headers').include_dir;
  const compiler = process.env.CC || 'cc';
  const args = [
    '-O2', '-std=c11', '-fPIC', '-shared', '-fvisibility=hidden', '-Wall', '-Wextra', '-Werror',
    '-I', headers, ...sources.filter(name => name.endsWith('.c')).map(name => join(sourceDir, name)),
    '-L', bindingsDir, '-l:libduckdb.so', '-o'
  ];

  const hash = createHash('sha256');
  hash.update(readFileSync(library));
  for (const name of sources) hash.update(name).update(readFileSync(join(sourceDir, name)));
  for (const name of readdirSync(headers).sort()) hash.update(name).update(readFileSync(join(headers, name)));
  hash.update(JSON.stringify([compiler, args, process.platform, process.arch]));
  const cacheDir = join(process.env.WARDEN_CACHE_DIR || join(homedir(), '.cache', 'warden'), 'native', hash.digest('hex').slice(0, 24));
  const cached = join(cacheDir, ADDON_FILE);

  if (!existsSync(cached)) {
    mkdirSync(cacheDir, { recursive: true });
    const partial = `${cached}.${process.pid}.tmp`;
    const built = spawnSync(compiler, [...args, partial], { stdio: 'inherit' });
    if (built.error || built.status !== 0) {
      const why = built.error ? `${compiler} could not run (${built.error.message})` : `${compiler} failed`;
      throw new Error(`build-native: ${why}. Install a C compiler (Debian: apt-get install gcc libc6-dev) or set CC.`);
    }
    renameSync(partial, cached);
  }
  mkdirSync(dirname(ADDON_PATH), { recursive: true });
  copyFileSync(cached, ADDON_PATH);
  return ADDON_PATH;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(`native addon: ${buildNative()}`);
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}
