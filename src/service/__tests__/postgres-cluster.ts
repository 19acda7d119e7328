/**
 * A throwaway PostgreSQL 15 cluster for tests: initdb into a fresh temporary directory, a
 * server on a free loopback port, stopped and removed afterwards (even when a test fails).
 * The server refuses to run as root, so as root it runs as the `postgres` OS user.
 *
 * Local (unix socket) connections are trusted, for the test's own set-up as superuser;
 * TCP connections need a password (scram-sha-256), as the service's would in production.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';

const BIN = process.env.WARDEN_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PostgresCluster {
  /** Loopback TCP address for the service: host, port. */
  host: string;
  port: number;
  /** The unix socket directory, for superuser set-up without a password. */
  socketDir: string;
  /** Runs SQL as superuser in `database` (default `postgres`). */
  sql<Row extends object = Record<string, unknown>>(text: string, params?: unknown[], database?: string): Promise<Row[]>;
  /** A superuser client of `database`, for tests that need their own session. */
  connect(database?: string): Promise<pg.Client>;
  /** Stops the server (a fast shutdown: sessions are ended) and keeps its files, for `resume`. */
  pause(): void;
  /** Starts the paused server again, on the same port. */
  resume(): void;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise(resolve => server.close(resolve));
  return port;
}

export async function startPostgres(): Promise<PostgresCluster> {
  if (!existsSync(join(BIN, 'initdb'))) {
    throw new Error(`PostgreSQL server binaries not found in ${BIN}: install them (apt-get install postgresql-15) or set WARDEN_TEST_PG_BIN`);
  }
  const asRoot = process.getuid?.() === 0;
  const run = (command: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', join(BIN, command), ...args], { stdio: 'pipe' })
      : execFileSync(join(BIN, command), args, { stdio: 'pipe' });

  const dir = mkdtempSync('/tmp/warden-pg-cluster-');
  const dataDir = join(dir, 'data');
  let started = false;
  const stopNow = () => {
    process.off('exit', stopNow);
    if (started) {
      started = false;
      try {
        run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already stopped: nothing left to do but remove the files.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Also when the test process ends without running its hooks (a crash, a filtered run).
  process.on('exit', stopNow);
  const stop = async () => stopNow();
  try {
    if (asRoot) {
      const { uid, gid } = ownerOf('postgres');
      chownSync(dir, uid, gid);
    }
    chmodSync(dir, 0o700);
    run('initdb', ['-D', dataDir, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync', '-E', 'UTF8', '--locale=C']);
    const port = await freePort();
    // fsync off: the cluster is thrown away; it does not change what the tests check.
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
    const start = () => {
      run('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-o', options, '-w', 'start']);
      started = true;
    };
    start();
    const connect = async (database = 'postgres') => {
      const client = new pg.Client({ host: dir, port, user: 'postgres', database });
      await client.connect();
      return client;
    };
    return {
      host: '127.0.0.1',
      port,
      socketDir: dir,
      connect,
      async sql<Row extends object>(text: string, params: unknown[] = [], database = 'postgres') {
        const client = await connect(database);
        try {
          return (await client.query<Row>(text, params)).rows;
        } finally {
          await client.end();
        }
      },
      pause() {
        run('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
        started = false;
      },
      resume: start,
      stop
    };
  } catch (error) {
    await stop();
    const stderr = (error as { stderr?: Buffer }).stderr?.toString();
    throw new Error(`cannot start a test PostgreSQL cluster: ${(error as Error).message}${stderr ? `\n${stderr}` : ''}`);
  }
}

function ownerOf(user: string): { uid: number; gid: number } {
  const [uid, gid] = ['-u', '-g'].map(flag => Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim()));
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error(`the "${user}" OS user is missing: PostgreSQL cannot run as root`);
  }
  return { uid, gid };
}
