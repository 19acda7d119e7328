/** The catalog: configured datasets with the schema read from their sources, and search over them. */
import { CatalogPage, DatasetSummary, MASK_INDICATOR_PREFIX, Principal } from '../../common/api';
import { ConfigError } from '../config/yaml-file';
import { DatasetConfig } from '../config/types';
import { QueryEngine } from '../engine/engine';
import { EngineRegistry } from '../engine/registry';
import { SourceColumn } from '../engine/source';
import { Decision, DatasetFacts, decide, globMatches, policyAppliesTo } from '../policy/decide';
import { DatasetSelector, Policy } from '../policy/types';

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
  /** The datasets each dataset selector picks, found once per selector (as JSON: policies share selectors). */
  private readonly selected = new Map<string, CatalogDataset[]>();
  /** Names in order, for the datasets a name pattern's literal prefix can reach. */
  private readonly sortedNames: string[];
  private readonly byTag = new Map<string, CatalogDataset[]>();
  private readonly columnKeys = new WeakMap<CatalogDataset, string>();

  private constructor(
    private readonly datasets: Map<string, CatalogDataset>,
    /** Datasets whose source could not be read at this load, described by the last good one. */
    readonly unreadable: readonly { dataset: string; reason: string }[] = []
  ) {
    this.sortedNames = [...datasets.keys()].sort();
    for (const dataset of datasets.values()) {
      for (const tag of dataset.facts.tags) {
        const tagged = this.byTag.get(tag);
        if (tagged) tagged.push(dataset);
        else this.byTag.set(tag, [dataset]);
      }
    }
  }

  /**
   * Reads every source's schema; a declared column the source lacks, or a reserved column name,
   * is a config error. So is a source that cannot be read, but for a reload (`previous`): there a
   * dataset whose source is unchanged keeps the schema it was last read with (its reads fail,
   * audited, until the source is readable), so that one broken file cannot hold back a change
   * elsewhere, such as an urgent deny.
   */
  static async build(configs: DatasetConfig[], engines: Pick<EngineRegistry, 'engineFor'>, previous?: Catalog): Promise<Catalog> {
    const unreadable: { dataset: string; reason: string }[] = [];
    // Read in parallel, reported in file order: the first failing dataset is named, whichever fails first.
    const settled = await Promise.allSettled(
      configs.map(async config => {
        const cannotRead = (error: unknown) => new ConfigError(config.origin.file, config.origin.line, `dataset ${config.name}: cannot read source: ${(error as Error).message}`);
        let engine: QueryEngine;
        let sourceColumns: SourceColumn[];
        try {
          engine = engines.engineFor(config.source);
        } catch (error) {
          throw cannotRead(error);
        }
        try {
          sourceColumns = await engine.describe(config.source);
        } catch (error) {
          const known = previous?.get(config.name);
          if (!known || JSON.stringify(known.config.source) !== JSON.stringify(config.source)) throw cannotRead(error);
          sourceColumns = known.columns.map(({ name, type }) => ({ name, type }));
          unreadable.push({ dataset: config.name, reason: (error as Error).message });
        }
        const reserved = sourceColumns.find(column => column.name.startsWith(MASK_INDICATOR_PREFIX));
        if (reserved) {
          throw new ConfigError(
            config.origin.file,
            config.origin.line,
            `dataset ${config.name}: column "${reserved.name}" starts with ${MASK_INDICATOR_PREFIX}, which Warden reserves for its mask indicator columns: rename it in the source`
          );
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
        const unordered = config.orderBy.find(key => !present.has(key.column));
        if (unordered) {
          throw new ConfigError(config.origin.file, config.origin.line, `dataset ${config.name}: order_by names column "${unordered.column}", which is not in the source (it has: ${[...present].join(', ')})`);
        }
        const declared = new Map(config.columns.map(column => [column.name, column]));
        const columns = sourceColumns.map(column => ({
          ...column,
          tags: declared.get(column.name)?.tags ?? [],
          description: declared.get(column.name)?.description ?? ''
        }));
        const facts = { name: config.name, tags: config.tags, columns: columns.map(({ name, tags, type }) => ({ name, tags, type, family: engine.dialect.familyOf(type) })) };
        return [config.name, { config, engine, columns, facts }] as const;
      })
    );
    const failed = settled.find(outcome => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    const entries = settled.map(outcome => (outcome as PromiseFulfilledResult<readonly [string, CatalogDataset]>).value);
    return new Catalog(new Map(entries), unreadable);
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
      visible = this.decideVisible(principal, policies.filter(policy => policyAppliesTo(policy, principal)));
      visible.sort((a, b) => a.summary.name.localeCompare(b.summary.name));
      if (byPrincipal.size >= MAX_CACHED_PRINCIPALS) byPrincipal.delete(byPrincipal.keys().next().value!);
      byPrincipal.set(key, visible);
    }
    return visible;
  }

  /**
   * The datasets a principal may see, given the policies that apply to them. Only a dataset
   * that one of their grants selects can be visible, so no other is decided. And a decision
   * depends on the principal, the policies that select the dataset and its columns, not on
   * its name: datasets alike in those share one decision (and the columns it leaves visible).
   */
  private decideVisible(principal: Principal, applicable: Policy[]): VisibleDataset[] {
    const candidates = new Set<CatalogDataset>();
    for (const policy of applicable) {
      if (policy.effect === 'grant') this.selectedBy(policy.datasets).forEach(dataset => candidates.add(dataset));
    }
    if (candidates.size === 0) return [];
    // Group the candidates by the policies that select them, in policy order: each policy
    // splits the groups of the datasets it selects (group ids are numbers, no list per dataset).
    const groupOf = new Map<CatalogDataset, number>();
    const split = new Map<number, number>();
    let groups = 1;
    applicable.forEach((policy, id) => {
      for (const dataset of this.selectedBy(policy.datasets)) {
        if (!candidates.has(dataset)) continue;
        const from = groupOf.get(dataset) ?? 0;
        const step = from * applicable.length + id;
        let to = split.get(step);
        if (to === undefined) split.set(step, (to = groups++));
        groupOf.set(dataset, to);
      }
    });
    const shared = new Map<string, { decision: Decision; columns: VisibleColumns } | null>();
    const visible: VisibleDataset[] = [];
    for (const dataset of candidates) {
      const key = `${groupOf.get(dataset)}|${this.columnsKey(dataset)}`;
      let alike = shared.get(key);
      if (alike === undefined) {
        const decision = decide(principal, dataset.facts, applicable);
        alike = decision.allowed ? { decision, columns: visibleColumns(dataset, decision) } : null;
        shared.set(key, alike);
      }
      if (!alike) continue;
      const summary = summaryOf(dataset, alike.columns);
      const tags = [...new Set([...summary.tags, ...summary.columnTags])];
      const text = [summary.name, summary.description, ...summary.columnNames, ...tags].join('\n').toLowerCase();
      visible.push({ summary, tags, text });
    }
    return visible;
  }

  /** The dataset's columns and their tags, as a key: what a decision reads of them. */
  private columnsKey(dataset: CatalogDataset): string {
    let key = this.columnKeys.get(dataset);
    if (key === undefined) {
      key = JSON.stringify(dataset.facts.columns);
      this.columnKeys.set(dataset, key);
    }
    return key;
  }

  /** The datasets a selector picks (as `datasetMatches` would, without testing every dataset). */
  private selectedBy(selector: DatasetSelector): CatalogDataset[] {
    const key = JSON.stringify([selector.names, selector.tags]);
    let picked = this.selected.get(key);
    if (picked) return picked;
    const found = new Set<CatalogDataset>();
    for (const pattern of selector.names ?? []) {
      const wildcard = pattern.search(/[*?]/);
      if (wildcard < 0) {
        const dataset = this.datasets.get(pattern);
        if (dataset) found.add(dataset);
        continue;
      }
      // Only names starting with the pattern's literal prefix can match it.
      const prefix = pattern.slice(0, wildcard);
      const names = this.sortedNames;
      for (let at = lowerBound(names, prefix); at < names.length && names[at].startsWith(prefix); at++) {
        if (globMatches(pattern, names[at])) found.add(this.datasets.get(names[at])!);
      }
    }
    for (const tag of selector.tags ?? []) this.byTag.get(tag)?.forEach(dataset => found.add(dataset));
    picked = [...found];
    this.selected.set(key, picked);
    return picked;
  }
}

/** The first position in sorted `names` whose name is not below `prefix`. */
function lowerBound(names: string[], prefix: string): number {
  let low = 0;
  let high = names.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (names[middle] < prefix) low = middle + 1;
    else high = middle;
  }
  return low;
}

type VisibleColumns = Pick<DatasetSummary, 'columnNames' | 'columnTags'>;

/** The names and tags of the columns a decision leaves visible (not hidden). */
function visibleColumns(dataset: CatalogDataset, decision: Decision): VisibleColumns {
  const hidden = new Set(decision.columns.filter(column => column.mask?.type === 'hide').map(column => column.name));
  const visible = dataset.columns.filter(column => !hidden.has(column.name));
  return { columnNames: visible.map(column => column.name), columnTags: [...new Set(visible.flatMap(column => column.tags))].sort() };
}

function summaryOf(dataset: CatalogDataset, columns: VisibleColumns): DatasetSummary {
  const { name, database, table, description, owner, tags } = dataset.config;
  return { name, database, table, description, owner, tags, ...columns };
}

export function summarise(dataset: CatalogDataset, decision: Decision): DatasetSummary {
  return summaryOf(dataset, visibleColumns(dataset, decision));
}
