/**
 * What the service may take of the machine (warden.yaml `resources`): the memory and threads
 * of its DuckDB engine, how many heavy queries run at once, the bytes held for slow clients,
 * and how long a client may take nothing. Anything left out is derived from the machine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';

const MIB = 1024 * 1024;

export const resourcesSchema = Type.Object(
  {
    memory_limit_mib: Type.Optional(
      Type.Integer({ minimum: 128, description: 'MiB that DuckDB may hold over all queries; past it, sorts, aggregates, joins and windows spill to spill_directory' })
    ),
    spill_directory: Type.Optional(Type.String({ minLength: 1, description: 'where DuckDB spills (each service process uses its own directory inside it)' })),
    spill_limit_mib: Type.Optional(Type.Integer({ minimum: 1, description: 'MiB that spilled data may take on disk (default: 90% of the free space)' })),
    threads: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024, description: 'DuckDB threads for scans' })),
    heavy_queries: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024, description: 'heavy queries (sorts, aggregates, joins, windows) running at once per engine' })),
    queue_length: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000, description: 'reads that may wait for room at once; more are refused with 503' })),
    queue_wait_seconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600, description: 'seconds a read may wait for room before it is refused with 503' })),
    stream_buffers_mib: Type.Optional(Type.Integer({ minimum: 16, description: 'MiB all streams together may hold for clients that read slower than the engine' })),
    stream_buffers_per_user: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'the share of stream_buffers_mib one user may hold (0 to 1)' })),
    stall_timeout_seconds: Type.Optional(Type.Number({ minimum: 1, maximum: 86400, description: 'seconds a client may take no data before its stream is cut' }))
  },
  { additionalProperties: false }
);

export type ResourcesYaml = Static<typeof resourcesSchema>;

export interface ResourceSettings {
  /** Bytes DuckDB may hold in memory over all its queries (its `memory_limit`). */
  memoryLimit: number;
  /** DuckDB spills here, each process in its own directory inside (`temp_directory`). */
  spillDirectory: string;
  /** Bytes spilled data may take (`max_temp_directory_size`); DuckDB's default when absent. */
  spillLimit?: number;
  threads: number;
  /** Heavy queries running at once on one engine; others wait in the queue. */
  heavyQueries: number;
  queueLength: number;
  queueWaitMs: number;
  /** Bytes every stream together may hold ahead of its client. */
  streamBuffers: number;
  /** Of which one user may hold this many. */
  streamBuffersPerUser: number;
  /** A stream whose client takes nothing for this long is cut (and audited as aborted). */
  stallTimeoutMs: number;
}

/** The machine the defaults are derived from. */
export interface Machine {
  /** Bytes of memory the process may use: the machine's, or its control group's limit if lower. */
  memory: number;
  cores: number;
  tmpdir: string;
}

/** Memory and cores of this machine (a container's memory limit counts, cgroup v2 or v1). */
export function thisMachine(): Machine {
  let memory = totalmem();
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    if (!existsSync(file)) continue;
    const limit = Number(readFileSync(file, 'utf8').trim());
    if (Number.isFinite(limit) && limit > 0) memory = Math.min(memory, limit);
    break;
  }
  return { memory, cores: availableParallelism(), tmpdir: tmpdir() };
}

/**
 * The settings from warden.yaml's `resources`, the rest derived from the machine: DuckDB gets a
 * quarter of its memory (the notebooks' kernels need the rest), between 256 MiB and 16 GiB;
 * a heavy query per 512 MiB of that, at most one per core; streams may hold a quarter of it
 * more, one user half of that.
 */
export function resourceSettings(yaml: ResourcesYaml | undefined, configDir: string, machine: Machine): ResourceSettings {
  const settings = yaml ?? {};
  const memoryLimit = settings.memory_limit_mib !== undefined ? settings.memory_limit_mib * MIB : clamp(Math.floor(machine.memory / 4 / MIB), 256, 16 * 1024) * MIB;
  const threads = settings.threads ?? machine.cores;
  const streamBuffers = settings.stream_buffers_mib !== undefined ? settings.stream_buffers_mib * MIB : Math.max(256 * MIB, Math.floor(memoryLimit / 4));
  return {
    memoryLimit,
    spillDirectory: settings.spill_directory !== undefined ? resolve(configDir, settings.spill_directory) : join(machine.tmpdir, `warden-spill-${process.getuid?.() ?? 'user'}`),
    spillLimit: settings.spill_limit_mib !== undefined ? settings.spill_limit_mib * MIB : undefined,
    threads,
    heavyQueries: settings.heavy_queries ?? clamp(Math.floor(memoryLimit / (512 * MIB)), 1, threads),
    queueLength: settings.queue_length ?? 64,
    queueWaitMs: (settings.queue_wait_seconds ?? 30) * 1000,
    streamBuffers,
    streamBuffersPerUser: Math.floor(streamBuffers * (settings.stream_buffers_per_user ?? 0.5)),
    stallTimeoutMs: (settings.stall_timeout_seconds ?? 60) * 1000
  };
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
