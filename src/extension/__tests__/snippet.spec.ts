import { NotebookModel, type Notebook } from '@jupyterlab/notebook';
import { NBTestUtils } from '@jupyterlab/notebook/lib/testutils';
import { Widget } from '@lumino/widgets';

import {
  adaptSnippet,
  boundNames,
  importsWarden,
  insertCodeCell,
  looksLikeCredential,
  variableName
} from '../snippet';
import { silenceYdocWarnings } from './fixtures';

const CODE =
  'import warden\ndf = warden.connect().scan_as_pandas("drug_xyz.trial_july2020")';

describe('insertCodeCell', () => {
  let notebook: Notebook;

  beforeAll(silenceYdocWarnings);
  afterAll(() => jest.restoreAllMocks());

  function load(cells: { cell_type: 'code' | 'markdown'; source: string }[]) {
    const model = new NotebookModel();
    model.sharedModel.insertCells(0, cells);
    notebook.model = model;
  }

  beforeEach(() => {
    notebook = NBTestUtils.createNotebook();
    Widget.attach(notebook, document.body);
    load([
      { cell_type: 'markdown', source: '# Analysis' },
      { cell_type: 'code', source: 'x = 1' },
      { cell_type: 'code', source: 'y = 2' }
    ]);
  });

  afterEach(() => {
    notebook.model?.dispose();
    notebook.dispose();
  });

  const cells = () =>
    notebook.widgets.map(cell => [
      cell.model.type,
      cell.model.sharedModel.getSource()
    ]);

  it('adds a code cell below the active cell, and makes it active', () => {
    notebook.activeCellIndex = 1;
    const seen: unknown[] = [];
    insertCodeCell(notebook, around => {
      seen.push(around);
      return CODE;
    });
    expect(cells()).toEqual([
      ['markdown', '# Analysis'],
      ['code', 'x = 1'],
      ['code', CODE],
      ['code', 'y = 2']
    ]);
    expect(seen).toEqual([{ above: ['x = 1'], all: ['x = 1', 'y = 2'] }]);
    expect(notebook.activeCellIndex).toBe(2);
    expect(notebook.mode).toBe('command');
  });

  it('inserts code even below a markdown cell, when markdown is the default', () => {
    notebook.notebookConfig = {
      ...notebook.notebookConfig,
      defaultCell: 'markdown'
    };
    notebook.activeCellIndex = 0;
    insertCodeCell(notebook, () => CODE);
    expect(cells()[1]).toEqual(['code', CODE]);
  });

  it('fills an empty active cell, of any type, instead of adding one', () => {
    load([{ cell_type: 'code', source: '' }]);
    insertCodeCell(notebook, () => CODE);
    expect(cells()).toEqual([['code', CODE]]);

    load([
      { cell_type: 'code', source: 'import warden' },
      { cell_type: 'markdown', source: '  ' },
      { cell_type: 'code', source: 'z = 3' }
    ]);
    notebook.activeCellIndex = 1;
    const seen: unknown[] = [];
    insertCodeCell(notebook, around => {
      seen.push(around);
      return CODE;
    });
    expect(cells()).toEqual([
      ['code', 'import warden'],
      ['code', CODE],
      ['code', 'z = 3']
    ]);
    expect(seen).toEqual([
      { above: ['import warden'], all: ['import warden', 'z = 3'] }
    ]);
  });

  it('never overwrites a cell that holds code', () => {
    notebook.activeCellIndex = 2;
    insertCodeCell(notebook, () => CODE);
    expect(cells()).toHaveLength(4);
    expect(cells()[2]).toEqual(['code', 'y = 2']);
    expect(cells()[3]).toEqual(['code', CODE]);
  });
});

describe('variableName', () => {
  it('names the variable after the table, as a Python identifier', () => {
    const none = new Set<string>();
    expect(variableName('drug_xyz.trial_july2020', none)).toBe(
      'trial_july2020'
    );
    expect(variableName('sales.Orders-2021 (EU)', none)).toBe(
      'orders_2021_eu'
    );
    expect(variableName('finance.2021_budget', none)).toBe('data_2021_budget');
    expect(variableName('school.class', none)).toBe('class_');
    expect(variableName('meta.warden', none)).toBe('warden_');
    expect(variableName('geo.map', none)).toBe('map_');
    expect(variableName('odd.---', none)).toBe('data');
  });

  it('never takes a name the notebook already binds', () => {
    expect(
      variableName(
        'drug_xyz.trial_july2020',
        new Set(['trial_july2020', 'trial_july2020_2'])
      )
    ).toBe('trial_july2020_3');
  });
});

describe('boundNames', () => {
  it('finds assignment, import, def, class, loop, with and walrus targets', () => {
    const names = boundNames([
      'import warden\nimport numpy as np, os.path\nfrom x import (a, b as c)',
      'df = 1\nleft, right = 2, 3\ncount: int = 0\ntotal += 1',
      'def f(arg=1):\n    pass\nclass K:\n    pass',
      'for i, row in rows:\n    pass\nwith open(p) as handle:\n    pass',
      'if (m := 3) == 3: pass\nprint(x == 1)  # y = 2'
    ]);
    for (const name of [
      'warden', 'np', 'os', 'a', 'c', 'df', 'left', 'right', 'count',
      'total', 'f', 'K', 'i', 'row', 'handle', 'm'
    ]) {
      expect(names).toContain(name);
    }
    expect(names).not.toContain('x');
    expect(names).not.toContain('y');
    expect(names).not.toContain('b');
  });
});

describe('importsWarden', () => {
  it('sees `import warden`, alone or in a list, but not under an alias', () => {
    expect(importsWarden(['x = 1', 'import os, warden'])).toBe(true);
    expect(importsWarden(['import warden'])).toBe(true);
    expect(importsWarden(['import warden as w'])).toBe(false);
    expect(importsWarden(['# import warden', 'import wardenx'])).toBe(false);
  });
});

describe('adaptSnippet', () => {
  const SERVICE_CODE =
    'import warden\n\ndf = warden.connect().scan_as_pandas("df.df")\ndf.head()';

  it('renames the variable outside strings, and drops a repeated import', () => {
    expect(
      adaptSnippet(SERVICE_CODE, { variable: 'df_2', withImport: true })
    ).toBe(
      'import warden\n\ndf_2 = warden.connect().scan_as_pandas("df.df")\ndf_2.head()'
    );
    expect(
      adaptSnippet(SERVICE_CODE, { variable: 'trial', withImport: false })
    ).toBe('trial = warden.connect().scan_as_pandas("df.df")\ntrial.head()');
  });

  it('leaves code of another shape as it is', () => {
    expect(
      adaptSnippet('print("hello")', { variable: 'x', withImport: true })
    ).toBe('print("hello")');
  });
});

describe('looksLikeCredential', () => {
  it('accepts snippets that read credentials from the environment', () => {
    expect(looksLikeCredential(CODE)).toBe(false);
    expect(
      looksLikeCredential(
        'import os, warden\nclient = warden.connect(token=os.environ["WARDEN_TOKEN"])'
      )
    ).toBe(false);
  });

  it('refuses tokens written into the code', () => {
    const jwt =
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    expect(looksLikeCredential(`warden.connect(token="${jwt}")`)).toBe(true);
    expect(
      looksLikeCredential(
        'headers = {"Authorization": "Bearer abcdefghijklmnopqrstu"}'
      )
    ).toBe(true);
    expect(looksLikeCredential("WARDEN_TOKEN = 's3cr3t-v4lue-123'")).toBe(true);
  });
});
