/**
 * What one user can take of the service's memory, measured against a running service (the
 * production bundle, warden/service/warden-service.cjs) on the demo lake (issue 14, items 17-18):
 *
 *   node bench/run.mjs resources [--rows 100000000] [--sorts 4] [--stalled 40]
 *
 * 1. Sorted scans: `--sorts` scans of every row of the trial table (as pat, who sees every row in
 *    the clear) ordered by ssn, `--columns` of it, all sent at once. DuckDB may hold `--memory-limit-mib` and
 *    spills past it; `heavy_queries` of them run at once, the others wait in the queue.
 * 2. Stalled readers: `--stalled` scans whose clients read the answer's first bytes and then
 *    nothing. Streams may hold `--stream-buffers-mib` together: the others wait, then are
 *    refused with 503; the stalled ones are cut after `--stall-timeout`.
 *
 * Each phase runs on a fresh service process. Its peak RSS is the kernel's high-water mark
 * (VmHWM), checked against the bound the configuration sets: the idle service's RSS, plus the
 * DuckDB memory limit, plus the stream buffers. The lake is generated once (`npm run demo-lake`
 * with --other-rows 1000) under .cache/bench/demo-<rows>, as bench/scan.py does.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { IncomingMessage, request } from 'node:http';
import { Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { table } from './stats';

const MIB = 1024 * 1024;
/** bench/run.mjs runs benchmarks from the repository's root. */
const ROOT = process.cwd();
const TRIAL = 'drug_xyz.trial_july2020';
const SECRET = randomBytes(32).toString('hex');
/** Users of the demo directory who may read the trial (pat every row; alice US rows; carlos no PII). */
const READERS = ['pat', 'alice', 'carlos'];

const { values: options } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000000' },
    sorts: { type: 'string', default: '3' },
    /** The sorted scans' columns, or `all` (11 columns: 14 GB of Arrow per scan at 100M rows). */
    columns: { type: 'string', default: 'participant_id,ssn,site,outcome' },
    stalled: { type: 'string', default: '40' },
    'memory-limit-mib': { type: 'string', default: '1024' },
    'heavy-queries': { type: 'string', default: '2' },
    'stream-buffers-mib': { type: 'string', default: '256' },
    'stall-timeout': { type: 'string', default: '20' },
    'queue-wait': { type: 'string', default: '30' },
    phases: { type: 'string', default: 'sorts,stalled' }
  }
});
const rowCount = Number(options.rows);
const memoryLimitMib = Number(options['memory-limit-mib']);
const streamBuffersMib = Number(options['stream-buffers-mib']);
const stallTimeout = Number(options['stall-timeout']);

/** The lake, generated once per size. */
function lake(): string {
  const out = join(ROOT, '.cache', 'bench', `demo-${rowCount}`);
  if (!existsSync(join(out, 'config', 'warden.yaml'))) {
    const started = performance.now();
    const generated = spawnSync('npm', ['run', '--silent', 'demo-lake', '--', '--out', out, '--rows', String(rowCount), '--other-rows', '1000'], { cwd: ROOT, stdio: 'inherit' });
    if (generated.status !== 0) throw new Error(`demo-lake failed for ${rowCount} rows`);
    console.log(`prepared ${out} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  return out;
}

/** A run directory: the lake's config with the resources of this phase, an audit log of its own. */
function configure(lakeDir: string, queueWaitSeconds: number): { dir: string; config: string; audit: string; spill: string } {
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-resources-'));
  const config = join(dir, 'config');
  cpSync(join(lakeDir, 'config'), config, { recursive: true });
  const settings = readFileSync(join(config, 'warden.yaml'), 'utf8')
    .replace('data_roots: [../lake]', `data_roots: [${join(lakeDir, 'lake')}]`)
    .replace('path: ../audit/audit.jsonl', `path: ${join(dir, 'audit.jsonl')}`);
  const resources = {
    memory_limit_mib: memoryLimitMib,
    spill_directory: join(dir, 'spill'),
    heavy_queries: Number(options['heavy-queries']),
    queue_length: 64,
    queue_wait_seconds: queueWaitSeconds,
    stream_buffers_mib: streamBuffersMib,
    stall_timeout_seconds: stallTimeout
  };
  writeFileSync(join(config, 'warden.yaml'), `${settings}resources:\n${Object.entries(resources).map(([key, value]) => `  ${key}: ${value}`).join('\n')}\n`);
  return { dir, config, audit: join(dir, 'audit.jsonl'), spill: join(dir, 'spill') };
}

interface Service {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

async function startService(config: string): Promise<Service> {
  const child = spawn(process.execPath, [join(ROOT, 'warden/service/warden-service.cjs'), '--config', config, '--port', '0', '--no-watch'], {
    env: { ...process.env, WARDEN_JWT_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'pipe']
  });
  // Its log (a line per refusal, at 503s many) is shown only if it stops on its own.
  const log: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  let stopping = false;
  const exited = new Promise<void>(done =>
    child.once('exit', code => {
      if (!stopping) console.error(`the service exited with ${code}:\n${log.join('').slice(-4000)}`);
      done();
    })
  );
  const port = await new Promise<number>((done, fail) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(chunk.toString());
      if (match) done(Number(match[1]));
    });
    child.once('exit', code => fail(new Error(`the service exited with ${code}`)));
  });
  return {
    child,
    port,
    stop: async () => {
      stopping = true;
      child.kill('SIGTERM');
      await exited;
    }
  };
}

/** VmRSS and VmHWM (peak) of a process, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => {
    const found = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!found) throw new Error(`the service (pid ${pid}) has exited: /proc/${pid}/status has no ${field}`);
    return Number(found[1]) * 1024;
  };
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

function directoryBytes(path: string): number {
  if (!existsSync(path)) return 0;
  let bytes = 0;
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    try {
      bytes += statSync(join(entry.parentPath, entry.name)).size;
    } catch {
      // Removed while we looked.
    }
  }
  return bytes;
}

/** Samples the service's RSS (and the spill directory) every `everyMs` until stopped. */
function sampler(pid: number, spill: string, everyMs = 250) {
  const samples: { at: number; rss: number }[] = [];
  let spillPeak = 0;
  const started = performance.now();
  const timer = setInterval(() => {
    try {
      samples.push({ at: performance.now() - started, rss: memory(pid).rss });
    } catch {
      clearInterval(timer); // the service exited: its own message says why
    }
    spillPeak = Math.max(spillPeak, directoryBytes(spill));
  }, everyMs);
  return {
    stop: () => clearInterval(timer),
    get spillPeak() {
      return spillPeak;
    },
    samples
  };
}

function token(user: string): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setAudience('warden').setIssuer('jupyter-server').setIssuedAt().setExpirationTime('2h').sign(new TextEncoder().encode(SECRET));
}

interface Read {
  status: number;
  requestId: string;
  firstByteMs: number;
  totalMs: number;
  bytes: number;
}

/** A scan read to its end as fast as the client can, bytes counted and dropped. */
async function readScan(port: number, user: string, body: object): Promise<Read> {
  const text = JSON.stringify(body);
  const authorization = `Bearer ${await token(user)}`;
  const started = performance.now();
  return new Promise((done, fail) => {
    const sent = request(
      { host: '127.0.0.1', port, path: `/api/v1/datasets/${TRIAL}/scan`, method: 'POST', agent: false, headers: { authorization, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } },
      (response: IncomingMessage) => {
        const firstByteMs = performance.now() - started;
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('end', () => done({ status: response.statusCode!, requestId: String(response.headers['x-warden-request-id'] ?? ''), firstByteMs, totalMs: performance.now() - started, bytes }));
        response.on('error', fail);
      }
    );
    sent.on('error', fail);
    sent.end(text);
  });
}

/** A scan whose client reads the first bytes of the answer and then nothing: its status line and request id. */
async function stalledScan(port: number, user: string): Promise<{ socket: Socket; status: Promise<number>; requestId: Promise<string> }> {
  const text = JSON.stringify({});
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write(`POST /api/v1/datasets/${TRIAL}/scan HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${await token(user)}\r\nContent-Type: application/json\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
  const head = new Promise<string>(done => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      done(chunk.toString('latin1').split('\r\n\r\n')[0]);
    });
    socket.once('close', () => done(''));
  });
  return {
    socket,
    status: head.then(text => Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0)),
    requestId: head.then(text => /x-warden-request-id: (\S+)/i.exec(text)?.[1] ?? '')
  };
}

type AuditRecord = Record<string, unknown>;
function audit(path: string): AuditRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(line => line.trim())
    .map(line => JSON.parse(line) as AuditRecord);
}

const sleep = (ms: number) => new Promise(done => setTimeout(done, ms));
const mib = (bytes: number) => `${(bytes / MIB).toFixed(0)} MiB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** RSS now, and 10 s and 30 s after the load ended: is the memory given back? */
async function afterwards(pid: number): Promise<string[]> {
  const at = [memory(pid).rss];
  await sleep(10_000);
  at.push(memory(pid).rss);
  await sleep(20_000);
  at.push(memory(pid).rss);
  return at.map(mib);
}

/** The idle service after a first small read (code paths loaded, the catalog read). */
async function idle(service: Service): Promise<number> {
  await readScan(service.port, 'pat', { limit: 10 });
  await sleep(2000);
  return memory(service.child.pid!).rss;
}

function bound(baseline: number): number {
  return baseline + (memoryLimitMib + streamBuffersMib) * MIB;
}

async function sortedScans(lakeDir: string): Promise<void> {
  const run = configure(lakeDir, 3600);
  const service = await startService(run.config);
  const pid = service.child.pid!;
  try {
    const baseline = await idle(service);
    const sampling = sampler(pid, run.spill);
    const started = performance.now();
    const sorts = Number(options.sorts);
    const body = options.columns === 'all' ? { orderBy: ['ssn'] } : { orderBy: ['ssn'], columns: options.columns!.split(',') };
    const reads = await Promise.all(Array.from({ length: sorts }, () => readScan(service.port, 'pat', body)));
    const wall = performance.now() - started;
    sampling.stop();
    const { peak } = memory(pid);
    const after = await afterwards(pid);
    const records = audit(run.audit).filter(record => record.event === 'complete');
    const rows = reads.map(read => [
      read.requestId.slice(0, 8),
      read.status,
      seconds(read.firstByteMs),
      seconds(read.totalMs),
      `${(read.bytes / 1e9).toFixed(2)} GB`,
      Number(records.find(record => record.request_id === read.requestId)?.rows ?? 0).toLocaleString('en'),
      String(records.find(record => record.request_id === read.requestId)?.outcome ?? 'no record')
    ]);
    console.log(`\n## 1. ${sorts} sorted scans of ${rowCount.toLocaleString('en')} rows at once (pat: every row; columns ${options.columns}; orderBy ssn)`);
    console.log(table(['request', 'status', 'first byte (sort done)', 'total', 'received', 'rows (audit)', 'outcome (audit)'], rows));
    console.log();
    console.log(table(['figure', 'value'], [
      ['DuckDB memory limit (memory_limit_mib)', `${memoryLimitMib} MiB`],
      ['heavy queries at once (heavy_queries)', options['heavy-queries']!],
      ['stream buffers (stream_buffers_mib)', `${streamBuffersMib} MiB`],
      ['idle service RSS (the stated overhead, with the stream buffers)', mib(baseline)],
      ['bound: idle + memory limit + stream buffers', mib(bound(baseline))],
      ['peak RSS (VmHWM)', `${mib(peak)}: ${peak <= bound(baseline) ? 'within the bound' : 'OVER the bound'}`],
      ['peak RSS above idle', mib(peak - baseline)],
      ['spilled to disk at most', `${(sampling.spillPeak / 1e9).toFixed(2)} GB`],
      ['wall time, all scans', seconds(wall)],
      ['RSS when done, +10 s, +30 s', after.join(', ')]
    ]));
  } finally {
    await service.stop();
    rmSync(run.dir, { recursive: true, force: true });
  }
}

async function stalledReaders(lakeDir: string): Promise<void> {
  const queueWait = Number(options['queue-wait']);
  const run = configure(lakeDir, queueWait);
  const service = await startService(run.config);
  const pid = service.child.pid!;
  const readers: Awaited<ReturnType<typeof stalledScan>>[] = [];
  try {
    const baseline = await idle(service);
    const sampling = sampler(pid, run.spill);
    const started = performance.now();
    const count = Number(options.stalled);
    for (let i = 0; i < count; i++) readers.push(await stalledScan(service.port, READERS[i % READERS.length]));
    const statuses = await Promise.all(readers.map(reader => reader.status));
    const ids = await Promise.all(readers.map(reader => reader.requestId));
    const admitted = ids.filter((_, i) => statuses[i] === 200);
    // Every admitted stream ends with a `complete` record: cut for stalling.
    const deadline = performance.now() + (queueWait + 4 * stallTimeout + 60) * 1000;
    let completes: AuditRecord[] = [];
    while (performance.now() < deadline) {
      completes = audit(run.audit).filter(record => record.event === 'complete' && admitted.includes(String(record.request_id)));
      if (completes.length === admitted.length) break;
      await sleep(500);
    }
    const allCut = performance.now() - started;
    sampling.stop();
    const { peak } = memory(pid);
    const after = await afterwards(pid);
    const refused = audit(run.audit).filter(record => record.outcome === 'refused');
    const cutForStalling = completes.filter(record => record.outcome === 'aborted' && /took no data/.test(String(record.reason)));
    const lastAdmitted = Math.max(...readers.map((_, i) => (statuses[i] === 200 ? i : -1)));
    console.log(`\n## 2. ${count} stalled readers (full scans of ${rowCount.toLocaleString('en')} rows by ${READERS.join(', ')} in turn; each client reads the first bytes, then nothing)`);
    console.log(table(['figure', 'value'], [
      ['stream buffers (stream_buffers_mib), one user at most half', `${streamBuffersMib} MiB`],
      ['stall timeout, queue wait', `${stallTimeout} s, ${queueWait} s`],
      ['answered 200 (admitted), of them cut for stalling (audit: aborted)', `${admitted.length}, ${cutForStalling.length}`],
      ['answered 503 overloaded with Retry-After (audit: refused)', `${statuses.filter(status => status === 503).length} (${refused.length} refused records)`],
      ['last reader admitted', lastAdmitted >= 0 ? `#${lastAdmitted + 1}` : 'none'],
      ['idle service RSS', mib(baseline)],
      ['peak RSS (VmHWM)', mib(peak)],
      ['peak RSS above idle', `${mib(peak - baseline)}: ${peak - baseline <= streamBuffersMib * MIB ? 'within' : 'OVER'} the stream buffers`],
      ['until every admitted reader was cut', seconds(allCut)],
      ['RSS when all were cut, +10 s, +30 s', after.join(', ')]
    ]));
  } finally {
    for (const reader of readers) reader.socket.destroy();
    await service.stop();
    rmSync(run.dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts/build-service.mjs')], { cwd: ROOT, stdio: 'inherit' });
  if (built.status !== 0) throw new Error('could not bundle the service');
  const lakeDir = lake();
  const phases = options.phases!.split(',');
  console.log(`# Memory under load: ${rowCount.toLocaleString('en')}-row lake, ${(await import('node:os')).availableParallelism()} cores, load average ${(await import('node:os')).loadavg()[0].toFixed(1)}`);
  if (phases.includes('sorts')) await sortedScans(lakeDir);
  if (phases.includes('stalled')) await stalledReaders(lakeDir);
}

void main().catch(error => {
  console.error(error);
  process.exit(1);
});
