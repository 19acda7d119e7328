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
  /**
   * Every dataset in the order searches list them (names as `localeCompare` orders them). The
   * indexes below hold positions in this list, so datasets taken by position are sorted by name.
   */
  private readonly ordered: CatalogDataset[];
  private readonly positionOf = new Map<string, number>();
  /** Per position, what a listing shows whatever the principal: read in order, not through each dataset's objects. */
  private readonly heads: DatasetHead[];
  /** Per position, the lower-cased name and description, where the dataset's search text starts. */
  private readonly headText: string[];
  /** Per position, an id shared by datasets whose columns are alike (names, tags, types): what a decision reads of them. */
  private readonly columnKinds: Kinds;
  /** Per position, an id shared by datasets with the same tags: what their listing adds to the visible columns. */
  private readonly tagKinds: Kinds;
  /** Names in code-unit order, with their positions: the datasets a name pattern's literal prefix can reach. */
  private readonly sortedNames: string[];
  private readonly sortedPositions: Int32Array;
  private readonly byTag = new Map<string, number[]>();
  /** The positions each dataset selector picks, ascending, found once per selector (as JSON: policies share selectors). */
  private readonly selected = new Map<string, Int32Array>();

  private constructor(private readonly datasets: Map<string, CatalogDataset>) {
    this.ordered = [...datasets.values()].sort((a, b) => a.config.name.localeCompare(b.config.name));
    this.ordered.forEach((dataset, position) => {
      this.positionOf.set(dataset.config.name, position);
      for (const tag of dataset.facts.tags) {
        const tagged = this.byTag.get(tag);
        if (tagged) tagged.push(position);
        else this.byTag.set(tag, [position]);
      }
    });
    this.heads = this.ordered.map(dataset => headOf(dataset.config));
    this.headText = this.ordered.map(dataset => [dataset.config.name, dataset.config.description].join('\n').toLowerCase());
    this.columnKinds = kindsOf(this.ordered.map(dataset => JSON.stringify(dataset.facts.columns)));
    this.tagKinds = kindsOf(this.ordered.map(dataset => JSON.stringify(dataset.config.tags)));
    this.sortedNames = [...datasets.keys()].sort();
    this.sortedPositions = Int32Array.from(this.sortedNames, name => this.positionOf.get(name)!);
  }

  /** Reads every source's schema; a declared column the source lacks, or a reserved column name, is a config error. */
  static async build(configs: DatasetConfig[], engines: Pick<EngineRegistry, 'engineFor'>): Promise<Catalog> {
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
      visible = this.decideVisible(principal, policies.filter(policy => policyAppliesTo(policy, principal)));
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
    // Per position, 0 for a dataset no grant selects; else the id of the policies that select
    // it, found in policy order: each policy splits the groups of the datasets it selects.
    const group = new Int32Array(this.ordered.length);
    let candidates = 0;
    for (const policy of applicable) {
      if (policy.effect !== 'grant') continue;
      for (const position of this.selectedBy(policy.datasets)) {
        if (group[position] === 0) {
          group[position] = 1;
          candidates++;
        }
      }
    }
    if (candidates === 0) return [];
    const split = new Map<number, number>();
    let groups = 2;
    applicable.forEach((policy, id) => {
      for (const position of this.selectedBy(policy.datasets)) {
        const from = group[position];
        if (from === 0) continue;
        const step = from * applicable.length + id;
        let to = split.get(step);
        if (to === undefined) split.set(step, (to = groups++));
        group[position] = to;
      }
    });
    // Decided once per group and kind of columns; listed once per decision and kind of dataset tags.
    const alikes = new Map<number, Alike | null>();
    const listings = new Map<number, Listing>();
    const visible: VisibleDataset[] = [];
    for (let position = 0; position < group.length; position++) {
      if (group[position] === 0) continue;
      const dataset = this.ordered[position];
      const alikeKey = group[position] * this.columnKinds.size + this.columnKinds.ids[position];
      let alike = alikes.get(alikeKey);
      if (alike === undefined) {
        const decision = decide(principal, dataset.facts, applicable);
        alike = decision.allowed ? { id: alikes.size, columns: visibleColumns(dataset, decision) } : null;
        alikes.set(alikeKey, alike);
      }
      if (!alike) continue;
      const listingKey = alike.id * this.tagKinds.size + this.tagKinds.ids[position];
      let listing = listings.get(listingKey);
      if (!listing) listings.set(listingKey, (listing = listingOf(dataset.config.tags, alike.columns)));
      visible.push({ summary: summaryOf(this.heads[position], alike.columns), tags: listing.tags, text: this.headText[position] + listing.text });
    }
    return visible;
  }

  /** The positions of the datasets a selector picks (as `datasetMatches` would, without testing every dataset). */
  private selectedBy(selector: DatasetSelector): Int32Array {
    const key = JSON.stringify([selector.names, selector.tags]);
    let picked = this.selected.get(key);
    if (picked) return picked;
    const found: number[] = [];
    for (const pattern of selector.names ?? []) {
      const wildcard = pattern.search(/[*?]/);
      if (wildcard < 0) {
        const position = this.positionOf.get(pattern);
        if (position !== undefined) found.push(position);
        continue;
      }
      // Only names starting with the pattern's literal prefix can match it.
      const prefix = pattern.slice(0, wildcard);
      const names = this.sortedNames;
      for (let at = lowerBound(names, prefix); at < names.length && names[at].startsWith(prefix); at++) {
        if (globMatches(pattern, names[at])) found.push(this.sortedPositions[at]);
      }
    }
    for (const tag of selector.tags ?? []) for (const position of this.byTag.get(tag) ?? []) found.push(position);
    const sorted = Int32Array.from(found).sort();
    picked = sorted.filter((position, at) => at === 0 || position !== sorted[at - 1]);
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

/** Ids for values, equal values sharing one: `ids[i]` is below `size`. */
interface Kinds {
  ids: Int32Array;
  size: number;
}

function kindsOf(values: string[]): Kinds {
  const known = new Map<string, number>();
  const ids = Int32Array.from(values, value => {
    let id = known.get(value);
    if (id === undefined) known.set(value, (id = known.size));
    return id;
  });
  return { ids, size: known.size };
}

/** A decision that datasets alike in policies and columns share. */
interface Alike {
  id: number;
  columns: VisibleColumns;
}

/** What a dataset's entry adds to its name and description, shared by datasets with the same tags and decision. */
interface Listing {
  /** Dataset and visible column tags. */
  tags: string[];
  /** The visible column names and the tags, each on a line of its own, lower-cased. */
  text: string;
}

function listingOf(datasetTags: string[], columns: VisibleColumns): Listing {
  const tags = [...new Set([...datasetTags, ...columns.columnTags])];
  return { tags, text: [...columns.columnNames, ...tags].map(value => `\n${value}`).join('').toLowerCase() };
}

/** The names and tags of the columns a decision leaves visible (not hidden). */
function visibleColumns(dataset: CatalogDataset, decision: Decision): VisibleColumns {
  const hidden = new Set(decision.columns.filter(column => column.mask?.type === 'hide').map(column => column.name));
  const visible = dataset.columns.filter(column => !hidden.has(column.name));
  return { columnNames: visible.map(column => column.name), columnTags: [...new Set(visible.flatMap(column => column.tags))].sort() };
}

/** What a listing shows of a dataset whatever the principal: all but the columns they may see. */
type DatasetHead = Omit<DatasetSummary, 'columnNames' | 'columnTags'>;

function headOf({ name, database, table, description, owner, tags }: DatasetConfig): DatasetHead {
  return { name, database, table, description, owner, tags };
}

function summaryOf(head: DatasetHead, columns: VisibleColumns): DatasetSummary {
  const { name, database, table, description, owner, tags } = head;
  return { name, database, table, description, owner, tags, columnNames: columns.columnNames, columnTags: columns.columnTags };
}

export function summarise(dataset: CatalogDataset, decision: Decision): DatasetSummary {
  return summaryOf(headOf(dataset.config), visibleColumns(dataset, decision));
}
