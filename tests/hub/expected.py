"""What each persona may see of the demo trial, computed from the raw lake by the demo's
policies (src/service/demo/config/policies), independently of the service."""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa

# A withheld cell: the client and previews ask for mask indicators, so it is NULL (its
# indicator column says why), never a marker string.
BLINDED = None


def _show_last(text: str, n: int) -> str:
    return "*" * max(len(text) - n, 0) + text[-n:]


def _tokenize(mask_key: str, text: str) -> str:
    token_key = hashlib.sha256(f"{mask_key}\0token".encode()).hexdigest()
    return "tok_" + hashlib.sha256((token_key + text).encode()).hexdigest()[:16]


def governed_trial(raw: pa.Table, persona: str, mask_key: str) -> list[dict]:
    rows = []
    for row in raw.to_pylist():
        blinded = {"adverse_events": BLINDED if row["arm"] == "placebo" else row["adverse_events"]}
        if persona == "alice":  # analysts, region US
            if row["country"] != "US":
                continue
            rows.append(
                {
                    **row,
                    "name": "[redacted]",
                    "ssn": _show_last(row["ssn"], 4),
                    "date_of_birth": row["date_of_birth"].year,
                    "email": "***@" + row["email"].split("@", 1)[1],
                    **blinded,
                }
            )
        elif persona == "carlos":  # contractors: no PII columns, tokenized ids, every region
            kept = {
                key: value
                for key, value in row.items()
                if key not in ("name", "ssn", "date_of_birth", "email")
            }
            rows.append(
                {**kept, "participant_id": _tokenize(mask_key, row["participant_id"]), **blinded}
            )
        else:
            raise ValueError(persona)
    return rows


def canonical(rows: list[dict]) -> list[str]:
    """Rows as sorted JSON lines, dates as ISO text: comparable whatever the row order."""
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in rows)
