import {
  Field,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableToIPC,
  vectorFromArray,
  type DataType
} from 'apache-arrow';

import type {
  CatalogPage,
  DatasetDetail,
  DatasetSummary,
  Health,
  Principal,
  RowCount,
  Snippet,
  SnippetFlavour,
  ViewVersions
} from '../../common/api';
import { ServiceConnection } from '../connection';
import { WardenRequestError } from '../handler';
import type { IPreviewRequest, IWardenClient } from '../tokens';

export function summary(
  name: string,
  extra: Partial<DatasetSummary> = {}
): DatasetSummary {
  const [database, table] = name.split('.');
  return {
    name,
    database,
    table,
    description: '',
    owner: 'owner@example.com',
    tags: [],
    columnNames: [],
    columnTags: [],
    ...extra
  };
}

export const CATALOG: CatalogPage = {
  datasets: [
    summary('drug_xyz.trial_july2020', {
      description: 'Phase III trial of XYZ, July 2020 cohort',
      tags: ['clinical', 'phase3'],
      columnNames: ['patient_id', 'ssn', 'country', 'arm', 'adverse_events'],
      columnTags: ['pii.direct']
    }),
    summary('drug_xyz.adverse_events', {
      description: 'Adverse events reported during trials',
      tags: ['clinical'],
      columnNames: ['event_id', 'patient_id', 'severity']
    }),
    summary('sales.orders', {
      description: 'Orders by customer and region',
      tags: ['finance'],
      columnNames: ['order_id', 'customer_email', 'amount'],
      columnTags: ['pii.contact']
    }),
    summary('warden.audit_log', {
      description: 'Who read what, when',
      tags: ['audit'],
      columnNames: ['time', 'user', 'dataset']
    })
  ],
  tags: ['phase3', 'clinical', 'finance', 'audit', 'pii.direct', 'pii.contact']
};

export const TRIAL_DETAIL: DatasetDetail = {
  ...CATALOG.datasets[0],
  defaultOrder: [],
  version: 'v1',
  policies: [
    'analysts-read-clinical',
    'analysts-own-region',
    'mask-direct-pii'
  ],
  rowFilter: {
    policies: ['analysts-own-region'],
    description: "rows where country = 'US'"
  },
  columns: [
    {
      name: 'patient_id',
      type: 'VARCHAR',
      sourceType: 'VARCHAR',
      description: '',
      tags: [],
      effect: { access: 'clear', description: 'clear', cellMasks: [] }
    },
    {
      name: 'ssn',
      type: 'VARCHAR',
      sourceType: 'VARCHAR',
      description: 'US social security number',
      tags: ['pii.direct'],
      effect: {
        access: 'masked',
        mask: { type: 'hash' },
        description: 'keyed SHA-256 hash',
        policy: 'mask-direct-pii',
        reason: 'tag pii.direct',
        cellMasks: []
      }
    },
    {
      name: 'birth_date',
      type: 'DATE',
      sourceType: 'DATE',
      description: '',
      tags: ['pii.quasi'],
      effect: {
        access: 'hidden',
        mask: { type: 'hide' },
        description: 'hidden',
        policy: 'hide-quasi',
        reason: 'tag pii.quasi',
        cellMasks: []
      }
    },
    {
      name: 'adverse_events',
      type: 'VARCHAR',
      sourceType: 'VARCHAR',
      description: '',
      tags: [],
      effect: {
        access: 'clear',
        description: 'clear except where a cell mask applies',
        cellMasks: [
          {
            policy: 'redact-placebo-adverse-events',
            mask: { type: 'redact', value: '[withheld]' },
            description: "replaced by '[withheld]'",
            condition: "arm = 'placebo'"
          }
        ]
      }
    }
  ]
};

/**
 * The trial after a policy deploy: ssn in the clear, no adverse events withheld, all rows
 * (the other columns as before).
 */
export const TRIAL_DETAIL_V2: DatasetDetail = {
  ...TRIAL_DETAIL,
  version: 'v2',
  policies: ['analysts-read-clinical'],
  rowFilter: null,
  columns: TRIAL_DETAIL.columns.map(column =>
    column.name === 'ssn' || column.name === 'adverse_events'
      ? {
          ...column,
          effect: { access: 'clear', description: 'clear', cellMasks: [] }
        }
      : column
  )
};

/** A client answering from fixtures, recording what it was asked. */
export class FakeClient implements IWardenClient {
  calls: string[] = [];
  catalog: CatalogPage = CATALOG;
  catalogError: Error | null = null;
  details = new Map<string, DatasetDetail>([[TRIAL_DETAIL.name, TRIAL_DETAIL]]);
  table: Table | null = null;
  rowCount: RowCount | Error = {
    dataset: 'drug_xyz.trial_july2020',
    rows: 1234,
    capped: false
  };
  /** The pushes of the open view stream; `endViews()` ends it. */
  private _views: (ViewVersions | null)[] = [];
  private _viewsWaiting: (() => void) | null = null;
  viewStreams = 0;
  /** Set: the view stream cannot be opened. */
  viewsError: Error | null = null;
  snippetCode = 'import warden\ndf = warden.connect().scan_as_pandas("x")';
  readonly connection = new ServiceConnection({ probe: () => this.health() });

  async health(): Promise<Health> {
    this.calls.push('health');
    return { status: 'ok', version: '0', audit: 'ok', engines: 'ok' };
  }

  async whoami(): Promise<Principal> {
    this.calls.push('whoami');
    return {
      user: 'alice',
      groups: ['analysts'],
      attributes: { region: 'US' }
    };
  }

  async listDatasets(): Promise<CatalogPage> {
    this.calls.push('datasets');
    if (this.catalogError) {
      throw this.catalogError;
    }
    return this.catalog;
  }

  async getDataset(name: string): Promise<DatasetDetail> {
    this.calls.push(`dataset:${name}`);
    const detail = this.details.get(name);
    if (!detail) {
      throw notFound(name);
    }
    return detail;
  }

  async preview(name: string, request: IPreviewRequest): Promise<Table> {
    const order = request.orderBy?.length ? `:${request.orderBy.join(',')}` : '';
    this.calls.push(`preview:${name}:${request.limit}${order}`);
    if (!this.details.has(name)) {
      throw notFound(name);
    }
    if (!this.table) {
      throw new Error('no preview');
    }
    return this.table;
  }

  async count(name: string): Promise<RowCount> {
    this.calls.push(`count:${name}`);
    if (this.rowCount instanceof Error) {
      throw this.rowCount;
    }
    return this.rowCount;
  }

  /** The service pushes `views` on the open stream. */
  pushViews(views: ViewVersions): void {
    this._views.push(views);
    this._viewsWaiting?.();
  }

  /** The service ends the open stream (its credential expired, say). */
  endViews(): void {
    this._views.push(null);
    this._viewsWaiting?.();
  }

  async *views(signal: AbortSignal): AsyncGenerator<ViewVersions> {
    this.calls.push('views');
    this.viewStreams++;
    if (this.viewsError) {
      throw this.viewsError;
    }
    while (!signal.aborted) {
      const next = this._views.shift();
      if (next === null) {
        return;
      }
      if (next) {
        yield next;
        continue;
      }
      await new Promise<void>(resolve => {
        this._viewsWaiting = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }

  async snippet(name: string, flavour: SnippetFlavour): Promise<Snippet> {
    this.calls.push(`snippet:${name}:${flavour}`);
    return {
      dataset: name,
      flavour,
      language: 'python',
      code: this.snippetCode
    };
  }
}

/** What the service answers for a dataset that does not exist or is not shared with the caller. */
function notFound(name: string): WardenRequestError {
  return new WardenRequestError('not_found', `dataset "${name}" not found`, 404);
}

export interface IColumnSpec {
  name: string;
  type: DataType;
  values: unknown[];
  metadata?: Record<string, string>;
}

/** Arrow IPC stream bytes, as the service sends them, with Warden metadata. */
export function arrowStream(
  columns: IColumnSpec[],
  schemaMetadata: Record<string, string> = {}
): Uint8Array {
  const vectors = columns.map(column =>
    vectorFromArray(column.values, column.type)
  );
  const fields = columns.map(
    (column, index) =>
      new Field(
        column.name,
        vectors[index].type,
        true,
        new Map(Object.entries(column.metadata ?? {}))
      )
  );
  const schema = new Schema(fields, new Map(Object.entries(schemaMetadata)));
  const length = columns[0]?.values.length ?? 0;
  const batch = new RecordBatch(
    schema,
    makeData({
      type: new Struct(fields),
      length,
      nullCount: 0,
      children: vectors.map(vector => vector.data[0])
    })
  );
  return tableToIPC(new Table(batch), 'stream');
}

/**
 * @jupyter/ydoc builds cells before they join their document, which recent
 * yjs reports on every insert (JupyterLab itself does the same). Drop those
 * warnings, keep any other.
 */
export function silenceYdocWarnings(): void {
  const warn = console.warn;
  jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    if (!/^(Invalid access: Add Yjs type|\[yjs#509\])/.test(String(args[0]))) {
      warn(...args);
    }
  });
}
