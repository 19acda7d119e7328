/**
 * The enforcement service's state, independent of any transport: the current configuration
 * and catalog (hot-reloaded, last good kept), identity, engines and the audit sink; and the
 * access pipeline (access/gateway.ts) that enforces with them. Built-ins are assembled here:
 * the audit log's dataset and policies, and the DuckDB engine for files.
 */
import { createHash } from 'node:crypto';
import { Health } from '../common/api';
import { recordUnknownEnds } from './access/completions';
import { AccessGateway, Enforcement } from './access/gateway';
import { EventLog, Logger } from './access/log';
import { AUDIT_BUILTINS } from './audit/dataset';
import { AuditSink, FileAuditSink } from './audit/log';
import { PostgresAuditSink } from './audit/postgres';
import { Catalog } from './catalog/catalog';
import { loadConfig } from './config/load';
import { checkPolicies } from './config/policy-checks';
import { ResourceSettings } from './config/resources';
import { ServiceSettings, WardenConfig } from './config/types';
import { ApplyResult, ConfigWatcher } from './config/watch';
import { weakenedProtections } from './config/weakening';
import { DecisionInputs, weakenedEffects } from './config/effect-weakening';
import { MaskKeys } from './engine/dialect';
import { DuckDBEngine, DuckDBResources } from './engine/duckdb';
import { isPostgresConnection } from './engine/postgres';
import { EngineRegistry } from './engine/registry';
import { HealthCheck } from './health';
import { Authenticator, Caller } from './identity/authenticate';

export const VERSION = '0.1.0';

export type { Logger };

/** One loaded configuration with everything built from it. */
class Snapshot implements Enforcement {
  private constructor(
    readonly config: WardenConfig,
    readonly engines: EngineRegistry,
    readonly catalog: Catalog,
    private readonly authenticator: Authenticator
  ) {}

  /** Builds the catalog (reading the sources' schemas; for a reload, `previous` is the running one) and checks the policies against it. */
  static async prepare(config: WardenConfig, engines: EngineRegistry, previous?: Catalog): Promise<Snapshot> {
    const catalog = await Catalog.build(config.datasets, engines, previous);
    checkPolicies(
      config.policies,
      config.datasets.map(({ name }) => catalog.get(name)!.facts),
      config.directory
    );
    return new Snapshot(config, engines, catalog, new Authenticator(config.settings.identity));
  }

  /** What decisions are made from: the policies, each dataset's facts, the directory. */
  get decisionInputs(): DecisionInputs {
    return { policies: this.config.policies, datasets: this.config.datasets.map(({ name }) => this.catalog.get(name)!.facts), directory: this.config.directory };
  }

  get policies(): WardenConfig['policies'] {
    return this.config.policies;
  }

  get resources(): ResourceSettings {
    return this.config.settings.resources;
  }

  authenticate(authorization: string | undefined): Promise<Caller> {
    return this.authenticator.authenticate(authorization, this.config.directory);
  }

  maskKeys(dataset: string): MaskKeys {
    const derive = (purpose: string) => createHash('sha256').update(`${this.config.settings.maskKey}\0${purpose}`).digest('hex');
    return { hash: derive(`hash\0${dataset}`), token: derive('token') };
  }
}

/** The configuration in a directory, with the service's built-ins (the audit log's dataset and policies). */
function load(configDir: string): WardenConfig {
  return loadConfig(configDir, AUDIT_BUILTINS);
}

/** Opens the configured audit sink; start-up fails if it cannot be written. */
async function openAuditSink(settings: ServiceSettings, events: EventLog): Promise<AuditSink> {
  const { audit } = settings;
  let sink: FileAuditSink | PostgresAuditSink;
  if (audit.sink === 'file') {
    sink = new FileAuditSink(audit.path, message => events.info('audit_file', { message }));
  } else {
    const connection = settings.connections.get(audit.connection);
    // loadConfig has checked that the audit connection is a PostgreSQL one.
    if (!connection || !isPostgresConnection(connection)) throw new Error(`audit connection ${audit.connection} is not a PostgreSQL connection`);
    sink = new PostgresAuditSink(connection, audit.table);
  }
  try {
    await sink.open();
  } catch (error) {
    await sink.close().catch(() => undefined);
    throw error;
  }
  return sink;
}

/** What the DuckDB engine takes of the machine. */
function duckdbResources({ memoryLimit, threads, spillDirectory, spillLimit }: ResourceSettings): DuckDBResources {
  return { memoryLimit, threads, spillDirectory, spillLimit };
}

/** The audit sink's settings, connection included: what a reload may not change. */
function auditTarget(settings: ServiceSettings): string {
  const { audit } = settings;
  return JSON.stringify([audit, audit.sink === 'postgres' ? settings.connections.get(audit.connection) : null]);
}

export class WardenService {
  /** Every operation on data or metadata goes through it, whatever the transport. */
  readonly access: AccessGateway;
  private readonly healthCheck: HealthCheck;
  private watcher?: ConfigWatcher;
  private reloading: Promise<ApplyResult> = Promise.resolve('applied');

  private constructor(
    private snapshot: Snapshot,
    private readonly duckdb: DuckDBEngine,
    readonly audit: AuditSink,
    /** The service log: one JSON line per event (access/log.ts). */
    readonly events: EventLog
  ) {
    this.access = new AccessGateway(() => this.snapshot, audit, events);
    this.healthCheck = new HealthCheck(VERSION, audit, () => this.snapshot.engines, events);
  }

  /** Loads the config directory; throws ConfigError (file, line, problem) if anything is wrong. */
  static async start(configDir: string, logger: Logger): Promise<WardenService> {
    const events = new EventLog(logger);
    const config = load(configDir);
    const audit = await openAuditSink(config.settings, events);
    // Streams a killed run left without an end get one now, saying what is known.
    const unknown = await recordUnknownEnds(audit, (await audit.unfinishedStreams?.()) ?? []);
    if (unknown) events.error('audit_unknown_ends', { streams: unknown, reason: 'a previous run stopped before recording their end' });
    const duckdb = await DuckDBEngine.create(duckdbResources(config.settings.resources));
    const engines = EngineRegistry.create(duckdb, config.settings.connections);
    try {
      const snapshot = await Snapshot.prepare(config, engines);
      return new WardenService(snapshot, duckdb, audit, events);
    } catch (error) {
      await engines.retire();
      await duckdb.close();
      await audit.close();
      throw error;
    }
  }

  get config(): WardenConfig {
    return this.snapshot.config;
  }

  get catalog(): Catalog {
    return this.snapshot.catalog;
  }

  /** Answers `GET /health` (./health.ts): no token needed, nothing audited. */
  health(): Promise<Health> {
    return this.healthCheck.check();
  }

  /** The configuration the access pipeline enforces with now. */
  get enforcement(): Enforcement {
    return this.snapshot;
  }

  /**
   * Watches the files the configuration is made of and reloads once a change is complete and
   * stable (config/watch.ts); a change that does not load leaves the last good version serving.
   */
  watchConfig(): void {
    this.watcher = new ConfigWatcher(() => this.config.inputs, stillCurrent => this.reload(stillCurrent), {
      info: message => this.events.info('config_watch', { message })
    });
  }

  /**
   * Reloads now; resolves when done (tests use this instead of waiting for the watcher). With
   * `stillCurrent`, the loaded configuration is applied only if it still says true once loaded.
   */
  reload(stillCurrent: () => boolean = () => true): Promise<ApplyResult> {
    this.reloading = this.reloading.then(async (): Promise<ApplyResult> => {
      let engines: EngineRegistry | undefined;
      try {
        const config = load(this.config.settings.configDir);
        if (auditTarget(config.settings) !== auditTarget(this.config.settings)) {
          throw new Error('the audit sink or its connection changed: restart the service to switch audit sinks');
        }
        const [resources, running] = [config.settings.resources, this.config.settings.resources];
        if (resources.spillDirectory !== running.spillDirectory) {
          throw new Error('resources.spill_directory changed: restart the service to move the spill directory');
        }
        engines = this.snapshot.engines.derive(config.settings.connections);
        const next = await Snapshot.prepare(config, engines, this.snapshot.catalog);
        if (!stillCurrent()) {
          await engines.retire(this.snapshot.engines);
          this.events.info('config_reload', { outcome: 'stale', reason: 'the files changed while they were loaded: loading again' });
          return 'stale';
        }
        const previous = this.snapshot;
        if (JSON.stringify(duckdbResources(resources)) !== JSON.stringify(duckdbResources(running))) await this.duckdb.configure(duckdbResources(resources));
        this.snapshot = next;
        await previous.engines.retire(engines);
        const weakened = weakenedProtections(previous.config.policies, config.policies);
        // The same loss through the catalog or the directory is found by deciding again (config/effect-weakening.ts).
        const effects = weakenedEffects(previous.decisionInputs, next.decisionInputs);
        if (weakened.length || effects.weakened.length) {
          this.events.error('config_reload_weakens_protections', {
            weakened,
            effects: effects.weakened,
            ...(effects.more ? { more_effects: effects.more } : {}),
            ...(effects.notCompared ? { not_compared: effects.notCompared } : {})
          });
        }
        if (next.catalog.unreadable.length) {
          this.events.error('config_reload_sources_unreadable', { datasets: next.catalog.unreadable, effect: 'described as last read; their reads fail until the source is readable' });
        }
        this.events.info('config_reload', {
          outcome: 'applied',
          datasets: this.catalog.size,
          policies: config.policies.length,
          ...(effects.notCompared ? { effects_not_compared: effects.notCompared } : {})
        });
        await this.access.viewsChanged();
        return 'applied';
      } catch (error) {
        await engines?.retire(this.snapshot.engines);
        this.events.error('config_reload', { outcome: 'refused', reason: `${(error as Error).message} (the last good configuration keeps serving)` });
        return 'refused';
      }
    });
    return this.reloading;
  }

  /**
   * Stops: `cutTransports` closes the transports' connections once the pipeline knows it is
   * stopping (streams cut then record why); every stream's end is recorded before the audit
   * sink closes.
   */
  async close(cutTransports: () => void = () => undefined): Promise<void> {
    await this.access.stop(cutTransports);
    this.watcher?.close();
    await this.watcher?.idle();
    await this.reloading;
    await this.snapshot.engines.retire();
    await this.duckdb.close();
    await this.audit.close();
  }
}
