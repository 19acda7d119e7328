/** Test helpers: a real demo lake, a real service on a loopback port, real JWTs, real Arrow decoding. */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { Table, tableFromIPC } from 'apache-arrow';
import { generateDemo } from '../demo/generate';
import { createApiServer } from '../http/server';
import { Logger, WardenService } from '../service';
import { ARROW_STREAM_MIME } from '../../common/api';

export const SECRET = 'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
process.env.WARDEN_JWT_SECRET = SECRET;

export const quietLogger = { info: () => undefined, error: () => undefined };

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `warden-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function demoLake(rows = 400): Promise<{ out: string; configDir: string; lakeDir: string; remove: () => void }> {
  const dir = tempDir('demo');
  const { configDir, lakeDir } = await generateDemo({ out: dir.path, rows });
  return { out: dir.path, configDir, lakeDir, remove: dir.remove };
}

export interface RunningService {
  url: string;
  service: WardenService;
  close: () => Promise<void>;
}

export async function startService(configDir: string, logger: Logger = quietLogger): Promise<RunningService> {
  const service = await WardenService.start(configDir, logger);
  const server = createApiServer(service);
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/v1`,
    service,
    close: async () => {
      const closed = new Promise(resolve => server.close(resolve));
      await service.close(() => server.closeAllConnections());
      await closed;
    }
  };
}

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  /** Its output so far, line by line (stdout and stderr). */
  lines: string[];
  /** SIGTERM, and resolves once it exited. */
  stop(): Promise<void>;
}

/**
 * A real `warden-service` process on a free loopback port (`--no-watch` unless `watch`), from
 * the sources or, with `bundle`, a service bundle (scripts/build-service.mjs).
 */
export async function spawnService(configDir: string, options: { watch?: boolean; bundle?: string } = {}): Promise<ServiceProcess> {
  const entry = options.bundle ? [options.bundle] : ['--import', 'tsx', 'src/service/main.ts'];
  const args = [...entry, '--config', configDir, '--port', '0', ...(options.watch ? [] : ['--no-watch'])];
  const child = spawn(process.execPath, args, { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    for (const stream of [child.stdout!, child.stderr!]) {
      let partial = '';
      stream.on('data', (chunk: Buffer) => {
        const text = partial + chunk.toString();
        const complete = text.split('\n');
        partial = complete.pop()!;
        for (const line of complete) {
          lines.push(line);
          const match = /listening on (http:\/\/\S+)/.exec(line);
          if (match) resolve(`${match[1]}/api/v1`);
        }
      });
    }
    child.once('exit', code => reject(new Error(`service exited with ${code}: ${lines.join('\n')}`)));
  });
  return {
    url,
    child,
    lines,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    }
  };
}

/**
 * One HTTP request by a Python client (Python sockets take from the kernel exactly what they
 * ask for; Node's read 64 KB at once). It reads `read` bytes from the connection (0: none),
 * waits `pause` seconds, then: `close` (with the rest unread, its kernel resets the
 * connection), `all` (reads the rest of the answer, then closes), or `all-then-ask` (reads the
 * rest, then sends another request on the same connection, then closes). Resolves with the
 * bytes it read from the connection, and with the answer's body size when it read it whole.
 */
const PYTHON_CLIENT = String.raw`
import json, re, socket, sys, time
host, port, method, path, token, notebook, first, pause, then = sys.argv[1:10]
sock = socket.create_connection((host, int(port)))
data = bytearray()
CRLF = b"\r\n"


def send(method, path, body=b""):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Authorization: Bearer {token}",
             f"X-Warden-Notebook: {notebook}", "Content-Type: application/json", f"Content-Length: {len(body)}", "", ""]
    sock.sendall("\r\n".join(lines).encode() + body)


def receive(n):
    chunk = sock.recv(n)
    data.extend(chunk)
    return len(chunk)


def answer_end(start):
    """Where the answer that starts at start ends in data (None: not all there yet), and its body size."""
    end = data.find(CRLF + CRLF, start)
    if end < 0:
        return None
    headers = bytes(data[start:end]).decode("latin-1").lower()
    pos, body = end + 4, 0
    if "transfer-encoding: chunked" not in headers:
        length = int(re.search(r"content-length: (\d+)", headers).group(1))
        return (pos + length, length) if len(data) >= pos + length else None
    while True:
        line = data.find(CRLF, pos)
        if line < 0:
            return None
        size = int(bytes(data[pos:line]).split(b";")[0], 16)
        if len(data) < line + 2 + size + 2:
            return None
        if size == 0:
            return (line + 4, body)
        body, pos = body + size, line + 2 + size + 2


def read_answer(start):
    while (found := answer_end(start)) is None:
        if not receive(65536):
            raise SystemExit("connection closed before the answer ended")
    return found


send(method, path, b"{}" if method == "POST" else b"")
while len(data) < int(first) and receive(int(first) - len(data)):
    pass
time.sleep(float(pause))
result = {"read": len(data)}
if then != "close":
    end, body = read_answer(0)
    result = {"read": len(data), "body": body}
    if then == "all-then-ask":
        send("GET", "/api/v1/whoami")
        read_answer(end)
sock.close()
print(json.dumps(result))
`;

export async function pythonClient(
  url: string,
  request: { method: string; path: string; notebook: string; user: string; read: number; pause: number; then: 'close' | 'all' | 'all-then-ask' }
): Promise<{ read: number; body?: number }> {
  const { hostname, port, pathname } = new URL(url);
  const args = [hostname, port, request.method, `${pathname}${request.path}`, await token(request.user), request.notebook, String(request.read), String(request.pause), request.then];
  const { stdout } = await promisify(execFile)('python3', ['-c', PYTHON_CLIENT, ...args], { maxBuffer: 1024 * 1024 });
  return JSON.parse(stdout) as { read: number; body?: number };
}

export async function token(user: string, options: { secret?: string; audience?: string; issuer?: string; expiresIn?: string; claims?: Record<string, unknown> } = {}): Promise<string> {
  return new SignJWT(options.claims ?? {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user)
    .setAudience(options.audience ?? 'warden')
    .setIssuer(options.issuer ?? 'jupyter-server')
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '5m')
    .sign(new TextEncoder().encode(options.secret ?? SECRET));
}

export async function api(url: string, user: string | null, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (user) headers.set('authorization', `Bearer ${await token(user)}`);
  return fetch(url, { ...init, headers });
}

export async function scan(url: string, user: string, dataset: string, body: object = {}, headers: Record<string, string> = {}): Promise<Table> {
  const response = await api(`${url}/datasets/${encodeURIComponent(dataset)}/scan`, user, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body)
  });
  if (response.status !== 200) {
    throw new Error(`scan failed: ${response.status} ${await response.text()}`);
  }
  if (response.headers.get('content-type') !== ARROW_STREAM_MIME) {
    throw new Error(`unexpected content type ${response.headers.get('content-type')}`);
  }
  return tableFromIPC(new Uint8Array(await response.arrayBuffer()));
}

/** Waits until `condition` holds (polling), or fails naming `what`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}

/** Rows as plain objects, for comparing exact values in tests only. */
export function rows(table: Table): Record<string, unknown>[] {
  return table.toArray().map(row => {
    const object = row.toJSON() as Record<string, unknown>;
    for (const [key, value] of Object.entries(object)) {
      if (typeof value === 'bigint') object[key] = Number(value);
    }
    return object;
  });
}

/**
 * Makes the service of `configDir` take groups and attributes from token claims (by default it
 * takes only the subject): for attacks through what claims say.
 */
export function trustTokenClaims(configDir: string): void {
  const path = join(configDir, 'warden.yaml');
  writeFileSync(path, readFileSync(path, 'utf8').replace('identity:\n', 'identity:\n  trusted_claims: [groups, attributes]\n'));
}
