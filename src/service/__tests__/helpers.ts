/** Test helpers: a real demo lake, a real service on a loopback port, real JWTs, real Arrow decoding. */
import { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { Table, tableFromIPC } from 'apache-arrow';
import { generateDemo } from '../demo/generate';
import { createApiServer } from '../http/server';
import { WardenService } from '../service';
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

export async function startService(configDir: string): Promise<RunningService> {
  const service = await WardenService.start(configDir, quietLogger);
  const server = createApiServer(service);
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/v1`,
    service,
    close: async () => {
      server.closeAllConnections();
      await new Promise(resolve => server.close(resolve));
      await service.close();
    }
  };
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
