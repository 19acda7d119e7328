/**
 * Audit sinks. A record is durable before `write` resolves, and callers await it before
 * releasing anything: if the write fails, the request fails (fail closed). Concurrent
 * writers are grouped into one commit (group commit), so the cost of durability is shared.
 *
 * The local sink is an append-only JSON-lines file, fdatasync'd; audit/postgres.ts has the
 * PostgreSQL sink that several service replicas share.
 */
import { FileHandle, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AuditRecord } from './record';

export class AuditUnavailableError extends Error {}

export interface AuditSink {
  write(record: AuditRecord): Promise<void>;
  close(): Promise<void>;
}

interface Pending {
  record: AuditRecord;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Commits records in batches: while one batch commits, new records queue and go together in
 * the next. A failed commit fails every write of its batch with AuditUnavailableError.
 */
export class GroupCommit {
  private pending: Pending[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly commit: (records: AuditRecord[]) => Promise<void>,
    private readonly failure: (error: Error) => string
  ) {}

  write(record: AuditRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** Resolves once every queued record is committed or failed. */
  async idle(): Promise<void> {
    await this.flushing;
  }

  private async flush(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.commit(batch.map(item => item.record));
        batch.forEach(item => item.resolve());
      } catch (error) {
        const failure = new AuditUnavailableError(this.failure(error as Error));
        batch.forEach(item => item.reject(failure));
      }
    }
    this.flushing = null;
  }
}

export class FileAuditSink implements AuditSink {
  private handle: FileHandle | null = null;
  private readonly commits = new GroupCommit(
    records => this.append(records),
    error => `audit log ${this.path} cannot be written: ${error.message}`
  );

  constructor(readonly path: string) {}

  /** Opens (creating) the file, so that start-up fails if the audit log is not writable. */
  async open(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const handle = await open(this.path, 'a+', 0o600);
    await dropTornTail(handle);
    this.handle = handle;
  }

  write(record: AuditRecord): Promise<void> {
    return this.commits.write(record);
  }

  private async append(records: AuditRecord[]): Promise<void> {
    try {
      if (!this.handle) await this.open();
      await this.handle!.appendFile(records.map(record => JSON.stringify(record) + '\n').join(''));
      await this.handle!.datasync();
    } catch (error) {
      // Reopen next time: the file may have been replaced or its disk remounted.
      await this.handle?.close().catch(() => undefined);
      this.handle = null;
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.commits.idle();
    await this.handle?.close();
    this.handle = null;
  }
}

/**
 * A crash in the middle of an append can leave a torn last line. It was never acknowledged
 * (its fdatasync did not return), so nothing was released for it: cut it off, so that the
 * log stays valid JSON lines for the audit dataset.
 */
async function dropTornTail(handle: FileHandle): Promise<void> {
  const { size } = await handle.stat();
  const buffer = Buffer.alloc(64 * 1024);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - buffer.length);
    const { bytesRead } = await handle.read(buffer, 0, end - start, start);
    const newline = buffer.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (newline === bytesRead - 1 && end === size) return;
    if (newline >= 0) {
      await handle.truncate(start + newline + 1);
      return;
    }
    end = start;
  }
  if (size > 0) await handle.truncate(0);
}
