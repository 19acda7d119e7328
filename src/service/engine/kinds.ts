/**
 * The engine kinds a connection in warden.yaml may name, by `kind`. DuckDB is not among them:
 * it is built in and reads the file sources. A new engine registers here (docs/engines.md).
 */
import { EngineKind } from './engine';
import { postgresKind } from './postgres';
import { trinoKind } from './trino';

/** The kind of a connection that names none (connections were PostgreSQL-only before kinds). */
export const DEFAULT_KIND = 'postgres';

export const ENGINE_KINDS: ReadonlyMap<string, EngineKind> = registerKinds([postgresKind, trinoKind]);

/** The kinds by name; two kinds of one name would make connections ambiguous, so that fails at startup. */
export function registerKinds(kinds: EngineKind[]): ReadonlyMap<string, EngineKind> {
  const registry = new Map<string, EngineKind>();
  for (const kind of kinds) {
    if (registry.has(kind.kind)) throw new Error(`two engine kinds are named "${kind.kind}": engine/kinds.ts must list each kind once`);
    registry.set(kind.kind, kind);
  }
  return registry;
}
