/**
 * Audit sinks. A record is durable before `write` resolves, and callers await it before
 * releasing anything: if the write fails, the request fails (fail closed). Concurrent
 * writers are grouped into one commit (group commit), so the cost of durability is shared.
 *
 * The local sink is an append-only JSON-lines file, fdatasync'd; audit/postgres.ts has the
 * PostgreSQL sink that several service replicas share.
 */
import { constants } from 'node:fs';
import { FileHandle, access, mkdir, open, stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AuditRecord, StoredRecord, storable } from './record';

export class AuditUnavailableError extends Error {}

export interface AuditSink {
  write(record: AuditRecord): Promise<void>;
  /** Resolves if records can be written now (for health checks); rejects with the reason otherwise. */
  ready(): Promise<void>;
  /**
   * Streams of earlier runs whose end no record says: `access` records of previews and scans
   * without a `complete`. Only where the sink can tell (one process owns the file); absent otherwise.
   */
  unfinishedStreams?(): Promise<StoredRecord[]>;
  close(): Promise<void>;
}

/**
 * Less free space than this on the audit file's file system, and the log counts as not
 * writable: for health and for every commit alike, so that /health says unavailable exactly
 * when requests are refused.
 */
export const MIN_FREE_BYTES = 1024 * 1024;

/** How far back from the end of the file the start-up looks for streams without an end. */
const UNFINISHED_WINDOW_BYTES = 64 * 1024 * 1024;

interface Pending {
  /** Null for a probe: it commits nothing, and succeeds when a commit would. */
  record: AuditRecord | null;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Commits records in batches: while one batch commits, new records queue and go together in
 * the next. A failed commit fails every write of its batch with AuditUnavailableError, unless
 * `refusesRecord` says the sink refused a record's content (not its own state): then the batch
 * is committed again record by record, so that one bad record fails only its own write.
 */
export class GroupCommit {
  private pending: Pending[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly commit: (records: AuditRecord[]) => Promise<void>,
    private readonly failure: (error: Error) => string,
    private readonly refusesRecord: (error: Error) => boolean = () => false
  ) {}

  write(record: AuditRecord): Promise<void> {
    return this.enqueue(record);
  }

  /**
   * Resolves if a commit works now: an empty commit, in turn with the others (for a file:
   * opened again if it had failed, fdatasync'd); rejects with AuditUnavailableError otherwise.
   */
  probe(): Promise<void> {
    return this.enqueue(null);
  }

  private enqueue(record: AuditRecord | null): Promise<void> {
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
        await this.commit(batch.flatMap(item => (item.record ? [item.record] : [])));
        batch.forEach(item => item.resolve());
      } catch (error) {
        if (batch.length > 1 && this.refusesRecord(error as Error)) {
          for (const item of batch) await this.commitAlone(item);
        } else {
          const failure = new AuditUnavailableError(this.failure(error as Error));
          batch.forEach(item => item.reject(failure));
        }
      }
    }
    this.flushing = null;
  }

  private async commitAlone(item: Pending): Promise<void> {
    try {
      await this.commit(item.record ? [item.record] : []);
      item.resolve();
    } catch (error) {
      item.reject(new AuditUnavailableError(this.failure(error as Error)));
    }
  }
}

/**
 * The JSON-lines file sink. The file may be rotated (renamed, then the service writes a new
 * file at the path) or deleted while the service runs: each commit first checks that the path
 * still names the open file (device and inode) and reopens it if not, and after its fdatasync
 * checks that the file still has a name. A batch written into a file deleted meanwhile is
 * written again into the new file, so no acknowledged record is lost; a batch written into a
 * file renamed meanwhile is in the rotated file, which `warden.audit_log` reads too.
 */
export class FileAuditSink implements AuditSink {
  private handle: FileHandle | null = null;
  private readonly commits = new GroupCommit(
    records => this.append(records),
    error => `audit log ${this.path} cannot be written: ${error.message}`
  );

  constructor(
    readonly path: string,
    private readonly notice: (message: string) => void = () => undefined
  ) {}

  /** Opens (creating) the file, so that start-up fails if the audit log is not writable. */
  async open(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const handle = await open(this.path, 'a+', 0o600);
    try {
      await dropTornTail(handle);
    } catch (error) {
      await handle.close();
      throw error;
    }
    this.handle = handle;
  }

  write(record: AuditRecord): Promise<void> {
    return this.commits.write(record);
  }

  /**
   * Writable: the directory takes writes, its file system has room for more than a few
   * records, and an empty commit works (the file opens for appending, fdatasync succeeds).
   */
  async ready(): Promise<void> {
    await access(dirname(this.path), constants.W_OK);
    await this.commits.probe();
  }

  /** Rejects if writing `bytes` would leave less than MIN_FREE_BYTES free on the file's file system. */
  private async checkRoomFor(bytes: number): Promise<void> {
    const { bavail, bsize } = await statfs(dirname(this.path));
    const free = bavail * bsize;
    if (free - bytes < MIN_FREE_BYTES) throw new Error(`its file system has ${free} bytes free (${bytes} to write, ${MIN_FREE_BYTES} kept free)`);
  }

  async unfinishedStreams(): Promise<StoredRecord[]> {
    const handle = await open(this.path, 'r');
    try {
      const { size } = await handle.stat();
      const start = Math.max(0, size - UNFINISHED_WINDOW_BYTES);
      const buffer = Buffer.alloc(size - start);
      await handle.read(buffer, 0, buffer.length, start);
      const lines = buffer.toString('utf8').split('\n');
      if (start > 0) lines.shift(); // cut in the middle
      const open = new Map<string, StoredRecord>();
      for (const line of lines) {
        let record: StoredRecord;
        try {
          record = JSON.parse(line) as StoredRecord;
        } catch {
          continue;
        }
        if (record.event === 'complete') open.delete(record.request_id);
        else if (record.outcome === 'allowed' && (record.action === 'preview' || record.action === 'scan')) open.set(record.request_id, record);
      }
      return [...open.values()];
    } finally {
      await handle.close();
    }
  }

  private async append(records: AuditRecord[]): Promise<void> {
    const text = records.map(record => JSON.stringify(storable(record)) + '\n').join('');
    // Where the file ended before this commit: a commit that fails is cut off again.
    let before: number | undefined;
    try {
      if (!this.handle) {
        await this.open();
      } else if (!(await this.pathNamesHandle(this.handle))) {
        this.notice(`audit log ${this.path} was rotated or deleted: writing to a new file at that path`);
        await this.reopen();
      }
      await this.checkRoomFor(Buffer.byteLength(text));
      for (let attempt = 1; ; attempt++) {
        before = (await this.handle!.stat()).size;
        await this.handle!.appendFile(text);
        await this.handle!.datasync();
        if ((await this.handle!.stat()).nlink > 0) return;
        if (attempt === 3) throw new Error('the file keeps being deleted as it is written');
        this.notice(`audit log ${this.path} was deleted while being written: writing those records again to a new file`);
        await this.reopen();
      }
    } catch (error) {
      // The records of a failed commit were not acknowledged (their requests were refused):
      // none may stay in the file, whole (an `allowed` never answered) or torn (a full disk).
      if (before !== undefined) await this.handle?.truncate(before).catch(() => undefined);
      // Reopen next time: the file may have been replaced or its disk remounted.
      await this.handle?.close().catch(() => undefined);
      this.handle = null;
      throw error;
    }
  }

  private async pathNamesHandle(handle: FileHandle): Promise<boolean> {
    const [named, opened] = await Promise.all([stat(this.path, { bigint: true }).catch(() => null), handle.stat({ bigint: true })]);
    return named !== null && named.dev === opened.dev && named.ino === opened.ino;
  }

  private async reopen(): Promise<void> {
    const old = this.handle;
    this.handle = null;
    await old?.close().catch(() => undefined);
    await this.open();
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
