/**
 * The audit sink: an append-only JSON-lines file, fsync'd before a write is acknowledged.
 * Concurrent writers are grouped into one write and one fdatasync (group commit), so the
 * cost of durability is shared. Callers await `write` before releasing anything: if the
 * write fails, the request fails (fail closed).
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
  line: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class FileAuditSink implements AuditSink {
  private handle: FileHandle | null = null;
  private pending: Pending[] = [];
  private flushing = false;

  constructor(readonly path: string) {}

  /** Opens (creating) the file, so that start-up fails if the audit log is not writable. */
  async open(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    this.handle = await open(this.path, 'a', 0o600);
  }

  write(record: AuditRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ line: JSON.stringify(record) + '\n', resolve, reject });
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length) {
        const batch = this.pending;
        this.pending = [];
        try {
          if (!this.handle) await this.open();
          await this.handle!.appendFile(batch.map(item => item.line).join(''));
          await this.handle!.datasync();
          batch.forEach(item => item.resolve());
        } catch (error) {
          // Reopen next time: the file may have been replaced or its disk remounted.
          await this.handle?.close().catch(() => undefined);
          this.handle = null;
          const failure = new AuditUnavailableError(`audit log ${this.path} cannot be written: ${(error as Error).message}`);
          batch.forEach(item => item.reject(failure));
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
  }
}
