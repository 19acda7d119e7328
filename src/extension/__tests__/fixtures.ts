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
  Principal,
  Snippet,
  SnippetFlavour
} from '../../common/api';
import type { IWardenClient } from '../tokens';

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
      effect: { access: 'clear', description: '', cellMasks: [] }
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
        description: '',
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

/** A client answering from fixtures, recording what it was asked. */
export class FakeClient implements IWardenClient {
  calls: string[] = [];
  catalog: CatalogPage = CATALOG;
  catalogError: Error | null = null;
  details = new Map<string, DatasetDetail>([[TRIAL_DETAIL.name, TRIAL_DETAIL]]);
  table: Table | null = null;
  snippetCode = 'import warden\ndf = warden.connect().scan_as_pandas("x")';

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
      throw new Error(`no such dataset ${name}`);
    }
    return detail;
  }

  async preview(name: string, limit: number): Promise<Table> {
    this.calls.push(`preview:${name}:${limit}`);
    if (!this.table) {
      throw new Error('no preview');
    }
    return this.table;
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
    vectorFromArray(column.values as any[], column.type)
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
