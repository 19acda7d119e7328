/**
 * The check made each time a file source is opened. The path was checked when the
 * configuration loaded (inside a data root, symbolic links resolved: config/paths.ts), but the
 * file may be replaced afterwards: by a symbolic link to anything the service can read, or by a
 * FIFO that would hang the engine.
 */
import { closeSync, constants, fstatSync, openSync, realpathSync } from 'node:fs';
import { SourceError } from '../engine';

/**
 * Returns `path` if it still names a regular file through no symbolic link: `path` is a real
 * path since load, so any link put in any of its components changes what realpath gives, and
 * O_NOFOLLOW refuses a link put in its last component after that. Throws SourceError if not.
 *
 * What remains: the engine opens the path again after this check, so a swap in the
 * microseconds between the two goes unseen; and a hard link, or a regular file rewritten in
 * place, is not a link. Keep data roots writable only by those who publish data.
 */
export function checkFileAtOpen(path: string): string {
  let real: string;
  try {
    real = realpathSync(path);
  } catch (error) {
    throw new SourceError(`source file ${path} cannot be opened: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (real !== path) {
    throw new SourceError(`source file ${path} now leads through a symbolic link (to ${real}); it was not one when the configuration was loaded`);
  }
  let descriptor: number;
  try {
    descriptor = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    throw new SourceError(`source file ${path} cannot be opened: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    if (!fstatSync(descriptor).isFile()) {
      throw new SourceError(`source file ${path} is no longer a regular file`);
    }
  } finally {
    closeSync(descriptor);
  }
  return path;
}

/**
 * A log file and the files it was rotated to (`audit.jsonl.1`, `audit.jsonl-20260101`,
 * `audit.jsonl.2.gz`...), as a DuckDB glob; glob characters in the path itself are matched
 * literally (`[*]`).
 */
export function rotatedFilesGlob(path: string): string {
  return `${path.replace(/[[*?]/g, '[$&]')}*`;
}
