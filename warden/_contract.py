# Generated from src/common/api.ts by `npx tsx scripts/gen-contract.mjs`: do not edit.
# tests/python/test_contract.py fails while this file is out of date.
"""The Warden API contract shared with the service and the JupyterLab extension."""

API_PREFIX = "/api/v1"
ARROW_META = {
    "access": "warden.access",
    "mask": "warden.mask",
    "cellMasked": "warden.cell_masked",
    "policies": "warden.policies",
    "rowFilter": "warden.row_filter",
    "requestId": "warden.request_id",
    "viewVersion": "warden.view_version",
    "indicatorFor": "warden.indicator_for",
}
ARROW_META_PREFIX = "warden."
ARROW_STREAM_MIME = "application/vnd.apache.arrow.stream"
CLIENT_HEADER = "x-warden-client"
CLIENT_KINDS = ("preview", "python-client", "catalog", "extension", "api")
DEFAULT_REDACTION = "***"
ERROR_CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    502: "service_unavailable",
    503: "service_unavailable",
    504: "service_unavailable",
}
ERROR_STATUS = {
    "bad_request": 400,
    "invalid_filter": 400,
    "unknown_column": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "source_error": 422,
    "internal": 500,
    "service_unavailable": 502,
    "audit_unavailable": 503,
    "overloaded": 503,
    "engine_unavailable": 503,
}
HEALTH_STATUS = {"ok": 200, "degraded": 200, "unavailable": 503}
HUB_SCOPES = {"read": "custom:warden:read", "job": "custom:warden:job"}
JUPYTER_SERVER_NAMESPACE = "warden"
MASK_INDICATOR_PREFIX = "warden:masked:"
NOTEBOOK_HEADER = "x-warden-notebook"
PREVIEW_ROWS = {"default": 100, "max": 10000}
REQUEST_ID_HEADER = "x-warden-request-id"
RESPONSE_HEADER_PREFIX = "x-warden-"
ROW_COUNT_LIMIT = 1000000
SNIPPET_FLAVOURS = ("pandas", "arrow", "polars")
VIEW_EVENT = "views"
