/** Reads a YAML file and validates it against a JSON Schema, reporting file, line and what is wrong. */
import type { Static, TSchema } from '@sinclair/typebox';
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Document, LineCounter, isNode, parseDocument } from 'yaml';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string
  ) {
    super(`${file}:${line}: ${problem}`);
  }
}

/** A parsed file that can say on which line a value stands. */
export class YamlFile {
  private constructor(
    readonly path: string,
    readonly data: unknown,
    private readonly document: Document,
    private readonly lines: LineCounter
  ) {}

  static read(path: string): YamlFile {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(path, 1, `cannot read file: ${(error as Error).message}`);
    }
    const lines = new LineCounter();
    const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const [first] = document.errors;
    if (first) {
      const line = lines.linePos(first.pos[0]).line;
      throw new ConfigError(path, line, `invalid YAML: ${first.message.split('\n')[0]}`);
    }
    let data: unknown;
    try {
      // Aliases are resolved here; a bad one (or an alias bomb) is an error in the file.
      data = document.toJS({ maxAliasCount: 100 });
    } catch (error) {
      throw new ConfigError(path, 1, `invalid YAML: ${(error as Error).message}`);
    }
    return new YamlFile(path, data ?? {}, document, lines);
  }

  /** Line of the value at a JSON-pointer-like path (`/policies/2/mask`), or of its nearest parent. */
  lineOf(path: (string | number)[]): number {
    for (let length = path.length; length >= 0; length--) {
      const node = this.document.getIn(path.slice(0, length), true);
      if (isNode(node) && node.range) {
        return this.lines.linePos(node.range[0]).line;
      }
    }
    return 1;
  }

  fail(path: (string | number)[], problem: string): never {
    throw new ConfigError(this.path, this.lineOf(path), problem);
  }
}

// verbose: errors carry their schema, for messages that name the choices (`keyChoice`) and describe patterns.
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, verbose: true });
const validators = new Map<object, ValidateFunction>();

function pointer(instancePath: string): (string | number)[] {
  return instancePath
    .split('/')
    .slice(1)
    .map(part => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map(part => (/^\d+$/.test(part) ? Number(part) : part));
}

/** For `oneOf`/`anyOf` whose branches each only require one key: those keys. */
function keyChoice(error: ErrorObject): string[] | undefined {
  if (error.keyword !== 'oneOf' && error.keyword !== 'anyOf') return undefined;
  const branches = error.schema as { required?: string[] }[];
  const keys = branches.map(branch => (Object.keys(branch).length === 1 && branch.required?.length === 1 ? branch.required[0] : undefined));
  return keys.every(key => key !== undefined) ? (keys as string[]) : undefined;
}

function describe(error: ErrorObject): string {
  const where = error.instancePath ? error.instancePath.slice(1).replace(/\//g, '.') : 'top level';
  const choice = keyChoice(error);
  if (choice) {
    return `${where}: set ${error.keyword === 'oneOf' ? 'exactly' : 'at least'} one of ${choice.join(', ')}`;
  }
  const description = (error.parentSchema as { description?: string } | undefined)?.description;
  if (error.keyword === 'pattern' && description) {
    return `${where}: ${error.propertyName ? `name "${error.propertyName}"` : JSON.stringify(error.data)} is not ${description}`;
  }
  switch (error.keyword) {
    case 'not':
      // A `not` says what is refused in its schema's description (policiesSchema: which keys an effect takes).
      return `${where}: ${description ?? error.message}`;
    case 'additionalProperties':
      return `${where}: unknown key "${error.params.additionalProperty}"`;
    case 'required':
      return `${where}: missing "${error.params.missingProperty}"`;
    case 'enum':
      return `${where}: must be one of ${(error.params.allowedValues as unknown[]).map(v => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `${where}: must be ${JSON.stringify(error.params.allowedValue)}`;
    default:
      return `${where}: ${error.message}`;
  }
}

/** The most specific error: the deepest path, preferring concrete keywords over oneOf/anyOf/if. */
function mostSpecific(errors: ErrorObject[]): ErrorObject {
  const vague = new Set(['oneOf', 'anyOf', 'if', 'not', 'allOf']);
  return [...errors].sort(
    (a, b) =>
      Number(vague.has(a.keyword)) - Number(vague.has(b.keyword)) ||
      b.instancePath.length - a.instancePath.length
  )[0];
}

/** The file's data, checked against `schema` and so of its type; the first problem stops loading. */
export function validate<S extends TSchema>(file: YamlFile, schema: S): Static<S> {
  let validator = validators.get(schema);
  if (!validator) {
    validator = ajv.compile(schema);
    validators.set(schema, validator);
  }
  if (!validator(file.data)) {
    const errors = validator.errors ?? [];
    // "Set one of these keys" says more than the failure of the first branch.
    const error = errors.find(candidate => keyChoice(candidate)) ?? mostSpecific(errors);
    file.fail(pointer(error.instancePath), describe(error));
  }
  return file.data as Static<S>;
}

/** Whether a file of a catalog or policies directory is configuration. */
export function isConfigFileName(name: string): boolean {
  return /\.ya?ml$/.test(name) && !name.startsWith('.');
}

/**
 * The YAML files of a catalog or policies directory, sorted: `*.yaml` and `*.yml`, but not hidden
 * ones (editors' lock and backup files such as `.#masking.yaml`, which may be dangling links).
 */
export function yamlFilesIn(directory: string): string[] {
  try {
    return readdirSync(directory)
      .filter(isConfigFileName)
      .sort()
      .map(name => join(directory, name));
  } catch {
    return [];
  }
}
