"""End-to-end scan benchmark: Warden against DuckDB's Python package on the same file.

    .venv/bin/python bench/scan.py                  # everything, 10M rows, 5 runs after 1 warm-up
    .venv/bin/python bench/scan.py --only pandas --runs 7
    .venv/bin/python bench/scan.py --rows 1000000 --runs 3   # quick look

Needs the bundled service (`npm run build:service`) and, in the venv, duckdb, pandas,
pyarrow and pyjwt. It prepares (once, cached under .cache/bench) a deterministic 8-column
Parquet file, writes a config directory with a policy set (two column masks and a row
filter keeping 20% of rows for `analyst`; nothing for `officer`), starts the service and
prints three tables:

1. `scan_as_pandas` (masked, filtered) against the same query in DuckDB's Python package
   straight on the file, `.df()`; target ratio <= 1.3.
2. the service's Arrow IPC throughput in bytes/s with policies against the same rows
   streamed without policies (the officer asks for the same filter); target >= 0.85.
3. the service's peak RSS (VmHWM, a fresh service per case) for a 10M-row scan giving 1M
   rows, one giving 10M rows (10x), and the 10M-row result read slowly (backpressure);
   target <= 300 MB and flat.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = ROOT / ".cache" / "bench"
SERVICE = ROOT / "warden" / "service" / "warden-service.cjs"
DATASET = "bench.trial"
ISSUER = "warden-bench"

COUNTRIES = ["US", "DE", "FR", "JP", "BR"]
SITES = [
    "General Hospital",
    "University Medical Center",
    "Memorial Clinic",
    "Research Institute",
    "Children's Hospital",
    "Cancer Center",
    "Heart Institute",
    "Community Health",
]


# -- data ---------------------------------------------------------------------------------


def prepare_data(rows: int) -> Path:
    """A deterministic 8-column Parquet file (values from hashes of the row number)."""
    import duckdb

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"trial_{rows}.parquet"
    if path.exists():
        return path
    started = time.perf_counter()
    countries = "[" + ", ".join(f"'{c}'" for c in COUNTRIES) + "]"
    sites = "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in SITES) + "]"
    tmp = path.with_suffix(".tmp")
    con = duckdb.connect()
    con.execute(
        f"""
        COPY (
          SELECT
            'XYZ-2020-' || lpad(CAST(i AS VARCHAR), 9, '0') AS participant_id,
            lpad(CAST(100 + h1 % 900 AS VARCHAR), 3, '0') || '-' ||
              lpad(CAST((h1 >> 12) % 100 AS VARCHAR), 2, '0') || '-' ||
              lpad(CAST((h1 >> 24) % 10000 AS VARCHAR), 4, '0') AS ssn,
            DATE '1940-01-01' + CAST(h2 % 22000 AS INTEGER) AS date_of_birth,
            {countries}[CAST(h3 % {len(COUNTRIES)} AS INTEGER) + 1] AS country,
            {countries}[CAST(h3 % {len(COUNTRIES)} AS INTEGER) + 1] || ' ' ||
              {sites}[CAST((h3 >> 8) % {len(SITES)} AS INTEGER) + 1] || ' ' ||
              CAST((h3 >> 16) % 40 AS VARCHAR) AS site,
            CASE WHEN h4 % 2 = 0 THEN 'placebo' ELSE 'treatment' END AS arm,
            round(CAST((h4 >> 8) % 100000 AS DOUBLE) / 1000 - 50, 3) AS outcome,
            DATE '2020-07-01' + CAST((h4 >> 32) % 120 AS INTEGER) AS enrolled_on
          FROM (
            SELECT i, hash(i, 1) AS h1, hash(i, 2) AS h2, hash(i, 3) AS h3, hash(i, 4) AS h4
            FROM range({rows}) AS t(i)
          )
          ORDER BY i
        ) TO '{tmp}' (FORMAT parquet)
        """
    )
    con.close()
    tmp.rename(path)
    print(f"prepared {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")
    return path


# -- config -------------------------------------------------------------------------------

CATALOG = """\
datasets:
  - name: {dataset}
    description: Benchmark trial, {rows} rows
    tags: [clinical]
    source: {{ format: parquet, path: {file} }}
    columns:
      - {{ name: participant_id, tags: [pii.id] }}
      - {{ name: ssn, tags: [pii.ssn] }}
      - {{ name: date_of_birth, tags: [pii.quasi] }}
      - {{ name: country }}
      - {{ name: site }}
      - {{ name: arm }}
      - {{ name: outcome }}
      - {{ name: enrolled_on }}
"""

POLICIES = """\
policies:
  - name: readers
    effect: grant
    datasets: { tags: [clinical] }
    principals: { groups: [analysts, officers] }
  - name: own-region
    effect: row_filter
    datasets: { tags: [clinical] }
    principals: { groups: [analysts] }
    filter: country = user.region
  - name: ssn-last-four
    effect: column_mask
    datasets: { tags: [clinical] }
    principals: { everyone: true }
    unless: { groups: [officers] }
    columns: { tags: [pii.ssn] }
    mask: { type: show_last, n: 4 }
  - name: dob-year-only
    effect: column_mask
    datasets: { tags: [clinical] }
    principals: { everyone: true }
    unless: { groups: [officers] }
    columns: { tags: [pii.quasi] }
    mask: { type: year_only }
"""


def write_config(directory: Path, data: Path, rows: int) -> None:
    (directory / "catalog").mkdir(parents=True)
    (directory / "policies").mkdir()
    (directory / "warden.yaml").write_text(
        f"data_roots: [{data.parent}]\n"
        f"identity: {{ audience: warden, issuer: {ISSUER}, hs256_secret_env: WARDEN_JWT_SECRET }}\n"
        f"audit: {{ path: {directory / 'audit' / 'audit.jsonl'} }}\n"
        "masking: { key_file: mask.key }\n"
    )
    (directory / "mask.key").write_text(secrets.token_hex(16))
    (directory / "directory.yaml").write_text(
        "users:\n"
        "  analyst: { groups: [analysts], attributes: { region: US } }\n"
        "  officer: { groups: [officers] }\n"
        "groups:\n"
        "  analysts: { description: 'US rows only; SSN last 4; year of birth' }\n"
        "  officers: { description: 'no policies but the grant' }\n"
    )
    (directory / "catalog" / "bench.yaml").write_text(CATALOG.format(dataset=DATASET, rows=rows, file=data.name))
    (directory / "policies" / "bench.yaml").write_text(POLICIES)


# -- service ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """The bundled service as a child process (its own pid, for /proc/<pid>/status)."""

    def __init__(self, config: Path, node_args: list[str] | None = None, bundle: Path | None = None):
        self.secret = secrets.token_hex(32)
        self.port = free_port()
        env = {**os.environ, "WARDEN_JWT_SECRET": self.secret}
        self.process = subprocess.Popen(
            ["node", *(node_args or []), str(bundle or SERVICE), "--config", str(config), "--port", str(self.port), "--no-watch"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.log: list[str] = []
        deadline = time.monotonic() + 60
        for line in self.process.stdout:
            self.log.append(line)
            if "listening on" in line:
                break
            if time.monotonic() > deadline:
                break
        else:
            raise RuntimeError("service did not start:\n" + "".join(self.log))
        # Keep draining its output so that it never blocks on a full pipe.
        threading.Thread(target=lambda: [self.log.append(line) for line in self.process.stdout], daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def token(self, user: str) -> str:
        import jwt

        claims = {"sub": user, "aud": "warden", "iss": ISSUER, "exp": int(time.time()) + 6 * 3600}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def status_kb(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def raw_scan(service: Service, user: str, body: dict, read_size: int = 1 << 20, pace=None) -> tuple[int, float]:
    """POSTs a scan and reads the Arrow stream as bytes, discarding them: (bytes, seconds).

    `pace(bytes_so_far)` may sleep, to read slowly."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=600)
    payload = json.dumps(body).encode()
    conn.request(
        "POST",
        f"/api/v1/datasets/{DATASET}/scan",
        body=payload,
        headers={"Authorization": f"Bearer {service.token(user)}", "Content-Type": "application/json", "X-Warden-Client": "api"},
    )
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"scan failed: {response.status} {response.read()[:500]!r}")
    buffer = bytearray(read_size)
    total = 0
    while True:
        n = response.readinto(buffer)
        if not n:
            break
        total += n
        if pace:
            pace(total)
    conn.close()
    return total, time.perf_counter() - started


# -- measurement helpers ------------------------------------------------------------------


def summarise(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return statistics.median(ordered), p95


def table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def baseline_sql() -> str:
    """What Warden compiles for the analyst, written for DuckDB's Python package."""
    return (
        "SELECT participant_id, "
        "repeat('*', greatest(length(CAST(ssn AS VARCHAR)) - CAST(4 AS INTEGER), 0)) || right(CAST(ssn AS VARCHAR), CAST(4 AS INTEGER)) AS ssn, "
        "CAST(EXTRACT(YEAR FROM date_of_birth) AS INTEGER) AS date_of_birth, "
        "country, site, arm, outcome, enrolled_on "
        "FROM read_parquet(?) WHERE country = ?"
    )


# -- 1. scan_as_pandas against DuckDB ------------------------------------------------------


def bench_pandas(service: Service, data: Path, runs: int, warmup: int, profile: str | None) -> list[list[object]]:
    import duckdb

    import warden

    client = warden.connect(url=service.url, token=service.token("analyst"))
    con = duckdb.connect()

    def with_warden():
        return client.scan_as_pandas(DATASET, progress=False)

    def with_duckdb():
        return con.execute(baseline_sql(), [str(data), "US"]).df()

    # Same answer first (sizes, columns, values), then time.
    ours, theirs = with_warden(), with_duckdb()
    assert list(ours.columns) == list(theirs.columns), (ours.columns, theirs.columns)
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    for column in ours.columns:
        a, b = ours[column], theirs[column]
        if str(a.dtype).startswith("datetime") or str(b.dtype).startswith("datetime"):
            a, b = a.astype("datetime64[ms]"), b.astype("datetime64[ms]")
        assert (a.astype(str).to_numpy() == b.astype(str).to_numpy()).all(), column
    print(f"same {len(ours):,} rows and values; dtypes warden {dict(ours.dtypes.astype(str))}, duckdb {dict(theirs.dtypes.astype(str))}")
    del ours, theirs

    if profile:
        import cProfile

        cProfile.runctx("with_warden()", globals(), {"with_warden": with_warden}, profile)
        print(f"client profile written to {profile}")

    timings: dict[str, list[float]] = {"warden": [], "duckdb": []}
    for i in range(warmup + runs):
        # Interleaved, so that load from other processes hits both alike.
        for name, fn in (("warden", with_warden), ("duckdb", with_duckdb)):
            started = time.perf_counter()
            frame = fn()
            elapsed = time.perf_counter() - started
            rows = len(frame)
            del frame
            if i >= warmup:
                timings[name].append(elapsed)
    w_med, w_p95 = summarise(timings["warden"])
    d_med, d_p95 = summarise(timings["duckdb"])
    ratio = w_med / d_med
    return [
        ["DuckDB Python `.df()` on the file (baseline)", f"{rows:,}", f"{d_med:.2f} s", f"{d_p95:.2f} s", "1.00", ""],
        ["Warden `scan_as_pandas`", f"{rows:,}", f"{w_med:.2f} s", f"{w_p95:.2f} s", f"{ratio:.2f}", "met (<= 1.3)" if ratio <= 1.3 else "MISSED (<= 1.3)"],
    ]


# -- 2. throughput with and without policies ----------------------------------------------


def bench_throughput(service: Service, runs: int, warmup: int) -> list[list[object]]:
    cases = [
        ("with policies (analyst: row filter, 2 masks)", "analyst", {}),
        ("without policies (officer, same filter as caller)", "officer", {"filter": "country = 'US'"}),
    ]
    samples: dict[str, list[tuple[int, float]]] = {label: [] for label, _, _ in cases}
    for i in range(warmup + runs):
        for label, user, body in cases:
            nbytes, seconds = raw_scan(service, user, body)
            if i >= warmup:
                samples[label].append((nbytes, seconds))
    rows = []
    rates = {}
    for label, _, _ in cases:
        nbytes = samples[label][0][0]
        rate = [b / s for b, s in samples[label]]
        med = statistics.median(rate)
        p95_slow = sorted(rate)[max(0, len(rate) - 1 - int(len(rate) * 0.95))]  # 5th percentile rate = p95 time
        secs = summarise([s for _, s in samples[label]])
        rates[label] = med
        rows.append([label, f"{nbytes / 1e6:.0f} MB", f"{secs[0]:.2f} s", f"{secs[1]:.2f} s", f"{med / 1e6:.0f} MB/s", f"{p95_slow / 1e6:.0f} MB/s"])
    ratio = rates[cases[0][0]] / rates[cases[1][0]]
    rows[0] += [f"{ratio:.2f}", "met (>= 0.85)" if ratio >= 0.85 else "MISSED (>= 0.85)"]
    rows[1] += ["1.00", ""]
    return rows


# -- 3. peak RSS --------------------------------------------------------------------------


def bench_rss(config: Path, rows: int) -> tuple[list[list[object]], str]:
    ten_percent = {"filter": "arm = 'placebo'"}  # analyst: 20% (region) x 50% (arm) = 10% of the rows
    small, large = f"{rows // 10:,}", f"{rows:,}"
    cases = [
        # label, user, body, bytes read slowly over 15 s first (None: all at full speed), a target case
        (f"{large}-row scan, {small}-row result (analyst)", "analyst", ten_percent, None, True),
        ("same, first 50 MB read slowly (15 s)", "analyst", ten_percent, 50e6, True),
        (f"{large}-row scan, {large}-row result: 10x (officer)", "officer", {}, None, True),
        ("same, first 100 MB read slowly (15 s)", "officer", {}, 100e6, True),
        ("stress, not a target: 0.5% result (`outcome > 49.5`), read slowly (15 s)", "officer", {"filter": "outcome > 49.5"}, 5e6, False),
    ]
    table_rows = []
    peaks = []
    for label, user, body, slow_bytes, is_target in cases:
        with Service(config) as service:
            time.sleep(0.5)
            idle = service.status_kb("VmHWM")
            pace = None
            if slow_bytes:
                started = time.perf_counter()

                def pace(total: int, started=started, limit=slow_bytes) -> None:
                    if total < limit:
                        delay = started + 15 * total / limit - time.perf_counter()
                        if delay > 0:
                            time.sleep(delay)

            nbytes, seconds = raw_scan(service, user, body, read_size=64 * 1024 if slow_bytes else 1 << 20, pace=pace)
            peak = service.status_kb("VmHWM") / 1024
            if is_target:
                peaks.append(peak)
            verdict = ("met" if peak <= 300 else "MISSED") + " (<= 300 MB)" if is_target else ("within" if peak <= 300 else "above") + " 300 MB"
            table_rows.append([label, f"{nbytes / 1e6:.0f} MB", f"{seconds:.1f} s", f"{idle / 1024:.0f} MB", f"{peak:.0f} MB", verdict])
    flat = f"flat: highest / lowest peak of the target cases = {max(peaks) / min(peaks):.2f}"
    return table_rows, flat


# -- main ---------------------------------------------------------------------------------


def main() -> None:
    global SERVICE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--only", default="pandas,throughput,rss", help="comma-separated: pandas, throughput, rss")
    parser.add_argument("--cpu-prof", metavar="DIR", help="run the service under node --cpu-prof, profiles into DIR")
    parser.add_argument("--client-profile", metavar="FILE", help="cProfile one scan_as_pandas into FILE")
    parser.add_argument("--service", metavar="CJS", help=f"the service bundle to run (default {SERVICE.relative_to(ROOT)})")
    parser.add_argument("--keep", action="store_true", help="keep the config directory (printed)")
    parser.add_argument("--write-config", metavar="DIR", help="only prepare the data and write the config into DIR (for bench/engine-scan.ts)")
    args = parser.parse_args()
    only = set(args.only.split(","))

    if args.service:
        SERVICE = Path(args.service).resolve()
    if not SERVICE.exists():
        sys.exit(f"{SERVICE} is missing: run `npm run build:service` first")
    try:
        import duckdb  # noqa: F401
        import jwt  # noqa: F401
    except ImportError as exc:
        sys.exit(f"{exc}: install it in the venv (PIP_RETRIES=0 .venv/bin/pip install --retries 0 duckdb pyjwt)")

    import duckdb
    import pandas
    import pyarrow

    data = prepare_data(args.rows)
    if args.write_config:
        shutil.rmtree(args.write_config, ignore_errors=True)
        write_config(Path(args.write_config).resolve(), data, args.rows)
        print(f"config written to {args.write_config}")
        return
    config = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    write_config(config, data, args.rows)
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    print(
        f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; node {node}, duckdb {duckdb.__version__}, "
        f"pandas {pandas.__version__}, pyarrow {pyarrow.__version__}; {args.runs} runs after {args.warmup} warm-up"
    )
    try:
        if only & {"pandas", "throughput"}:
            node_args = [f"--cpu-prof", f"--cpu-prof-dir={args.cpu_prof}"] if args.cpu_prof else []
            with Service(config, node_args) as service:
                if "pandas" in only:
                    rows = bench_pandas(service, data, args.runs, args.warmup, args.client_profile)
                    print(f"\n1. scan_as_pandas of {args.rows:,} rows x 8 columns, 2 masked columns, row filter keeping 20%")
                    print(table(["what", "rows", "median", "p95", "ratio to DuckDB", "target"], rows))
                if "throughput" in only:
                    rows = bench_throughput(service, args.runs, args.warmup)
                    print("\n2. service Arrow IPC throughput, same rows with and without policies")
                    print(table(["what", "bytes", "median time", "p95 time", "median rate", "p95 (slowest) rate", "ratio", "target"], rows))
        if "rss" in only:
            rows, flat = bench_rss(config, args.rows)
            print("\n3. service peak RSS (VmHWM, a fresh service per case)")
            print(table(["scan", "bytes", "time", "RSS at start", "peak RSS", "target"], rows))
            print(flat)
    finally:
        if args.keep:
            print(f"config kept in {config}")
        else:
            shutil.rmtree(config, ignore_errors=True)


if __name__ == "__main__":
    main()
