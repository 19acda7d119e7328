/**
 * The enforcement service's state and operations, independent of HTTP: the current
 * configuration and catalog (hot-reloaded, last good kept), identity, engines and audit.
 */
import { createHash } from 'node:crypto';
import { FSWatcher, watch } from 'node:fs';
import { DatasetDetail, Principal, RowFilterInfo } from '../common/api';
import { CatalogDataset, Catalog, summarise } from './catalog/catalog';
import { loadConfig } from './config/load';
import { ServiceSettings, WardenConfig } from './config/types';
import { ScanPlan, compileScan, CompiledScan } from './engine/compile';
import { MaskKeys } from './engine/dialect';
import { DuckDBEngine } from './engine/duckdb';
import { EngineRegistry } from './engine/registry';
import { AuditSink, FileAuditSink } from './audit/log';
import { PostgresAuditSink } from './audit/postgres';
import { Decision, decide } from './policy/decide';
import { describeExpression } from './policy/describe';
import { TokenVerifier, principalFrom } from './identity/verify';

export interface Logger {
  info(message: string): void;
  error(message: string): void;
}

interface Snapshot {
  config: WardenConfig;
  engines: EngineRegistry;
  catalog: Catalog;
  verifier: TokenVerifier;
}

/** Opens the configured audit sink; start-up fails if it cannot be written. */
async function openAuditSink(settings: ServiceSettings): Promise<AuditSink> {
  const { audit } = settings;
  const sink = audit.sink === 'file' ? new FileAuditSink(audit.path) : new PostgresAuditSink(settings.connections.get(audit.connection)!, audit.table);
  try {
    await sink.open();
  } catch (error) {
    await sink.close().catch(() => undefined);
    throw error;
  }
  return sink;
}

/** The audit sink's settings, connection included: what a reload may not change. */
function auditTarget(settings: ServiceSettings): string {
  const { audit } = settings;
  return JSON.stringify([audit, audit.sink === 'postgres' ? settings.connections.get(audit.connection) : null]);
}

export class WardenService {
  private watcher?: FSWatcher;
  private reloadTimer?: NodeJS.Timeout;
  private reloading: Promise<void> = Promise.resolve();

  private constructor(
    private snapshot: Snapshot,
    private readonly duckdb: DuckDBEngine,
    readonly audit: AuditSink,
    private readonly logger: Logger
  ) {}

  /** Loads the config directory; throws ConfigError (file, line, problem) if anything is wrong. */
  static async start(configDir: string, logger: Logger): Promise<WardenService> {
    const config = loadConfig(configDir);
    const audit = await openAuditSink(config.settings);
    const duckdb = await DuckDBEngine.create();
    const engines = EngineRegistry.create(duckdb, config.settings.connections);
    try {
      const snapshot = await WardenService.prepare(config, engines);
      return new WardenService(snapshot, duckdb, audit, logger);
    } catch (error) {
      await engines.retire();
      await duckdb.close();
      await audit.close();
      throw error;
    }
  }

  private static async prepare(config: WardenConfig, engines: EngineRegistry): Promise<Snapshot> {
    const catalog = await Catalog.build(config.datasets, engines);
    return { config, engines, catalog, verifier: new TokenVerifier(config.settings.identity) };
  }

  get config(): WardenConfig {
    return this.snapshot.config;
  }

  get catalog(): Catalog {
    return this.snapshot.catalog;
  }

  /** Watches the config directory; a change that does not load leaves the last good version serving. */
  watchConfig(): void {
    this.watcher = watch(this.config.settings.configDir, { recursive: true }, () => {
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => void this.reload(), 150);
    });
  }

  /** Reloads now; resolves when done (tests use this instead of waiting for the watcher). */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      let engines: EngineRegistry | undefined;
      try {
        const config = loadConfig(this.config.settings.configDir);
        if (auditTarget(config.settings) !== auditTarget(this.config.settings)) {
          throw new Error('the audit sink or its connection changed: restart the service to switch audit sinks');
        }
        engines = this.snapshot.engines.derive(config.settings.connections);
        const previous = this.snapshot;
        this.snapshot = await WardenService.prepare(config, engines);
        await previous.engines.retire(engines);
        this.logger.info(`config reloaded: ${this.catalog.size} datasets, ${config.policies.length} policies`);
      } catch (error) {
        await engines?.retire(this.snapshot.engines);
        this.logger.error(`config reload failed, still serving the last good config: ${(error as Error).message}`);
      }
    });
    return this.reloading;
  }

  async authenticate(authorization: string | undefined): Promise<Principal> {
    const payload = await this.snapshot.verifier.verify(authorization);
    return principalFrom(payload, this.config.directory);
  }

  /** The dataset and the decision for it, or undefined when the principal may not see it (or it does not exist). */
  access(principal: Principal, name: string): { dataset?: CatalogDataset; decision?: Decision } {
    const dataset = this.catalog.get(name);
    if (!dataset) return {};
    return { dataset, decision: decide(principal, dataset.facts, this.config.policies) };
  }

  maskKeys(dataset: string): MaskKeys {
    const derive = (purpose: string) => createHash('sha256').update(`${this.config.settings.maskKey}\0${purpose}`).digest('hex');
    return { hash: derive(`hash\0${dataset}`), token: derive('token') };
  }

  /** The scan in the SQL of the engine that reads the dataset. */
  compile(dataset: CatalogDataset, decision: Decision, plan: ScanPlan): CompiledScan {
    const { engine, config } = dataset;
    return compileScan(decision, dataset.columns, plan, engine.dialect, this.maskKeys(config.name), params => engine.relation(config.source, params));
  }

  detail(dataset: CatalogDataset, decision: Decision): DatasetDetail {
    const received = new Map(this.compile(dataset, decision, { limit: 0 }).columns.map(column => [column.name, column]));
    const effects = new Map(decision.columns.map(column => [column.name, column.effect]));
    return {
      ...summarise(dataset, decision),
      columns: dataset.columns.map(column => ({
        name: column.name,
        type: received.get(column.name)?.type ?? column.type,
        sourceType: column.type,
        description: column.description,
        tags: column.tags,
        effect: effects.get(column.name)!
      })),
      rowFilter: rowFilterInfo(decision),
      policies: decision.policies
    };
  }

  async close(): Promise<void> {
    this.watcher?.close();
    clearTimeout(this.reloadTimer);
    await this.reloading;
    await this.snapshot.engines.retire();
    await this.duckdb.close();
    await this.audit.close();
  }
}

export function rowFilterInfo(decision: Decision): RowFilterInfo | null {
  if (decision.rowFilters.length === 0) return null;
  const parts = decision.rowFilters.map(filter => describeExpression(filter.expr));
  return {
    policies: decision.rowFilters.map(filter => filter.policy),
    description: `rows where ${parts.length > 1 ? parts.map(part => `(${part})`).join(' AND ') : parts[0]}`
  };
}
