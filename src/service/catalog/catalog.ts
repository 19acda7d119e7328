/** The catalog: configured datasets with the schema read from their sources, and search over them. */
import { CatalogPage, DatasetSummary, Principal } from '../../common/api';
import { ConfigError } from '../config/yaml-file';
import { DatasetConfig, Policy } from '../config/types';
import { SourceColumn } from '../engine/compile';
import { EngineSelector, QueryEngine } from '../engine/engine';
import { Decision, DatasetFacts, decide } from '../policy/decide';

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

export class Catalog {
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
    const datasets: DatasetSummary[] = [];
    const tags = new Set<string>();
    for (const dataset of this.datasets.values()) {
      if (query.database && dataset.config.database !== query.database) continue;
      const decision = decide(principal, dataset.facts, policies);
      if (!decision.allowed) continue;
      const summary = summarise(dataset, decision);
      const allTags = [...summary.tags, ...summary.columnTags];
      allTags.forEach(tag => tags.add(tag));
      if (query.tag && !allTags.includes(query.tag)) continue;
      if (needle && !matchesText(summary, needle)) continue;
      datasets.push(summary);
    }
    datasets.sort((a, b) => a.name.localeCompare(b.name));
    return { datasets, tags: [...tags].sort() };
  }
}

function matchesText(summary: DatasetSummary, needle: string): boolean {
  return [summary.name, summary.description, ...summary.columnNames, ...summary.tags, ...summary.columnTags].some(text =>
    text.toLowerCase().includes(needle)
  );
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
