/**
 * The DuckDB instances of the engine and what they may take of the machine (warden.yaml
 * `resources`): one instance for scans, with the memory limit, threads and spill directory
 * configured, and one with its own thread for interactive reads (previews, metadata, plans),
 * so that these never wait behind the tasks of large scans in the scan instance's queue.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ScanCost } from '../engine';

const MIB = 1024 * 1024;

/** What the engine may take of the machine (from warden.yaml's `resources`). */
export interface DuckDBResources {
  /** Bytes DuckDB may hold over both instances; past it, heavy operators spill. */
  memoryLimit: number;
  /** Threads of the scan instance (the interactive one has one). */
  threads: number;
  /** Spilled data goes to a directory of this process's own inside it. */
  spillDirectory: string;
  /** Bytes of spilled data at most (DuckDB's default, 90% of the free disk, when absent). */
  spillLimit?: number;
}

/** Reads of at most this many rows that stream (no heavy operator) run on the interactive instance. */
export const INTERACTIVE_ROWS = 10_000;

type Role = 'scans' | 'interactive';

/** The interactive instance's share of the memory limit. */
function interactiveMemory(memoryLimit: number): number {
  return Math.min(512 * MIB, Math.max(64 * MIB, Math.floor(memoryLimit / 8)));
}

/** DuckDB's settings for an instance (`SET GLOBAL` names). */
function instanceSettings(resources: DuckDBResources, role: Role, spillDirectory: string): Record<string, string> {
  const interactive = interactiveMemory(resources.memoryLimit);
  const settings: Record<string, string> = {
    memory_limit: `${Math.floor((role === 'interactive' ? interactive : Math.max(64 * MIB, resources.memoryLimit - interactive)) / MIB)}MiB`,
    threads: String(role === 'interactive' ? 1 : resources.threads),
    temp_directory: spillDirectory
  };
  if (resources.spillLimit !== undefined) settings.max_temp_directory_size = `${Math.floor(resources.spillLimit / MIB)}MiB`;
  return settings;
}

/**
 * This process's spill directories inside `parent`; those of processes that are gone are removed.
 * Spilled pages hold the rows being sorted, so `parent` must be this OS user's own and closed to
 * others: a directory another user made (say in a shared /tmp) is refused, not written into.
 */
function spillDirectories(parent: string): Record<Role, string> {
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  const found = lstatSync(parent);
  const uid = process.getuid?.();
  if (!found.isDirectory() || (uid !== undefined && found.uid !== uid)) {
    throw new Error(
      `spill directory ${parent} is not a directory of this service's OS user (uid ${uid}): ` +
        'remove it, or set resources.spill_directory in warden.yaml to a directory of its own'
    );
  }
  if ((found.mode & 0o077) !== 0) chmodSync(parent, 0o700);
  for (const entry of readdirSync(parent)) {
    const pid = /^warden-(\d+)-/.exec(entry)?.[1];
    if (pid && Number(pid) !== process.pid && !processAlive(Number(pid))) rmSync(join(parent, entry), { recursive: true, force: true });
  }
  return { scans: join(parent, `warden-${process.pid}-scans`), interactive: join(parent, `warden-${process.pid}-interactive`) };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * DuckDB gives freed memory back to the system (`malloc_trim`) as its threads go idle only if
 * they freed more than this: at DuckDB's default (128 MiB) the service kept 450 MB of a finished
 * 30M-row sort's memory, at 4 MiB and below it gave it back, no slower.
 */
const ALLOCATOR_FLUSH_THRESHOLD = '1MiB';

async function openInstance(settings: Record<string, string>): Promise<DuckDBInstance> {
  // Extensions cannot be downloaded here, and nothing should try. Parquet footers are cached
  // (checked against the file's modification time), so a preview does not parse one each time.
  const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', allocator_flush_threshold: ALLOCATOR_FLUSH_THRESHOLD, ...settings });
  // Timestamps with time zone render (and their year_only masks read) in UTC, whatever the
  // host's zone, as on PostgreSQL: masks give the same values on both engines.
  const connection = await instance.connect();
  try {
    await connection.run("SET GLOBAL TimeZone = 'UTC'");
    await connection.run('SET GLOBAL parquet_metadata_cache = true');
  } finally {
    connection.closeSync();
  }
  return instance;
}

export class DuckDBInstances {
  private constructor(
    readonly scans: DuckDBInstance,
    readonly interactive: DuckDBInstance,
    private readonly spill: string[]
  ) {}

  /** Without resources, DuckDB's defaults (and no spill directory of Warden's). */
  static async open(resources?: DuckDBResources): Promise<DuckDBInstances> {
    if (!resources) return new DuckDBInstances(await openInstance({}), await openInstance({ threads: '1' }), []);
    const spill = spillDirectories(resources.spillDirectory);
    const scans = await openInstance(instanceSettings(resources, 'scans', spill.scans));
    try {
      return new DuckDBInstances(scans, await openInstance(instanceSettings(resources, 'interactive', spill.interactive)), [spill.scans, spill.interactive]);
    } catch (error) {
      scans.closeSync();
      throw error;
    }
  }

  /** The instance a read runs on: short reads that stream on the interactive one. */
  forRead(cost: ScanCost, limit: number | undefined): DuckDBInstance {
    return cost.heavyOperators.length === 0 && limit !== undefined && limit <= INTERACTIVE_ROWS ? this.interactive : this.scans;
  }

  /** Applies changed resources to the running instances (a reload); the spill directory stays until a restart. */
  async configure(resources: DuckDBResources): Promise<void> {
    for (const role of ['scans', 'interactive'] as const) {
      const { memory_limit, threads, max_temp_directory_size } = instanceSettings(resources, role, '');
      const connection = await this[role].connect();
      try {
        await connection.run(`SET GLOBAL memory_limit = '${memory_limit}'`);
        await connection.run(`SET GLOBAL threads = ${Number(threads)}`);
        if (max_temp_directory_size) await connection.run(`SET GLOBAL max_temp_directory_size = '${max_temp_directory_size}'`);
      } finally {
        connection.closeSync();
      }
    }
  }

  /** A setting of an instance as DuckDB reports it (for tests and the benchmarks). */
  async setting(role: Role, name: string): Promise<string> {
    const connection = await this[role].connect();
    try {
      const reader = await connection.runAndReadAll('SELECT current_setting($1) AS value', [name]);
      return String(reader.getRowObjectsJS()[0].value);
    } finally {
      connection.closeSync();
    }
  }

  close(): void {
    this.scans.closeSync();
    this.interactive.closeSync();
    for (const directory of this.spill) rmSync(directory, { recursive: true, force: true });
  }
}
