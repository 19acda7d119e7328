/** Timing helpers for the benchmarks: warm-up, then median and p95 of repeated runs. */
import { readFileSync } from 'node:fs';

export interface Timing {
  median: number;
  p95: number;
  runs: number;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

export function summarise(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), runs: samples.length };
}

/** Times a synchronous function: `warmup` untimed runs, then `runs` timed ones, in milliseconds. */
export function timeSync(fn: () => unknown, runs: number, warmup = Math.ceil(runs / 10)): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    fn();
    samples.push(performance.now() - started);
  }
  return summarise(samples);
}

export async function timeAsync(fn: () => Promise<unknown>, runs: number, warmup = Math.ceil(runs / 10)): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  return summarise(samples);
}

export function table(header: string[], rows: (string | number)[][]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map(row => `| ${row.join(' | ')} |`)].join('\n');
}

export const ms = (value: number) => `${value.toFixed(3)} ms`;

/**
 * Milliseconds this process's main (JavaScript) thread has run on a CPU, from the scheduler's
 * nanosecond count (Linux): unlike wall time, not inflated by waiting for a core on a shared
 * machine; unlike process CPU time, without the GC and compiler threads' background work.
 */
export function mainThreadCpuMs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}
