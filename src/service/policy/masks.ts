/** What each mask means to people, and how masks rank when several apply. */
import { MaskSpec } from '../../common/api';

/** Higher is more restrictive; partial masks share one rank. */
const RESTRICTIVENESS: Record<MaskSpec['type'], number> = {
  hide: 100,
  null: 90,
  redact: 80,
  hash: 70,
  tokenize: 60,
  show_first: 50,
  show_last: 50,
  email_domain: 50,
  year_only: 50,
  round: 50,
  bucket: 50
};

export const DEFAULT_REDACTION = '***';

export function restrictiveness(mask: MaskSpec): number {
  return RESTRICTIVENESS[mask.type];
}

/** The more restrictive of two masks; on a tie the first one (the earlier policy) wins. */
export function moreRestrictive<T extends { mask: MaskSpec }>(a: T, b: T): T {
  return restrictiveness(b.mask) > restrictiveness(a.mask) ? b : a;
}

export function describeMask(mask: MaskSpec): string {
  switch (mask.type) {
    case 'redact':
      return `redacted as '${mask.value ?? DEFAULT_REDACTION}'`;
    case 'null':
      return 'replaced by NULL';
    case 'hash':
      return 'keyed SHA-256 hash (per dataset)';
    case 'tokenize':
      return 'deterministic token (joinable across datasets)';
    case 'show_first':
      return `first ${mask.n} characters shown`;
    case 'show_last':
      return `last ${mask.n} characters shown`;
    case 'year_only':
      return 'year only';
    case 'round':
      return `rounded to ${mask.digits} decimal${mask.digits === 1 ? '' : 's'}`;
    case 'bucket':
      return `bucketed by ${mask.width}`;
    case 'email_domain':
      return 'email domain only';
    case 'hide':
      return 'hidden';
  }
}

/** Compact label for Arrow metadata and badges: `show_last(4)`. */
export function maskLabel(mask: MaskSpec): string {
  switch (mask.type) {
    case 'show_first':
    case 'show_last':
      return `${mask.type}(${mask.n})`;
    case 'round':
      return `round(${mask.digits})`;
    case 'bucket':
      return `bucket(${mask.width})`;
    default:
      return mask.type;
  }
}
