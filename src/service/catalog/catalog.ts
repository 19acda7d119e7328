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
  /** The lower-cased name and description: the start of the search text. */
  head: string;
  /** The tags and the rest of the search text, shared by datasets alike. */
  listing: Listing;
}

/** What a principal may see, sorted by name, and the tags of all of it. */
interface View {
  datasets: VisibleDataset[];
  tags: string[];
}

/** Principals whose view is kept; the oldest is dropped first. */
const MAX_CACHED_PRINCIPALS = 1000;

export class Catalog {
  private readonly visible = new WeakMap<readonly Policy[], Map<string, View>>();
  /**
   * Every dataset in the order searches list them (names as `localeCompare` orders them). The
   * indexes below hold positions in this list, so datasets taken by position are sorted by name.
   */
  private readonly ordered: CatalogDataset[];
  private readonly positionOf = new Map<string, number>();
  /**
   * Per position, the summary of the dataset with every column visible: what a principal whose
   * decision hides no column receives, shared, and read in order, not through each dataset's objects.
   */
  private readonly summaries: DatasetSummary[] = [];
  /** Per position, the lower-cased name and description, where the dataset's search text starts. */
  private readonly headText: string[] = [];
  /** Per position, an id shared by datasets whose columns are alike (names, tags, types): what a decision reads of them. */
  private readonly columnKinds: Kinds;
  /** Per position, an id shared by datasets with the same tags: what their listing adds to the visible columns. */
  private readonly tagKinds: Kinds;
  /** Names in code-unit order, with their positions: the datasets a name pattern's literal prefix can reach. */
  private readonly sortedNames: string[];
  private readonly sortedPositions: Int32Array;
  private readonly byTag = new Map<string, number[]>();
  /** The positions each dataset selector picks, found once per selector (as JSON: policies share selectors). */
  private readonly selected = new Map<string, readonly number[]>();

  private constructor(
    private readonly datasets: Map<string, CatalogDataset>,
    /** Datasets whose source could not be read at this load, described by the last good one. */
    readonly unreadable: readonly { dataset: string; reason: string }[] = []
  ) {
    // One pass over the datasets, in name order, reading each dataset's objects once.
    const names = [...datasets.keys()];
    this.sortedNames = [...names].sort();
    this.ordered = names.sort((a, b) => a.localeCompare(b)).map(name => datasets.get(name)!);
    const columnKeys = new Map<string, number>();
    const tagKeys = new Map<string, number>();
    const columnIds = new Int32Array(this.ordered.length);
    const tagIds = new Int32Array(this.ordered.length);
    const everyColumn: VisibleColumns[] = [];
    this.ordered.forEach(({ config, facts, columns }, position) => {
      this.positionOf.set(config.name, position);
      for (const tag of facts.tags) {
        const tagged = this.byTag.get(tag);
        if (tagged) tagged.push(position);
        else this.byTag.set(tag, [position]);
      }
      this.headText.push(`${config.name}\n${config.description}`.toLowerCase());
      columnIds[position] = idOf(columnKeys, columnsKey(facts.columns));
      tagIds[position] = idOf(tagKeys, JSON.stringify(config.tags));
      this.summaries.push(summaryOf(config, (everyColumn[columnIds[position]] ??= columnsOf(columns))));
    });
    this.columnKinds = { ids: columnIds, size: columnKeys.size };
    this.tagKinds = { ids: tagIds, size: tagKeys.size };
    this.sortedPositions = Int32Array.from(this.sortedNames, name => this.positionOf.get(name)!);
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
    const view = this.visibleTo(principal, policies);
    // The tags offered are those of the datasets in the database asked for, whatever the other filters.
    const tags = query.database ? new Set<string>() : undefined;
    const datasets: DatasetSummary[] = [];
    for (const { summary, head, listing } of view.datasets) {
      if (query.database) {
        if (summary.database !== query.database) continue;
        listing.tags.forEach(tag => tags!.add(tag));
      }
      if (query.tag && !listing.tags.includes(query.tag)) continue;
      if (needle && !holds(head, listing.text, needle)) continue;
      datasets.push(summary);
    }
    return { datasets, tags: tags ? [...tags].sort() : [...view.tags] };
  }

  /**
   * What a principal may see, sorted by name, with its search text. Computed once per
   * principal and policy set (a reload builds a new catalog), so a search is a scan of
   * precomputed text, not a policy decision per dataset.
   */
  private visibleTo(principal: Principal, policies: readonly Policy[]): View {
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
  private decideVisible(principal: Principal, applicable: Policy[]): View {
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
    if (candidates === 0) return { datasets: [], tags: [] };
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
    // (Keys combine ids by multiplication: groups, kinds and decisions number at most datasets x
    // policies, so the products stay far below 2^53, exact.)
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
        alike = decision.allowed ? { id: alikes.size, columns: hiddenColumns(decision).size ? visibleColumns(dataset, decision) : undefined } : null;
        alikes.set(alikeKey, alike);
      }
      if (!alike) continue;
      const summary = alike.columns ? summaryOf(this.summaries[position], alike.columns) : this.summaries[position];
      const listingKey = alike.id * this.tagKinds.size + this.tagKinds.ids[position];
      let listing = listings.get(listingKey);
      if (!listing) listings.set(listingKey, (listing = listingOf(summary)));
      visible.push({ summary, head: this.headText[position], listing });
    }
    return { datasets: visible, tags: [...new Set([...listings.values()].flatMap(listing => listing.tags))].sort() };
  }

  /** The positions of the datasets a selector picks (as `datasetMatches` would, without testing every dataset). */
  private selectedBy(selector: DatasetSelector): readonly number[] {
    const key = JSON.stringify([selector.names, selector.tags]);
    let picked = this.selected.get(key);
    if (picked) return picked;
    // Each part lists a dataset once; only a union of parts can list it twice.
    const parts = [...(selector.names ?? []).map(pattern => this.namedBy(pattern)), ...(selector.tags ?? []).map(tag => this.byTag.get(tag) ?? [])];
    picked = parts.length === 1 ? parts[0] : [...new Set(parts.flat())];
    this.selected.set(key, picked);
    return picked;
  }

  /** The positions of the datasets whose name a name or pattern matches. */
  private namedBy(pattern: string): number[] {
    const wildcard = pattern.search(/[*?]/);
    if (wildcard < 0) {
      const position = this.positionOf.get(pattern);
      return position === undefined ? [] : [position];
    }
    // Only names starting with the pattern's literal prefix can match it; all of them do if its
    // only wildcard is a final `*`.
    const prefix = pattern.slice(0, wildcard);
    const anyRest = wildcard === pattern.length - 1 && pattern.endsWith('*');
    const names = this.sortedNames;
    const found: number[] = [];
    for (let at = lowerBound(names, prefix); at < names.length && names[at].startsWith(prefix); at++) {
      if (anyRest || globMatches(pattern, names[at])) found.push(this.sortedPositions[at]);
    }
    return found;
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

/** Per position, an id shared by datasets alike in something, below `size`. */
interface Kinds {
  ids: Int32Array;
  size: number;
}

/**
 * A key equal for equal column lists (names, tags, types): each text prefixed with its length,
 * so that none can pass for two. (Half the time of JSON.stringify, at 100,000 datasets a build.)
 */
function columnsKey(columns: DatasetFacts['columns']): string {
  let key = '';
  const add = (text: string | undefined) => {
    key += text === undefined ? '-' : `${text.length}:${text}`;
  };
  for (const { name, type, family, tags } of columns) {
    add(name);
    add(type);
    add(family);
    key += `${tags.length}:`;
    tags.forEach(add);
  }
  return key;
}

/** The number for a key, from 0 in the order keys are first seen. */
function idOf(ids: Map<string, number>, key: string): number {
  let id = ids.get(key);
  if (id === undefined) ids.set(key, (id = ids.size));
  return id;
}

/** A decision that datasets alike in policies and columns share: the columns it leaves visible, if it hides any. */
interface Alike {
  id: number;
  columns?: VisibleColumns;
}

/** What a dataset's entry adds to its name and description, shared by datasets with the same tags and decision. */
interface Listing {
  /** Dataset and visible column tags. */
  tags: string[];
  /** The visible column names and the tags, each on a line of its own, lower-cased. */
  text: string;
}

/**
 * Whether a search text, a dataset's head then its listing's text, holds the needle: the
 * listing's text starts with a line break, so a needle without one lies in one of the two.
 */
function holds(head: string, rest: string, needle: string): boolean {
  return needle.includes('\n') ? (head + rest).includes(needle) : head.includes(needle) || rest.includes(needle);
}

function listingOf(summary: DatasetSummary): Listing {
  const tags = [...new Set([...summary.tags, ...summary.columnTags])];
  return { tags, text: [...summary.columnNames, ...tags].map(value => `\n${value}`).join('').toLowerCase() };
}

function hiddenColumns(decision: Decision): Set<string> {
  return new Set(decision.columns.filter(column => column.mask?.type === 'hide').map(column => column.name));
}

/** The names and tags of the columns a decision leaves visible (not hidden). */
function visibleColumns(dataset: CatalogDataset, decision: Decision): VisibleColumns {
  const hidden = hiddenColumns(decision);
  return columnsOf(dataset.columns.filter(column => !hidden.has(column.name)));
}

function columnsOf(columns: CatalogColumn[]): VisibleColumns {
  return { columnNames: columns.map(column => column.name), columnTags: [...new Set(columns.flatMap(column => column.tags))].sort() };
}

/** What a listing shows of a dataset whatever the principal: all but the columns they may see. */
type DatasetHead = Omit<DatasetSummary, 'columnNames' | 'columnTags'>;

function summaryOf(head: DatasetHead, columns: VisibleColumns): DatasetSummary {
  const { name, database, table, description, owner, tags } = head;
  return { name, database, table, description, owner, tags, columnNames: columns.columnNames, columnTags: columns.columnTags };
}

export function summarise(dataset: CatalogDataset, decision: Decision): DatasetSummary {
  return summaryOf(dataset.config, visibleColumns(dataset, decision));
}
