"""End-to-end scan benchmark: Warden against every way DuckDB and pyarrow read the same file.

    .venv/bin/python bench/scan.py                        # all tables, 5M-row lake, 5 runs
    .venv/bin/python bench/scan.py --only pandas --runs 9
    .venv/bin/python bench/scan.py --only rss --rss-rows 10000000,100000000
    .venv/bin/python bench/scan.py --service OTHER/warden-service.cjs   # another build
    .venv/bin/python bench/scan.py --only paths --before OLD/warden-service.cjs  # interleaved

Needs the bundled service (`npm run build:service`) and, in the venv, duckdb, pandas,
pyarrow and pyjwt. The data is the demo lake (`npm run demo-lake`, generated once per size
under .cache/bench/demo-<rows>); the reader is the demo's `alice`: a row filter (US rows,
37.5%), four column masks and a cell mask. Prints:

1. the governed scan against every baseline, timed interleaved in one run (each round runs
   every path, starting with a different one): Warden's `scan_as_pandas` and `scan_as_arrow`;
   DuckDB's Python package running the very SQL Warden compiles for alice (the same masks)
   to an Arrow table and to pandas; and the best ungoverned ways to read the same rows
   (DuckDB filter only, `.to_arrow_table().to_pandas()` and `.df()`; `pyarrow.dataset`).
   pandas conversions use the client's own `to_pandas` options, so each path builds the same
   frame. Then the ratios (of the medians, and the median and p95 of the per-round ratios).
2. the service's Arrow IPC throughput with alice's policies against the same rows streamed
   without policies (pat, the privacy officer, asking for US rows).
3. the service's peak RSS (VmHWM, a fresh service per case) scanning lakes of several sizes
   (`--rss-rows`), as alice at full speed and read slowly, and pat's whole 100M-row table.

`bench/engine-scan.ts` times the service's data path in-process, stage by stage
(`node bench/run.mjs engine-scan --config .cache/bench/demo-5000000/config --dataset
drug_xyz.trial_july2020 --user alice`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = ROOT / ".cache" / "bench"
SERVICE = ROOT / "warden" / "service" / "warden-service.cjs"
DATASET = "drug_xyz.trial_july2020"
TRIAL_FILE = "lake/drug_xyz/trial_july2020.parquet"
ISSUER = "jupyter-server"  # the demo config's issuer
GOVERNED = "alice"  # row filter, four column masks, a cell mask
UNGOVERNED = "pat"  # the grant only


# -- data ---------------------------------------------------------------------------------


def prepare_lake(rows: int) -> Path:
    """The demo lake with `rows` trial rows (the other datasets small), made once."""
    out = CACHE / f"demo-{rows}"
    if not (out / "config" / "warden.yaml").exists():  # written last
        started = time.perf_counter()
        subprocess.run(
            [
                "npm",
                "run",
                "--silent",
                "demo-lake",
                "--",
                "--out",
                str(out),
                "--rows",
                str(rows),
                "--other-rows",
                "1000",
            ],
            cwd=ROOT,
            check=True,
        )
        print(f"prepared {out} in {time.perf_counter() - started:.0f} s")
    return out


def compiled_sql(config: Path, user: str) -> tuple[str, list]:
    """The SQL and parameters Warden compiles for `user`'s scan as the Python client asks for
    it (bench/engine-scan.ts): cell-masked cells NULL, with their indicator columns."""
    output = subprocess.run(
        [
            "node",
            "bench/run.mjs",
            "engine-scan",
            "--config",
            str(config),
            "--dataset",
            DATASET,
            "--user",
            user,
            "--print-sql",
            "--indicators",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    query = json.loads(output.strip().splitlines()[-1])
    return query["sql"], query["params"]


# -- service ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """The bundled service as a child process (its own pid, for /proc/<pid>/status)."""

    def __init__(
        self, config: Path, node_args: list[str] | None = None, script: Path | None = None
    ):
        self.secret = secrets.token_hex(32)
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                "node",
                *(node_args or []),
                str(script or SERVICE),
                "--config",
                str(config),
                "--port",
                str(self.port),
                "--no-watch",
            ],
            env={**os.environ, "WARDEN_JWT_SECRET": self.secret},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.log: list[str] = []
        for line in self.process.stdout:
            self.log.append(line)
            if "listening on" in line:
                break
        else:
            raise RuntimeError("service did not start:\n" + "".join(self.log))
        # Keep draining its output so that it never blocks on a full pipe.
        threading.Thread(
            target=lambda: [self.log.append(line) for line in self.process.stdout], daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.port}"

    def token(self, user: str) -> str:
        import jwt

        claims = {"sub": user, "aud": "warden", "iss": ISSUER, "exp": int(time.time()) + 6 * 3600}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def status_kb(self, key: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


def raw_scan(
    service: Service, user: str, body: dict, read_size: int = 1 << 20, pace=None
) -> tuple[int, float]:
    """POSTs a scan and reads the Arrow stream as bytes, discarding them: (bytes, seconds).

    `pace(bytes_so_far)` may sleep, to read slowly."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=3600)
    conn.request(
        "POST",
        f"/api/v1/datasets/{DATASET}/scan",
        body=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {service.token(user)}",
            "Content-Type": "application/json",
            "X-Warden-Client": "api",
        },
    )
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"scan failed: {response.status} {response.read()[:500]!r}")
    buffer = bytearray(read_size)
    total = 0
    while n := response.readinto(buffer):
        total += n
        if pace:
            pace(total)
    conn.close()
    return total, time.perf_counter() - started


# -- measurement helpers ------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- 1. the governed scan against every baseline ------------------------------------------


def bench_paths(
    service: Service, lake: Path, runs: int, warmup: int, before: Service | None = None
) -> tuple[list[list[object]], list[list[object]]]:
    import duckdb
    import pandas
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    import warden
    from warden._contract import MASK_INDICATOR_PREFIX
    from warden.client import PANDAS_OPTIONS

    client = warden.connect(url=service.url, token=service.token(GOVERNED))
    con = duckdb.connect()
    file = str(lake / TRIAL_FILE)
    masks_sql, masks_params = compiled_sql(lake / "config", GOVERNED)
    filter_sql = "SELECT * FROM read_parquet($1) WHERE country = $2"

    def masked_table():
        # The indicator columns say which cells are withheld; the client drops them too.
        table = con.execute(masks_sql, masks_params).to_arrow_table()
        return table.drop_columns(
            [name for name in table.column_names if name.startswith(MASK_INDICATOR_PREFIX)]
        )

    paths = {
        "warden_pandas": (
            "Warden `scan_as_pandas` (governed)",
            lambda: client.scan_as_pandas(DATASET, progress=False),
        ),
        "masks_pandas": (
            "DuckDB Python, the same masks (Warden's SQL), `.to_arrow_table().to_pandas()`",
            lambda: masked_table().to_pandas(**PANDAS_OPTIONS),
        ),
        "filter_pandas": (
            "DuckDB Python, filter only, `.to_arrow_table().to_pandas()` (ungoverned)",
            lambda: (
                con.execute(filter_sql, [file, "US"]).to_arrow_table().to_pandas(**PANDAS_OPTIONS)
            ),
        ),
        "dataset_pandas": (
            "`pyarrow.dataset(...).to_table(filter=...).to_pandas()` (ungoverned)",
            lambda: (
                ds.dataset(file)
                .to_table(filter=pc.field("country") == "US")
                .to_pandas(**PANDAS_OPTIONS)
            ),
        ),
        "filter_df": (
            "DuckDB Python `.df()`, filter only (ungoverned)",
            lambda: con.execute(filter_sql, [file, "US"]).df(),
        ),
        "warden_arrow": (
            "Warden `scan_as_arrow` (governed)",
            lambda: client.scan_as_arrow(DATASET, progress=False),
        ),
        "masks_arrow": (
            "DuckDB Python, the same masks, `.to_arrow_table()`",
            masked_table,
        ),
    }

    if before:
        # Another build of the service on the same lake, timed in the same rounds.
        before_client = warden.connect(url=before.url, token=before.token(GOVERNED))
        paths["before_pandas"] = (
            "Warden `scan_as_pandas`, the `--before` service",
            lambda: before_client.scan_as_pandas(DATASET, progress=False),
        )
        paths["before_arrow"] = (
            "Warden `scan_as_arrow`, the `--before` service",
            lambda: before_client.scan_as_arrow(DATASET, progress=False),
        )

    # The same frame, value for value and dtype for dtype, before any timing.
    ours, theirs = paths["warden_pandas"][1](), paths["masks_pandas"][1]()
    pandas.testing.assert_frame_equal(ours, theirs)
    if before:
        pandas.testing.assert_frame_equal(paths["before_pandas"][1](), theirs)
    rows = len(ours)
    print(f"same {rows:,} rows and values as DuckDB; dtypes {dict(ours.dtypes.astype(str))}")
    del ours, theirs

    names = list(paths)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(warmup + runs):
        # Interleaved, each round starting elsewhere: load from other processes hits all alike.
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            server = {"warden": service, "before": before}.get(name.split("_")[0])
            cpu_started = own_cpu() + (server.cpu_seconds() if server else 0)
            started = time.perf_counter()
            result = paths[name][1]()
            elapsed = time.perf_counter() - started
            used = own_cpu() + (server.cpu_seconds() if server else 0)
            del result
            if round_ >= warmup:
                seconds[name].append(elapsed)
                cpu[name].append(used - cpu_started)

    timing_rows = [
        [
            label,
            f"{statistics.median(seconds[name]):.2f} s",
            f"{percentile(seconds[name], 0.95):.2f} s",
            f"{statistics.median(cpu[name]):.2f} s",
        ]
        for name, (label, _) in paths.items()
    ]

    def ratio(label: str, ours: str, baseline: list[str], target: float) -> list[object]:
        # Per round, against the fastest of the baselines in that round.
        per_round = [
            seconds[ours][i] / min(seconds[name][i] for name in baseline) for i in range(runs)
        ]
        of_medians = statistics.median(seconds[ours]) / min(
            statistics.median(seconds[name]) for name in baseline
        )
        p95 = percentile(per_round, 0.95)
        verdict = "met" if statistics.median(per_round) <= target else "MISSED"
        return [
            label,
            f"{of_medians:.2f}",
            f"{statistics.median(per_round):.2f}",
            f"{p95:.2f}",
            f"{verdict} (<= {target})",
        ]

    ratio_rows = [
        ratio(
            "`scan_as_pandas` / DuckDB, same masks, to pandas",
            "warden_pandas",
            ["masks_pandas"],
            1.15,
        ),
        ratio(
            "`scan_as_arrow` / DuckDB, same masks, Arrow table",
            "warden_arrow",
            ["masks_arrow"],
            1.15,
        ),
        ratio(
            "`scan_as_pandas` / best ungoverned (fastest of `.df()`, "
            "`.to_arrow_table().to_pandas()`, `pyarrow.dataset`)",
            "warden_pandas",
            ["filter_pandas", "dataset_pandas", "filter_df"],
            1.5,
        ),
    ]
    if before:
        ratio_rows += [
            ratio(
                "`--before` `scan_as_pandas` / DuckDB, same masks, to pandas",
                "before_pandas",
                ["masks_pandas"],
                1.15,
            ),
            ratio(
                "`--before` `scan_as_arrow` / DuckDB, same masks, Arrow table",
                "before_arrow",
                ["masks_arrow"],
                1.15,
            ),
        ]
    return timing_rows, ratio_rows


# -- 2. throughput with and without policies ----------------------------------------------


def bench_throughput(service: Service, runs: int, warmup: int) -> list[list[object]]:
    cases = [
        (f"with policies ({GOVERNED}: row filter, 4 masks, a cell mask)", GOVERNED, {}),
        (f"without policies ({UNGOVERNED}, same rows)", UNGOVERNED, {"filter": "country = 'US'"}),
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
        times = [s for _, s in samples[label]]
        rates[label] = statistics.median(rate)
        rows.append(
            [
                label,
                f"{nbytes / 1e6:.0f} MB",
                f"{statistics.median(times):.2f} s",
                f"{percentile(times, 0.95):.2f} s",
                f"{rates[label] / 1e6:.0f} MB/s",
            ]
        )
    ratio = rates[cases[0][0]] / rates[cases[1][0]]
    rows[0] += [f"{ratio:.3f}", "met (>= 0.85)" if ratio >= 0.85 else "MISSED (>= 0.85)"]
    rows[1] += ["1.00", ""]
    return rows


# -- 3. peak RSS --------------------------------------------------------------------------


def bench_rss(sizes: list[int]) -> tuple[list[list[object]], str]:
    smallest, largest = min(sizes), max(sizes)
    cases = []  # label, lake rows, user, bytes read slowly over 15 s first (None: full speed)
    for rows in sorted(sizes):
        cases.append(
            (f"{rows:,}-row lake, {GOVERNED} (37.5% of rows, masked)", rows, GOVERNED, None)
        )
    cases.append(
        (
            f"{largest:,}-row lake, {GOVERNED}, first 100 MB read slowly (15 s)",
            largest,
            GOVERNED,
            100e6,
        )
    )
    cases.append((f"{largest:,}-row lake, {UNGOVERNED}: every row", largest, UNGOVERNED, None))
    table_rows = []
    peaks: dict[int, float] = {}
    for label, rows, user, slow_bytes in cases:
        lake = prepare_lake(rows)
        with Service(lake / "config") as service:
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

            nbytes, seconds = raw_scan(
                service, user, {}, read_size=64 * 1024 if slow_bytes else 1 << 20, pace=pace
            )
            peak = service.status_kb("VmHWM") / 1024
        if user == GOVERNED and not slow_bytes:
            peaks[rows] = peak
        table_rows.append(
            [
                label,
                f"{nbytes / 1e9:.2f} GB",
                f"{seconds:.1f} s",
                f"{nbytes / 1e6 / seconds:.0f} MB/s",
                f"{idle / 1024:.0f} MB",
                f"{peak:.0f} MB",
                ("met" if peak <= 300 else "MISSED") + " (<= 300 MB)",
            ]
        )
    flat = peaks[largest] / peaks[smallest]
    verdict = "met" if flat <= 1.1 else "MISSED"
    verdict = f"peak at {largest:,} rows / at {smallest:,} rows = {flat:.2f} ({verdict}, <= 1.1)"
    return table_rows, verdict


# -- main ---------------------------------------------------------------------------------


def main() -> None:
    global SERVICE
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=5_000_000, help="rows of the lake for tables 1-2"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--only", default="paths,throughput,rss", help="comma-separated: paths, throughput, rss"
    )
    parser.add_argument(
        "--rss-rows",
        default="10000000,100000000",
        help="lake sizes for the RSS table, comma-separated (generated once each)",
    )
    parser.add_argument(
        "--cpu-prof", metavar="DIR", help="run the service under node --cpu-prof, profiles into DIR"
    )
    parser.add_argument(
        "--service",
        metavar="CJS",
        help=f"the service bundle to run (default {SERVICE.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--before",
        metavar="CJS",
        help="another service bundle (an older build) timed in the same rounds of table 1",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))

    if args.service:
        SERVICE = Path(args.service).resolve()
    if not SERVICE.exists():
        sys.exit(f"{SERVICE} is missing: run `npm run build:service` first")
    try:
        import duckdb
        import jwt  # noqa: F401
    except ImportError as exc:
        sys.exit(
            f"{exc}: install it in the venv (PIP_RETRIES=0 .venv/bin/pip install --retries 0 "
            "--constraint python-constraints.txt duckdb pyjwt)"
        )
    import pandas
    import pyarrow

    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    print(
        f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; node {node}, "
        f"duckdb {duckdb.__version__}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}; "
        f"{args.runs} runs after {args.warmup} warm-up; service {SERVICE}"
    )
    if only & {"paths", "throughput"}:
        lake = prepare_lake(args.rows)
        node_args = ["--cpu-prof", f"--cpu-prof-dir={args.cpu_prof}"] if args.cpu_prof else []
        with Service(lake / "config", node_args) as service:
            if "paths" in only:
                before = (
                    Service(lake / "config", script=Path(args.before).resolve())
                    if args.before
                    else None
                )
                try:
                    timings, ratios = bench_paths(service, lake, args.runs, args.warmup, before)
                finally:
                    if before:
                        before.stop()
                print(f"\n1. {DATASET} of {args.rows:,} rows as {GOVERNED}, every path interleaved")
                print(
                    table(
                        ["path", "median", "p95", "CPU (median; Warden: client + service)"], timings
                    )
                )
                print()
                print(
                    table(
                        [
                            "ratio",
                            "of the medians",
                            "per round: median",
                            "per round: p95",
                            "target",
                        ],
                        ratios,
                    )
                )
            if "throughput" in only:
                rows = bench_throughput(service, args.runs, args.warmup)
                print("\n2. service Arrow IPC throughput, same rows with and without policies")
                print(
                    table(
                        [
                            "what",
                            "bytes",
                            "median time",
                            "p95 time",
                            "median rate",
                            "ratio",
                            "target",
                        ],
                        rows,
                    )
                )
    if "rss" in only:
        rows, flat = bench_rss([int(n) for n in args.rss_rows.split(",")])
        print("\n3. service peak RSS (VmHWM, a fresh service per case), result read as it comes")
        print(table(["scan", "bytes", "time", "rate", "RSS at start", "peak RSS", "target"], rows))
        print(flat)


if __name__ == "__main__":
    main()
