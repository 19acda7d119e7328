import { NotebookActions, type Notebook } from '@jupyterlab/notebook';

/** The code of a notebook, as seen from where a new cell goes. */
export interface ICodeAround {
  /** Sources of the code cells above the new cell. */
  above: string[];
  /** Sources of all code cells. */
  all: string[];
}

/**
 * Write code into the active cell when it is empty (whatever its type), else
 * into a new code cell below it; the written cell becomes the active one.
 * `makeCode` sees the code around that place (to pick names, skip imports).
 */
export function insertCodeCell(
  notebook: Notebook,
  makeCode: (around: ICodeAround) => string
): void {
  if (!notebook.model) {
    throw new Error('The notebook is not loaded yet.');
  }
  const active = notebook.activeCell;
  const fillActive =
    !!active && active.model.sharedModel.getSource().trim() === '';
  const codeOf = (cells: Notebook['widgets']) =>
    cells
      .filter(cell => cell.model.type === 'code')
      .map(cell => cell.model.sharedModel.getSource());
  const end = notebook.activeCellIndex + (fillActive ? 0 : 1);
  const code = makeCode({
    above: codeOf(notebook.widgets.slice(0, Math.max(end, 0))),
    all: codeOf(notebook.widgets)
  });
  if (active && fillActive) {
    if (active.model.type !== 'code') {
      NotebookActions.changeCellType(notebook, 'code');
    }
  } else {
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

/**
 * Names a snippet must not take: Python keywords (and soft keywords), the
 * `warden` module the snippet calls, and builtins a table is likely to be
 * named after.
 */
const RESERVED_NAMES = new Set([
  ...'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case type'.split(
    ' '
  ),
  'warden',
  ...'abs all any bin bool bytes dict dir divmod enumerate eval exec filter float format hash help hex id input int iter len list map max min next object open ord pow print property range repr reversed round set slice sorted str sum super tuple vars zip'.split(
    ' '
  )
]);

/**
 * A Python variable for a dataset: its table name made an identifier
 * (`drug_xyz.trial_july2020` → `trial_july2020`), with `_2`, `_3`... when the
 * notebook already binds that name.
 */
export function variableName(
  dataset: string,
  taken: ReadonlySet<string>
): string {
  const table = dataset.slice(dataset.lastIndexOf('.') + 1);
  let base = table
    .replace(/[^A-Za-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
  if (!base) {
    base = 'data';
  } else if (/^\d/.test(base)) {
    base = `data_${base}`;
  } else if (RESERVED_NAMES.has(base)) {
    base = `${base}_`;
  }
  if (!taken.has(base)) {
    return base;
  }
  let suffix = 2;
  while (taken.has(`${base}_${suffix}`)) {
    suffix++;
  }
  return `${base}_${suffix}`;
}

/**
 * Names bound at the top level of Python sources: assignments, imports,
 * `def`/`class`, `for`/`with ... as` and `:=` targets. A line-based reading:
 * a name inside a string may count as bound, which only makes a snippet pick
 * the next free name.
 */
export function boundNames(sources: readonly string[]): Set<string> {
  const names = new Set<string>();
  const addTargets = (text: string) => {
    for (const match of text.matchAll(/[A-Za-z_]\w*/g)) {
      names.add(match[0]);
    }
  };
  for (const source of sources) {
    for (const line of source.split('\n')) {
      const code = line.replace(/#.*$/, '');
      const assignment = code.match(
        /^\s*([A-Za-z_][\w\s,()[\]*]*?)\s*(?::[^=]*)?(?:[-+*/%&|^@]|\/\/|\*\*|<<|>>)?=(?!=)/
      );
      if (assignment) {
        addTargets(assignment[1]);
      }
      const imported = code.match(/^\s*import\s+(.+)$/);
      if (imported) {
        for (const part of imported[1].split(',')) {
          const [module, alias] = part.trim().split(/\s+as\s+/);
          names.add(alias ?? module.split('.')[0]);
        }
      }
      const fromImport = code.match(/^\s*from\s+\S+\s+import\s+\(?([^)]+)\)?/);
      if (fromImport) {
        for (const part of fromImport[1].split(',')) {
          const [name, alias] = part.trim().split(/\s+as\s+/);
          if (name) {
            names.add(alias ?? name);
          }
        }
      }
      for (const match of code.matchAll(
        /\b(?:def|class)\s+([A-Za-z_]\w*)|\bas\s+([A-Za-z_]\w*)|([A-Za-z_]\w*)\s*:=/g
      )) {
        names.add(match[1] ?? match[2] ?? match[3]);
      }
      const loop = code.match(/^\s*(?:async\s+)?for\s+(.+?)\s+in\b/);
      if (loop) {
        addTargets(loop[1]);
      }
    }
  }
  return names;
}

/** Whether some source runs `import warden` (as `warden`, not under an alias). */
export function importsWarden(sources: readonly string[]): boolean {
  return sources.some(source =>
    source
      .split('\n')
      .some(line =>
        (line.replace(/#.*$/, '').match(/^\s*import\s+(.+)$/)?.[1] ?? '')
          .split(',')
          .some(part => part.trim() === 'warden')
      )
  );
}

/**
 * Fit the service's snippet into a notebook: its variable renamed (outside
 * string literals), and its `import warden` line dropped when the notebook
 * already imports it above. Code of another shape is left as it is.
 */
export function adaptSnippet(
  code: string,
  options: { variable: string; withImport: boolean }
): string {
  let adapted = code;
  const assigned = code.match(/^([A-Za-z_]\w*)\s*=\s*warden\./m)?.[1];
  if (assigned && assigned !== options.variable) {
    adapted = renameOutsideStrings(adapted, assigned, options.variable);
  }
  if (!options.withImport) {
    adapted = adapted.replace(/^import warden[ \t]*\n(?:[ \t]*\n)?/m, '');
  }
  return adapted;
}

function renameOutsideStrings(code: string, from: string, to: string): string {
  // Alternation: a string literal (kept) or the identifier (replaced).
  const pattern = new RegExp(
    `("(?:[^"\\\\\\n]|\\\\.)*"|'(?:[^'\\\\\\n]|\\\\.)*')|\\b${from}\\b`,
    'g'
  );
  return code.replace(pattern, (match, literal) => literal ?? to);
}
