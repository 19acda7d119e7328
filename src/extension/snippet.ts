import { NotebookActions, type Notebook } from '@jupyterlab/notebook';

/**
 * Write code into a new code cell below the active cell. With
 * `reuseEmptyCell`, an empty active code cell (the one a fresh notebook
 * starts with) takes the code instead.
 */
export function insertCodeCell(
  notebook: Notebook,
  code: string,
  options: { reuseEmptyCell?: boolean } = {}
): void {
  if (!notebook.model) {
    throw new Error('The notebook is not loaded yet.');
  }
  const active = notebook.activeCell;
  const reuse =
    options.reuseEmptyCell &&
    active?.model.type === 'code' &&
    active.model.sharedModel.getSource() === '';
  if (!reuse) {
    NotebookActions.insertBelow(notebook);
    if (notebook.activeCell?.model.type !== 'code') {
      NotebookActions.changeCellType(notebook, 'code');
    }
  }
  notebook.activeCell!.model.sharedModel.setSource(code);
  notebook.mode = 'command';
}

/**
 * The service builds snippets that read their credentials from the kernel's
 * environment. Refuse anything that carries a token itself: a notebook gets
 * shared, a token in it is a leak.
 */
export function looksLikeCredential(code: string): boolean {
  return CREDENTIAL_PATTERNS.some(pattern => pattern.test(code));
}

const CREDENTIAL_PATTERNS = [
  // A JWT: base64url header and payload, both JSON objects ("eyJ" is '{"').
  /eyJ[\w-]{6,}\.eyJ[\w-]{6,}\.[\w-]*/,
  /\bBearer\s+[\w.~+/-]{16,}/i,
  // A literal assigned to something named like a token or secret.
  /\b\w*(token|secret|password)\w*\s*[=:]\s*['"][^'"\s]{8,}['"]/i
];
