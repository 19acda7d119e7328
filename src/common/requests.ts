/**
 * Request bodies of the API: one TypeBox declaration per shape gives both the JSON Schema the
 * service validates with and the TypeScript type clients use. Each property's `description`
 * is the message a caller gets when that property is wrong.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ORDER_KEY } from './order';

export const ScanRequestSchema = Type.Object(
  {
    /** Projection; default all visible columns. */
    columns: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'columns must be a list of column names' })),
    /** A filter in the Warden expression language, applied to the masked view. */
    filter: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'filter must be text in the Warden expression language' })),
    /** e.g. ["age DESC", "site"]; applied to the masked view. */
    orderBy: Type.Optional(
      Type.Union([Type.Array(Type.String({ pattern: ORDER_KEY.source, description: 'must be a column name, optionally followed by ASC or DESC' })), Type.Null()], {
        description: 'orderBy must be a list like ["age DESC", "site"] of column names, each optionally followed by ASC or DESC'
      })
    ),
    limit: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }), Type.Null()], { description: 'limit must be a whole number >= 0' })),
    /** Also send the indicator column of each cell-masked column (see MASK_INDICATOR_PREFIX in api.ts). */
    maskIndicators: Type.Optional(Type.Boolean({ description: 'maskIndicators must be true or false' }))
  },
  { additionalProperties: false, description: 'scan body must be a JSON object like {"columns": [...], "filter": "...", "limit": 100}' }
);

export type ScanRequest = Static<typeof ScanRequestSchema>;
