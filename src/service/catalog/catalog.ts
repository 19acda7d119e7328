/** The catalog: configured datasets with the schema read from their sources, and search over them. */
import { CatalogPage, DatasetSummary, Principal } from '../../common/api';
import { ConfigError } from '../config/yaml-file';
import { DatasetConfig, Policy } from '../config/types';
import { SourceColumn } from '../engine/compile';
import { EngineSelector, QueryEngine } from '../engine/engine';
import { Decision, DatasetFacts, decide, policyAppliesTo } from '../policy/decide';

export interface CatalogColumn extends SourceColumn {
  tags: string[];
  description: string;
}

export interface CatalogDataset {
  config: DatasetConfig;
  /** The engine that reads this dataset's source: compiled scans run there. */
  engine: QueryEngine;
  columns: CatalogColumn[];
  facts: DatasetFacts;
}

export interface CatalogQuery {
  q?: string;
  tag?: string;
  database?: string;
}

interface VisibleDataset {
  summary: DatasetSummary;
  /** Dataset and column tags. */
  tags: string[];
  /** Lower-cased name, description, column names and tags. */
  text: string;
}

/** Principals whose view is kept; the oldest is dropped first. */
const MAX_CACHED_PRINCIPALS = 1000;

export class Catalog {
  private readonly visible = new WeakMap<readonly Policy[], Map<string, VisibleDataset[]>>();

  private constructor(private readonly datasets: Map<string, CatalogDataset>) {}

  /** Reads every source's schema; a declared column the source lacks is a config error. */
  static async build(configs: DatasetConfig[], engines: EngineSelector): Promise<Catalog> {
    const entries = await Promise.all(
      configs.map(async config => {
        let engine: QueryEngine;
        let sourceColumns: SourceColumn[];
        try {
          engine = engines.engineFor(config.source);
          sourceColumns = await engine.describe(config.source);
        } catch (error) {
          throw new ConfigError(config.origin.file, config.origin.line, `dataset ${config.name}: cannot read source: ${(error as Error).message}`);
        }
        const present = new Set(sourceColumns.map(column => column.name));
        const missing = config.columns.find(column => !present.has(column.name));
        if (missing) {
          throw new ConfigError(
            config.origin.file,
            config.origin.line,
            `dataset ${config.name}: column "${missing.name}" is not in the source (it has: ${[...present].join(', ')})`
          );
        }
        const declared = new Map(config.columns.map(column => [column.name, column]));
        const columns = sourceColumns.map(column => ({
          ...column,
          tags: declared.get(column.name)?.tags ?? [],
          description: declared.get(column.name)?.description ?? ''
        }));
        const facts = { name: config.name, tags: config.tags, columns: columns.map(({ name, tags }) => ({ name, tags })) };
        return [config.name, { config, engine, columns, facts }] as const;
      })
    );
    return new Catalog(new Map(entries));
  }

  get size(): number {
    return this.datasets.size;
  }

  get(name: string): CatalogDataset | undefined {
    return this.datasets.get(name);
  }

  /** Datasets the principal may access that match the query, with what they would see. */
  search(principal: Principal, policies: readonly Policy[], query: CatalogQuery): CatalogPage {
    const needle = query.q?.trim().toLowerCase();
    const tags = new Set<string>();
    const datasets: DatasetSummary[] = [];
    for (const visible of this.visibleTo(principal, policies)) {
      const { summary } = visible;
      if (query.database && summary.database !== query.database) continue;
      visible.tags.forEach(tag => tags.add(tag));
      if (query.tag && !visible.tags.includes(query.tag)) continue;
      if (needle && !visible.text.includes(needle)) continue;
      datasets.push(summary);
    }
    return { datasets, tags: [...tags].sort() };
  }

  /**
   * What a principal may see, sorted by name, with its search text. Computed once per
   * principal and policy set (a reload builds a new catalog), so a search is a scan of
   * precomputed text, not a policy decision per dataset.
   */
  private visibleTo(principal: Principal, policies: readonly Policy[]): VisibleDataset[] {
    let byPrincipal = this.visible.get(policies);
    if (!byPrincipal) {
      byPrincipal = new Map();
      this.visible.set(policies, byPrincipal);
    }
    const key = JSON.stringify([principal.user, [...principal.groups].sort(), principal.attributes]);
    let visible = byPrincipal.get(key);
    if (!visible) {
      // Only the policies that apply to this principal can matter for any dataset.
      const applicable = policies.filter(policy => policyAppliesTo(policy, principal));
      visible = [];
      for (const dataset of this.datasets.values()) {
        const decision = decide(principal, dataset.facts, applicable);
        if (!decision.allowed) continue;
        const summary = summarise(dataset, decision);
        const tags = [...new Set([...summary.tags, ...summary.columnTags])];
        const text = [summary.name, summary.description, ...summary.columnNames, ...tags].join('\n').toLowerCase();
        visible.push({ summary, tags, text });
      }
      visible.sort((a, b) => a.summary.name.localeCompare(b.summary.name));
      if (byPrincipal.size >= MAX_CACHED_PRINCIPALS) byPrincipal.delete(byPrincipal.keys().next().value!);
      byPrincipal.set(key, visible);
    }
    return visible;
  }
}

export function summarise(dataset: CatalogDataset, decision: Decision): DatasetSummary {
  const hidden = new Set(decision.columns.filter(column => column.mask?.type === 'hide').map(column => column.name));
  const visible = dataset.columns.filter(column => !hidden.has(column.name));
  const { name, database, table, description, owner, tags } = dataset.config;
  return {
    name,
    database,
    table,
    description,
    owner,
    tags,
    columnNames: visible.map(column => column.name),
    columnTags: [...new Set(visible.flatMap(column => column.tags))].sort()
  };
}
