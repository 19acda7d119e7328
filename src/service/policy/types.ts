/** Policies as the decision function reads them: what the policy files say, with expressions parsed. */
import { MaskSpec } from '../../common/api';
import { Expr } from './ast';

/** Where a definition came from (file and line), for error messages. */
export interface Origin {
  file: string;
  line: number;
}

/** A value a principal's attribute must have, or a list of values of which it must have one. */
export type AttributeMatch = string | number | boolean | (string | number | boolean)[];

export interface PrincipalSelector {
  everyone?: boolean;
  users?: string[];
  groups?: string[];
  attributes?: Record<string, AttributeMatch>;
}

export interface DatasetSelector {
  names?: string[];
  tags?: string[];
}

export interface ColumnSelector {
  names?: string[];
  tags?: string[];
}

interface PolicyBase {
  name: string;
  datasets: DatasetSelector;
  principals: PrincipalSelector;
  unless?: PrincipalSelector;
  origin: Origin;
}

export type Policy =
  | (PolicyBase & { effect: 'grant' })
  | (PolicyBase & { effect: 'deny' })
  | (PolicyBase & { effect: 'row_filter'; filter: Expr })
  | (PolicyBase & { effect: 'column_mask'; columns: ColumnSelector; mask: MaskSpec })
  | (PolicyBase & { effect: 'cell_mask'; columns: ColumnSelector; mask: MaskSpec; when: Expr });
