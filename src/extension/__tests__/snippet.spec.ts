import { NotebookModel, type Notebook } from '@jupyterlab/notebook';
import { NBTestUtils } from '@jupyterlab/notebook/lib/testutils';
import { Widget } from '@lumino/widgets';

import { insertCodeCell, looksLikeCredential } from '../snippet';
import { silenceYdocWarnings } from './fixtures';

const CODE =
  'import warden\ndf = warden.connect().scan_as_pandas("drug_xyz.trial_july2020")';

describe('insertCodeCell', () => {
  let notebook: Notebook;

  beforeAll(silenceYdocWarnings);
  afterAll(() => jest.restoreAllMocks());

  beforeEach(() => {
    notebook = NBTestUtils.createNotebook();
    const model = new NotebookModel();
    model.sharedModel.insertCells(0, [
      { cell_type: 'markdown', source: '# Analysis' },
      { cell_type: 'code', source: 'x = 1' },
      { cell_type: 'code', source: 'y = 2' }
    ]);
    notebook.model = model;
    Widget.attach(notebook, document.body);
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
    insertCodeCell(notebook, CODE);
    expect(cells()).toEqual([
      ['markdown', '# Analysis'],
      ['code', 'x = 1'],
      ['code', CODE],
      ['code', 'y = 2']
    ]);
    expect(notebook.activeCellIndex).toBe(2);
    expect(notebook.mode).toBe('command');
  });

  it('inserts code even below a markdown cell, when markdown is the default', () => {
    notebook.notebookConfig = {
      ...notebook.notebookConfig,
      defaultCell: 'markdown'
    };
    notebook.activeCellIndex = 0;
    insertCodeCell(notebook, CODE);
    expect(cells()[1]).toEqual(['code', CODE]);
  });

  it('fills the empty first cell of a new notebook instead of adding one', () => {
    const fresh = new NotebookModel();
    fresh.sharedModel.insertCell(0, { cell_type: 'code', source: '' });
    notebook.model = fresh;
    insertCodeCell(notebook, CODE, { reuseEmptyCell: true });
    expect(cells()).toEqual([['code', CODE]]);
  });

  it('never overwrites a cell that holds code', () => {
    notebook.activeCellIndex = 2;
    insertCodeCell(notebook, CODE, { reuseEmptyCell: true });
    expect(cells()).toHaveLength(4);
    expect(cells()[2]).toEqual(['code', 'y = 2']);
    expect(cells()[3]).toEqual(['code', CODE]);
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
