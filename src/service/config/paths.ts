/** Keeps file sources inside the configured data roots: no `..`, no absolute escape, no symlink escape. */
import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Resolves a source path: relative paths are relative to the first data root. Returns the
 * real path (symlinks resolved), or throws with what is wrong.
 */
export function resolveSourcePath(path: string, dataRoots: string[]): string {
  if (path.split(/[\\/]/).includes('..')) {
    throw new Error(`source path "${path}" contains "..": name files inside a data root`);
  }
  if (path.includes('\0')) {
    throw new Error('source path contains a NUL character');
  }
  const candidate = isAbsolute(path) ? path : resolve(dataRoots[0], path);
  const realRoots = dataRoots.map(root => {
    try {
      return realpathSync(root);
    } catch {
      return resolve(root);
    }
  });
  if (!dataRoots.some(root => inside(resolve(root), candidate))) {
    throw new Error(`source path "${path}" is outside the data roots (${dataRoots.join(', ')})`);
  }
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch {
    throw new Error(`source file "${candidate}" does not exist`);
  }
  if (!realRoots.some(root => inside(root, real))) {
    throw new Error(`source path "${path}" leads outside the data roots through a symbolic link (to ${real})`);
  }
  return real.split(sep).join(sep);
}
