/**
 * Watches the files a configuration is made of, and applies a change only once the whole set
 * is complete and stable (docs/configuration.md, "Deploying changes"):
 *
 * - only the configuration's own files and directories are watched: an audit or service log
 *   written next to them is not a change;
 * - after a change, the set must stay the same (every file's device, inode, size, times) for
 *   a quiet period, and no process may have one of its files open for writing (Linux: read
 *   from /proc, as fuser does) before it is loaded;
 * - it is applied only if it is still the same once loaded.
 *
 * Atomic deploys (a rename over the old file, or the `..data` symlink swap of Kubernetes
 * config mounts) are always seen whole. A writer that closes a file and writes more into it
 * after the quiet period cannot be told from two deploys: write elsewhere and rename instead.
 */
import { FSWatcher, Stats, readlinkSync, realpathSync, statSync, watch } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConfigInputs } from './types';
import { isConfigFileName, yamlFilesIn } from './yaml-file';

/** How long a changed set must stay the same before it is loaded. */
export const QUIET_MS = 500;


/** Kubernetes config mounts: every file is a link through `..data`, which is swapped atomically. */
const KUBERNETES_DATA = '..data';

function describeStat(stat: Stats | null): string {
  return stat ? `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}` : 'missing';
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** Every input file's identity and version, and the `..data` link targets: equal text, same set. */
export function snapshot(inputs: ConfigInputs): string {
  const files = [...inputs.files, ...inputs.directories.flatMap(yamlFilesIn)];
  const links = [...new Set([...inputs.files, ...inputs.directories].map(path => join(dirname(path), KUBERNETES_DATA)))].map(link => {
    try {
      return `${link}->${readlinkSync(link)}`;
    } catch {
      return '';
    }
  });
  return [...files.map(file => `${file}=${describeStat(statOrNull(file))}`), ...links.filter(Boolean)].join('\n');
}

/**
 * The input files some process has open for writing, with the process id. Reads /proc (Linux);
 * processes the service may not inspect (other users', unless it runs as root) are not seen.
 */
export async function filesBeingWritten(inputs: ConfigInputs): Promise<string[]> {
  const wanted = new Map<string, string>();
  for (const file of [...inputs.files, ...inputs.directories.flatMap(yamlFilesIn)]) {
    try {
      wanted.set(realpathSync(file), file);
    } catch {
      // Missing: nothing can be writing it.
    }
  }
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter(name => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const writers: string[] = [];
  await Promise.all(
    pids.map(async pid => {
      const descriptors = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
      for (const descriptor of descriptors) {
        const target = await readlink(`/proc/${pid}/fd/${descriptor}`).catch(() => '');
        const file = wanted.get(target);
        if (!file) continue;
        const info = await readFile(`/proc/${pid}/fdinfo/${descriptor}`, 'utf8').catch(() => '');
        const flags = /^flags:\s+([0-7]+)/m.exec(info);
        // O_ACCMODE: 0 is read-only; 1 (write) and 2 (read-write) can change the file.
        if (flags && (parseInt(flags[1], 8) & 3) !== 0) writers.push(`${file} (process ${pid})`);
      }
    })
  );
  return writers;
}

export interface WatchLogger {
  info(message: string): void;
}

/** What became of a set given to `apply`: applied, refused (invalid), or changed while it loaded. */
export type ApplyResult = 'applied' | 'refused' | 'stale';

/**
 * Calls `apply` when the configuration changed and is complete and stable. `apply` gets a
 * check to make after loading and before switching: whether the set is still the one loaded.
 */
export class ConfigWatcher {
  private watchers: FSWatcher[] = [];
  private timer?: NodeJS.Timeout;
  /** The set at the last change seen, and the last set applied or refused. */
  private seen = '';
  private settled: string;
  private waitingFor = '';
  private closed = false;
  private looking: Promise<void> = Promise.resolve();

  constructor(
    private readonly inputs: () => ConfigInputs,
    private readonly apply: (stillCurrent: () => boolean) => Promise<ApplyResult>,
    private readonly logger: WatchLogger,
    private readonly quietMs = QUIET_MS
  ) {
    this.settled = snapshot(inputs());
    this.watchInputs();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.watchers.forEach(watcher => watcher.close());
    this.watchers = [];
  }

  /** Resolves when no look at the files is under way (for tests and shutdown). */
  idle(): Promise<void> {
    return this.looking;
  }

  /** One watcher per directory holding inputs, reporting only the names that are inputs. */
  private watchInputs(): void {
    this.watchers.forEach(watcher => watcher.close());
    this.watchers = [];
    const { files, directories } = this.inputs();
    const names = new Map<string, (name: string) => boolean>();
    const add = (directory: string, accepts: (name: string) => boolean) => {
      const previous = names.get(directory);
      names.set(directory, previous ? name => previous(name) || accepts(name) : accepts);
    };
    for (const path of [...files, ...directories]) {
      const name = basename(path);
      add(dirname(path), candidate => candidate === name || candidate === KUBERNETES_DATA);
    }
    for (const directory of directories) add(directory, isConfigFileName);
    for (const [directory, accepts] of names) {
      try {
        const watcher = watch(directory, (_event, name) => {
          if (name === null || accepts(name.toString())) this.changed();
        });
        watcher.on('error', () => this.changed());
        this.watchers.push(watcher);
      } catch {
        // A directory that does not exist yet: its parent's watcher sees it appear.
      }
    }
  }

  private changed(): void {
    if (this.closed) return;
    this.seen = snapshot(this.inputs());
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.looking = this.looking.then(() => this.look());
    }, this.quietMs);
  }

  private async look(): Promise<void> {
    if (this.closed) return;
    const now = snapshot(this.inputs());
    if (now === this.settled) return;
    if (now !== this.seen) {
      // Still changing: wait for a quiet period.
      this.seen = now;
      this.schedule();
      return;
    }
    const writers = await filesBeingWritten(this.inputs());
    if (writers.length) {
      const waiting = writers.join(', ');
      if (waiting !== this.waitingFor) this.logger.info(`config change not applied yet: waiting for ${waiting} to be closed`);
      this.waitingFor = waiting;
      this.schedule();
      return;
    }
    this.waitingFor = '';
    const result = await this.apply(() => snapshot(this.inputs()) === now);
    if (this.closed) return;
    // The inputs may have changed (a new key file, a swapped `..data`): watch what is there now.
    this.watchInputs();
    if (result !== 'stale') this.settled = now;
    // Whatever changed meanwhile gets its own look.
    this.changed();
  }
}
