/**
 * The enforcement service's state and operations, independent of HTTP: the current
 * configuration and catalog (hot-reloaded, last good kept), identity, engine and audit.
 */
import { createHash } from 'node:crypto';
import { FSWatcher, watch } from 'node:fs';
import { DatasetDetail, Principal, RowFilterInfo } from '../common/api';
import { CatalogDataset, Catalog, summarise } from './catalog/catalog';
import { loadConfig } from './config/load';
import { WardenConfig } from './config/types';
import { ScanPlan, compileScan, CompiledScan } from './engine/compile';
import { MaskKeys } from './engine/dialect';
import { DuckDBEngine } from './engine/duckdb';
import { QueryEngine } from './engine/engine';
import { AuditSink, FileAuditSink } from './audit/log';
import { Decision, decide } from './policy/decide';
import { describeExpression } from './policy/describe';
import { TokenVerifier, principalFrom } from './identity/verify';

export interface Logger {
  info(message: string): void;
  error(message: string): void;
}

interface Snapshot {
  config: WardenConfig;
  catalog: Catalog;
  verifier: TokenVerifier;
}

export class WardenService {
  private watcher?: FSWatcher;
  private reloadTimer?: NodeJS.Timeout;
  private reloading: Promise<void> = Promise.resolve();

  private constructor(
    private snapshot: Snapshot,
    readonly engine: QueryEngine,
    readonly audit: AuditSink,
    private readonly logger: Logger
  ) {}

  /** Loads the config directory; throws ConfigError (file, line, problem) if anything is wrong. */
  static async start(configDir: string, logger: Logger): Promise<WardenService> {
    const config = loadConfig(configDir);
    const audit = new FileAuditSink(config.settings.auditPath);
    await audit.open();
    const engine = await DuckDBEngine.create(config.settings.auditPath);
    try {
      const snapshot = await WardenService.prepare(config, engine);
      return new WardenService(snapshot, engine, audit, logger);
    } catch (error) {
      await engine.close();
      await audit.close();
      throw error;
    }
  }

  private static async prepare(config: WardenConfig, engine: QueryEngine): Promise<Snapshot> {
    const catalog = await Catalog.build(config.datasets, engine);
    return { config, catalog, verifier: new TokenVerifier(config.settings.identity) };
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
      try {
        const config = loadConfig(this.config.settings.configDir);
        this.snapshot = await WardenService.prepare(config, this.engine);
        this.logger.info(`config reloaded: ${this.catalog.size} datasets, ${config.policies.length} policies`);
      } catch (error) {
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

  compile(dataset: CatalogDataset, decision: Decision, plan: ScanPlan): CompiledScan {
    return compileScan(decision, dataset.columns, plan, this.engine.dialect, this.maskKeys(dataset.config.name), params =>
      this.engine.relation(dataset.config.source, params)
    );
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
    await this.engine.close();
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
