/**
 * What a caller may ask, checked before anything runs: the scan body against its schema
 * (common/requests.ts), the preview's row limit, the snippet's flavour. Every mistake is
 * named, as InvalidInput (refused and audited by the gateway).
 */
import Ajv, { ErrorObject } from 'ajv';
import { PREVIEW_ROWS, SNIPPET_FLAVOURS, SnippetFlavour } from '../../common/api';
import { parseOrderKey } from '../../common/order';
import { ScanRequest, ScanRequestSchema } from '../../common/requests';
import { ScanPlan } from '../engine/compile';
import { readsUser } from '../policy/ast';
import { ExpressionError, parseExpression } from '../policy/parse';
import { InvalidInput } from './errors';

/** A checked request for rows: the plan to compile, and the caller's filter as written (for the audit log). */
export interface ReadRequest {
  plan: ScanPlan;
  filterText: string | null;
}


// verbose: errors carry their schema and data, for the messages below.
const checkScan = new Ajv({ allErrors: true, verbose: true }).compile<ScanRequest>(ScanRequestSchema);
const SCAN_KEYS = Object.keys(ScanRequestSchema.properties);

/** The words for the first thing wrong with a scan body, from the schema's descriptions. */
function scanProblem(errors: ErrorObject[]): string {
  const unknown = errors.filter(error => error.keyword === 'additionalProperties').map(error => error.params.additionalProperty as string);
  if (unknown.length) {
    return `unknown key${unknown.length > 1 ? 's' : ''} in scan body: ${unknown.join(', ')} (allowed: ${SCAN_KEYS.join(', ')})`;
  }
  const [, key, item] = errors[0].instancePath.split('/');
  if (!key) return ScanRequestSchema.description!;
  const property = ScanRequestSchema.properties[key as keyof ScanRequest];
  const entry = item !== undefined ? errors.find(error => error.keyword === 'pattern' && error.instancePath === `/${key}/${item}`) : undefined;
  if (entry) return `${key} entry ${JSON.stringify(entry.data)} ${(entry.parentSchema as { description: string }).description}`;
  return property.description!;
}

/** A scan body, checked and turned into a plan. */
export function scanRequest(body: unknown): ReadRequest {
  if (!checkScan(body)) {
    const filter = (body as { filter?: unknown } | null)?.filter;
    throw new InvalidInput('bad_request', scanProblem(checkScan.errors ?? []), typeof filter === 'string' ? { callerFilter: filter } : {});
  }
  const plan: ScanPlan = { indicators: body.maskIndicators === true };
  if (body.columns) plan.columns = [...new Set(body.columns)];
  if (body.limit !== undefined && body.limit !== null) plan.limit = body.limit;
  // The schema has checked every entry.
  if (body.orderBy) plan.orderBy = body.orderBy.map(key => parseOrderKey(key)!);
  const filterText = body.filter || null;
  if (filterText) {
    try {
      plan.filter = parseExpression(filterText);
    } catch (error) {
      if (error instanceof ExpressionError) throw new InvalidInput('invalid_filter', `invalid filter: ${error.message}`, { callerFilter: filterText });
      throw error;
    }
    if (readsUser(plan.filter)) {
      throw new InvalidInput('invalid_filter', 'invalid filter: user.* attributes can only be used in policies', { callerFilter: filterText });
    }
  }
  return { plan, filterText };
}

/**
 * A preview: the first `limit` rows (text, as in a URL), with the mask indicators, in the
 * order of the `orderBy` entries given (URL parameters, as in a scan body), else the dataset's.
 */
export function previewRequest(limitText: string | null, orderByTexts: string[] = []): ReadRequest {
  const text = limitText ?? String(PREVIEW_ROWS.default);
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 0 || limit > PREVIEW_ROWS.max) {
    throw new InvalidInput('bad_request', `limit must be a whole number from 0 to ${PREVIEW_ROWS.max}, got "${text}"`);
  }
  const plan: ScanPlan = { limit, indicators: true };
  if (orderByTexts.length) {
    plan.orderBy = orderByTexts.map(key => {
      const parsed = parseOrderKey(key);
      if (!parsed) throw new InvalidInput('bad_request', `orderBy entry ${JSON.stringify(key)} must be a column name, optionally followed by ASC or DESC`);
      return parsed;
    });
  }
  return { plan, filterText: null };
}

/** A snippet's flavour as the request says it (default pandas). */
export function snippetFlavour(text: string | null): SnippetFlavour {
  const flavour = text ?? 'pandas';
  if (!(SNIPPET_FLAVOURS as readonly string[]).includes(flavour)) {
    throw new InvalidInput('bad_request', `flavour must be one of ${SNIPPET_FLAVOURS.join(', ')}, got "${flavour}"`);
  }
  return flavour as SnippetFlavour;
}
