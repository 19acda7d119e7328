"""End-to-end scan benchmark: Warden against every way DuckDB and pyarrow read the same file.

    .venv/bin/python bench/scan.py                        # all tables, 5M-row lake, 5 runs
    .venv/bin/python bench/scan.py --only paths --runs 9
    .venv/bin/python bench/scan.py --only rss --rss-rows 10000000,100000000
    .venv/bin/python bench/scan.py --only load               # previews under load (table 4)
    .venv/bin/python bench/scan.py --service OTHER/warden-service.cjs   # another build
    .venv/bin/python bench/scan.py --only paths --before OLD/warden-service.cjs  # interleaved

Needs the bundled service (`npm run build:service`) and, in the venv, pandas, pyarrow and
pyjwt (and duckdb for table 1). The data is the demo lake (`npm run demo-lake`, generated once
per size under .cache/bench/demo-<rows>); the reader is the demo's `alice`: a row filter (US
rows, 37.5%), four column masks and a cell mask. Prints:

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
4. previews under load, on a fresh service: alice's preview of 100 rows (the extension's
   request, each on a new connection as the Jupyter server's proxy makes it, its rows checked)
   one at a time, then 50 at once, then 50 at once and again (`--load-rounds`) while 4 of her
   full scans stream, each in a process of its own as kernels would; preview p50/p95/p99,
   each scan's throughput, what the service got of the machine, its peak RSS.

`bench/engine-scan.ts` times the service's data path in-process, stage by stage
(`node bench/run.mjs engine-scan --config .cache/bench/demo-5000000/config --dataset
drug_xyz.trial_july2020 --user alice`).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import json
import os
import queue
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

    def js_thread_seconds(self) -> tuple[float, float]:
        """Seconds the JavaScript (main) thread ran, and waited runnable for a CPU (schedstat)."""
        schedstat = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/schedstat")
        ran, waited, _ = (int(field) for field in schedstat.read_text().split())
        return ran / 1e9, waited / 1e9

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


def version_of(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


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


# -- 4. previews under load ---------------------------------------------------------------

PREVIEW_ROWS = 100
LOAD_PREVIEWERS = 50
LOAD_SCANS = 4
CROWD_ROUNDS = 4  # the 50 previewers without scans, for comparison
PREVIEW_PATH = f"/api/v1/datasets/{DATASET}/preview?limit={PREVIEW_ROWS}"
SCAN_PATH = f"/api/v1/datasets/{DATASET}/scan"
SCAN_BODY = {"maskIndicators": True}  # what the kernel client asks for (warden/client.py)


def check_preview(body: bytes) -> None:
    """Fails unless the preview is what alice may see, so that a broken service cannot give a
    fast figure: 100 rows, US only, names redacted, SSN last four, email domain, placebo
    adverse events withheld (NULL, and marked by the indicator column)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    preview = pa.ipc.open_stream(body).read_all()
    placebo = pc.equal(preview["arm"], "placebo")
    withheld = preview["warden:masked:adverse_events"]
    checks = {
        f"{PREVIEW_ROWS} rows": preview.num_rows == PREVIEW_ROWS,
        "US rows only": pc.all(pc.equal(preview["country"], "US")).as_py(),
        "names redacted": pc.all(pc.equal(preview["name"], "[redacted]")).as_py(),
        "SSN last four": pc.all(pc.match_substring_regex(preview["ssn"], r"^\*+\d{4}$")).as_py(),
        "email domain": pc.all(pc.starts_with(preview["email"], "***@")).as_py(),
        "placebo events withheld": pc.all(pc.equal(withheld, placebo)).as_py()
        and pc.all(pc.is_null(preview["adverse_events"].filter(placebo))).as_py(),
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise AssertionError(f"the preview is not alice's view: {', '.join(failed)}")


def timed_preview(port: int, token: str) -> tuple[float, float]:
    """One preview as the Jupyter server's proxy asks for it (a new connection, the extension's
    request): when it was sent and when its last byte arrived. Its rows are checked after."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request(
        "GET",
        PREVIEW_PATH,
        headers={"Authorization": f"Bearer {token}", "X-Warden-Client": "preview"},
    )
    response = conn.getresponse()
    body = response.read()
    ended = time.perf_counter()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"preview failed: {response.status} {body[:500]!r}")
    check_preview(body)
    return started, ended


def previews_at_once(
    port: int, token: str, clients: int, rounds: int, stop: threading.Event | None = None
) -> list[tuple[float, float]]:
    """`clients` threads, each previewing `rounds` times in a row (fewer once `stop` is set)."""
    timings: list[tuple[float, float]] = []
    failures: list[BaseException] = []

    def client() -> None:
        try:
            for _ in range(rounds):
                if stop and stop.is_set():
                    return
                timings.append(timed_preview(port, token))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return timings


class _CountingBody:
    """An HTTP response as the file Arrow's stream reader reads, counting the bytes."""

    def __init__(self, response: http.client.HTTPResponse):
        self.response = response
        self.bytes = 0
        self.closed = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.response.read(None if size < 0 else size)
        self.bytes += len(data)
        return data

    def close(self) -> None:
        self.closed = True


def load_scan(port: int, token: str, index: int, report) -> None:
    """A kernel's scan of the whole governed table (a process of its own), decoded batch by
    batch and dropped. Puts ("streaming", index, time) at its first batch on `report`, then
    ("done", index, figures), or ("failed", index, why)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
        conn.request(
            "POST",
            SCAN_PATH,
            body=json.dumps(SCAN_BODY).encode(),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "X-Warden-Client": "python-client",
            },
        )
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"scan failed: {response.status} {response.read()[:500]!r}")
        body = _CountingBody(response)
        rows = 0
        for batch in pa.ipc.open_stream(body):
            if rows == 0:
                if not pc.all(pc.equal(batch.column("country"), "US")).as_py():
                    raise AssertionError("the scan holds rows alice may not see")
                report.put(("streaming", index, time.perf_counter()))
            rows += batch.num_rows
        conn.close()
        figures = {"started": started, "ended": time.perf_counter(), "rows": rows}
        report.put(("done", index, {**figures, "bytes": body.bytes}))
    except BaseException as exc:  # the parent reports it
        report.put(("failed", index, f"{type(exc).__name__}: {exc}"))


def run_scans(
    port: int, token: str, count: int, streaming=None, first_ended: threading.Event | None = None
) -> list[dict]:
    """`count` scans at once, each in a process of its own: their figures, once all ended.
    `streaming()` runs in a thread once every scan streams; `first_ended` is set when one ends."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    report = context.Queue()
    processes = [
        context.Process(target=load_scan, args=(port, token, i, report)) for i in range(count)
    ]
    for process in processes:
        process.start()
    results: dict[int, dict] = {}
    started = 0
    waiter = None
    try:
        while len(results) < count:
            try:
                kind, index, value = report.get(timeout=1)
            except queue.Empty:
                # A process that died without a word (killed, or failed to start).
                if any(process.exitcode not in (None, 0) for process in processes):
                    raise RuntimeError("a scan process died") from None
                continue
            if kind == "failed":
                raise RuntimeError(f"scan {index + 1} failed: {value}")
            if kind == "streaming":
                started += 1
                if started == count and streaming:
                    waiter = threading.Thread(target=streaming)
                    waiter.start()
            else:
                results[index] = value
                if first_ended:
                    first_ended.set()
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    if waiter:
        waiter.join()
    return [results[i] for i in range(count)]


def bench_load(
    lake: Path, idle_previews: int, rounds: int, node_args: list[str]
) -> tuple[list[list[object]], list[list[object]], str]:
    """Previews alone, then 50 at once while 4 large scans stream, on a fresh service."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    expected_rows = ds.dataset(str(lake / TRIAL_FILE)).count_rows(
        filter=pc.field("country") == "US"
    )
    with Service(lake / "config", node_args) as service:
        token = service.token(GOVERNED)
        for _ in range(5):  # warm-up: plans, Parquet footers, JIT
            timed_preview(service.port, token)
        rss_at_start = service.status_kb("VmRSS") / 1024
        idle = [timed_preview(service.port, token) for _ in range(idle_previews)]
        crowd = previews_at_once(service.port, token, LOAD_PREVIEWERS, CROWD_ROUNDS)
        (alone,) = run_scans(service.port, token, 1)

        # The previews start once every scan streams, and stop early once the first one ends.
        loaded: list[tuple[float, float]] = []
        scans_streaming: list[float] = []
        first_scan_ended = threading.Event()
        failures: list[BaseException] = []
        # What the service got of the machine while those previews ran: its CPU, and how long
        # its JavaScript thread (every request passes through it) waited for a CPU.
        usage: list[tuple[float, float, float, float]] = []

        def snapshot() -> None:
            usage.append((time.perf_counter(), service.cpu_seconds(), *service.js_thread_seconds()))

        def previews_while_streaming() -> None:
            scans_streaming.append(time.perf_counter())
            snapshot()
            try:
                loaded.extend(
                    previews_at_once(service.port, token, LOAD_PREVIEWERS, rounds, first_scan_ended)
                )
            except BaseException as exc:  # raised below, once the scans ended
                failures.append(exc)
            snapshot()

        scans = run_scans(
            service.port, token, LOAD_SCANS, previews_while_streaming, first_scan_ended
        )
        first_end = min(scan["ended"] for scan in scans)
        peak_rss = service.status_kb("VmHWM") / 1024
    if failures:
        raise failures[0]

    for scan in [alone, *scans]:
        if scan["rows"] != expected_rows:
            raise AssertionError(
                f"a scan gave {scan['rows']:,} rows, alice may see {expected_rows:,}"
            )
    # Only previews that ran wholly while all four scans streamed count as under load.
    under_load = [(s, e) for s, e in loaded if s >= scans_streaming[0] and e <= first_end]
    if not under_load:
        raise RuntimeError("no preview ran while all scans streamed: a larger lake (--rows)")

    def preview_row(label: str, timings: list[tuple[float, float]], target: float | None) -> list:
        ms = [(e - s) * 1000 for s, e in timings]
        p95 = percentile(ms, 0.95)
        verdict = (
            ""
            if target is None
            else ("met" if p95 <= target else "MISSED") + f" (p95 <= {target:.0f} ms)"
        )
        return [
            label,
            len(ms),
            f"{statistics.median(ms):.1f} ms",
            f"{p95:.1f} ms",
            f"{percentile(ms, 0.99):.1f} ms",
            f"{max(ms):.1f} ms",
            verdict,
        ]

    preview_rows = [
        preview_row("idle, one at a time", idle, 50),
        preview_row(f"{LOAD_PREVIEWERS} at once, no scans", crowd, None),
        preview_row(
            f"{LOAD_PREVIEWERS} at once, while {LOAD_SCANS} scans stream "
            f"({len(loaded) - len(under_load)} more ran past a scan's end, left out)",
            under_load,
            150,
        ),
    ]

    def scan_row(label: str, rows: int, nbytes: int, seconds: float) -> list:
        return [
            label,
            f"{rows:,}",
            f"{nbytes / 1e6:.0f} MB",
            f"{seconds:.1f} s",
            f"{rows / seconds:,.0f}",
            f"{nbytes / 1e6 / seconds:.1f}",
        ]

    scan_rows = [
        scan_row(
            "one scan alone, before",
            alone["rows"],
            alone["bytes"],
            alone["ended"] - alone["started"],
        )
    ]
    scan_rows += [
        scan_row(
            f"scan {i + 1} of {LOAD_SCANS}, under load",
            scan["rows"],
            scan["bytes"],
            scan["ended"] - scan["started"],
        )
        for i, scan in enumerate(scans)
    ]
    scan_rows.append(
        scan_row(
            f"all {LOAD_SCANS} (first start to last end)",
            sum(scan["rows"] for scan in scans),
            sum(scan["bytes"] for scan in scans),
            max(scan["ended"] for scan in scans) - min(scan["started"] for scan in scans),
        )
    )
    (start, cpu, ran, waited), (end, cpu_end, ran_end, waited_end) = usage
    seconds = end - start
    notes = (
        f"while the loaded previews ran ({seconds:.1f} s) the service used "
        f"{(cpu_end - cpu) / seconds:.2f} cores, its JavaScript thread "
        f"{(ran_end - ran) / seconds:.2f}, which waited for a CPU "
        f"{(waited_end - waited) / seconds:.0%} of the time\n"
        f"service RSS at start {rss_at_start:.0f} MB, peak (VmHWM) {peak_rss:.0f} MB"
    )
    return preview_rows, scan_rows, notes


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
        "--only",
        default="paths,throughput,rss,load",
        help="comma-separated: paths, throughput, rss, load",
    )
    parser.add_argument(
        "--load-rounds",
        type=int,
        default=20,
        help="previews each of the 50 clients makes at most while the scans stream (load case)",
    )
    parser.add_argument(
        "--idle-previews", type=int, default=100, help="previews one at a time (load case)"
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
        import jwt  # noqa: F401

        if "paths" in only:  # the baselines of table 1
            import duckdb  # noqa: F401
    except ImportError as exc:
        sys.exit(
            f"{exc}: install it in the venv (PIP_RETRIES=0 .venv/bin/pip install --retries 0 "
            "--constraint python-constraints.txt duckdb pyjwt)"
        )

    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    print(
        f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; node {node}, "
        f"duckdb {version_of('duckdb')}, pandas {version_of('pandas')}, "
        f"pyarrow {version_of('pyarrow')}; {args.runs} runs after {args.warmup} warm-up; "
        f"service {SERVICE}"
    )
    node_args = ["--cpu-prof", f"--cpu-prof-dir={args.cpu_prof}"] if args.cpu_prof else []
    if only & {"paths", "throughput"}:
        lake = prepare_lake(args.rows)
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
    if "load" in only:
        lake = prepare_lake(args.rows)
        previews, scans, notes = bench_load(lake, args.idle_previews, args.load_rounds, node_args)
        print(
            f"\n4. previews of {PREVIEW_ROWS} rows under load: {LOAD_PREVIEWERS} clients "
            f"previewing at once (at most {args.load_rounds} each) while {LOAD_SCANS} scans of "
            f"{DATASET} ({args.rows:,} rows) stream, all as {GOVERNED}; a fresh service"
        )
        print(table(["previews", "count", "p50", "p95", "p99", "max", "target"], previews))
        print()
        print(table(["scan", "rows", "bytes", "wall time", "rows/s", "MB/s"], scans))
        print(f"{notes}; load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
