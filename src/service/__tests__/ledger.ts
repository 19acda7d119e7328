/**
 * The adversarial suite's ledger: every attack records whether it leaked and how many audit
 * records it lost; the summary table is printed at the end and kept in docs/adversarial.md.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AttackResult {
  category: string;
  attack: string;
  tries: number;
  leaks: number;
  auditLost: number;
  note: string;
}

const results: AttackResult[] = [];

export function record(result: AttackResult): void {
  results.push(result);
}

export function summary(): string {
  const total = (key: 'tries' | 'leaks' | 'auditLost') => results.reduce((sum, result) => sum + result[key], 0);
  const lines = [
    '| category | attack | tries | leaks | audit records lost | what happened |',
    '| --- | --- | ---: | ---: | ---: | --- |',
    ...results.map(r => `| ${r.category} | ${r.attack} | ${r.tries} | ${r.leaks} | ${r.auditLost} | ${r.note.replace(/\|/g, '\\|')} |`),
    `| **total** | ${results.length} attacks | ${total('tries')} | ${total('leaks')} | ${total('auditLost')} | |`
  ];
  return lines.join('\n');
}

/** The JupyterHub deployment's attack suite (tests/hub, Python): its own section, written here so that the doc is generated whole. */
const HUB_SECTION = [
  '## Multi-user deployment (`tests/hub`, run as root by `bash scripts/test.sh`)',
  '',
  'The real JupyterHub deployment of `scripts/hub` (IdP login, OS users alice, pat, carlos and',
  'cora, Warden as OS user `warden`), attacked from inside a real kernel of alice\'s hub server, as',
  'OS user alice, while pat\'s and carlos\'s servers run (`tests/hub/attack_payload.py`). Judged on',
  'what came back: the report of everything the kernel read, found and received is searched for',
  'every secret of the deployment that is not alice\'s (masking key, operator and cookie secrets,',
  'the OAuth client secret, the IdP\'s signing and cookie keys, every persona\'s password, pat\'s',
  'and carlos\'s server tokens, Warden\'s own hub token, the proxy\'s token) and for every raw SSN,',
  'name and email of the trial.',
  '',
  '| attack from alice\'s kernel | result |',
  '| --- | --- |',
  '| read `/proc/*/environ` and `/proc/*/cmdline` of every process | environments readable only for alice\'s own processes; no secret on any command line |',
  '| read the lake, the masking key, Warden\'s config and audit, the hub\'s and the IdP\'s state, other users\' homes, `/tmp`, `/run`, `/dev/shm` | permission denied on all of it (modes 0700 by owner); no lake byte read |',
  '| reuse every token-like string found (up to 600) against Warden and the hub | only alice\'s own tokens work: every answer is alice\'s, with group `analysts`, and every row is in her governed view |',
  '| mint JWTs claiming `pat` and `privacy-officers` with every string found as HMAC secret, every private key found, and `alg: none` | refused: this deployment accepts hub tokens only, and no signing key is readable |',
  '| ask the hub to make her admin, add her to `privacy-officers`, mint tokens for pat or with pat\'s scopes or admin scopes, list users and pat\'s tokens | 400/403/404; her groups, admin flag and pat\'s tokens unchanged |',
  '| create a job token for herself and use it | works, as alice |',
  '| call every HTTP service listening on loopback (other users\' servers, the proxy API, hub, IdP) with her token | nothing about another user answered |',
  '| an admin (or anyone the hub lets into alice\'s server) calls Warden through it | 403: Warden acts for the server\'s owner only |',
  '| a revoked, expired, or too long-lived (60 days > 30) job token; her stopped server\'s token | refused (a token revoked after use: once the 10 s cache has passed) |',
  '',
  'The same suite checks that alice and carlos each get exactly their governed view (values',
  'computed from the raw lake by the policies) in a notebook of their own hub server and',
  'through the browser path, and that a job notebook runs headless (`jupyter nbconvert',
  '--execute`) as alice after her server stopped, audited as client `job`; and, in Chromium,',
  'that alice signs in on the IdP\'s page through the hub and finds her catalog and masked preview',
  'in the Warden sidebar (`ui-tests/hub/login.hub.ts`).'
];

/** Prints the table; with WARDEN_ADVERSARIAL_DOC=1 also writes it to docs/adversarial.md. */
export function writeSummary(command: string): void {
  const table = summary();
  console.log(`\nAdversarial summary\n${table}\n`);
  if (process.env.WARDEN_ADVERSARIAL_DOC !== '1') return;
  const doc = [
    '# Adversarial and fault suite',
    '',
    'Each row is an attack that tries to get data out that a principal may not see, to forge an',
    'identity, or to lose audit records. A leak is any value, row, count or existence signal the',
    'principal should not get.',
    '',
    `Produced by \`${command}\` on ${new Date().toISOString().slice(0, 10)}:`,
    '',
    table,
    '',
    'The Jupyter side is attacked in `tests/python/test_jupyter_integration.py` (run by `bash scripts/test.sh`):',
    'a browser request that carries its own `Authorization` header (even a validly signed token for',
    'another user) is forwarded with the Jupyter user\'s identity only; unauthenticated and',
    'cross-site (no XSRF token) requests are refused by Jupyter; kernels never see the signing secret.',
    'Identity is also unit-tested in `src/service/__tests__/identity.test.ts` (RS256/ES256 with a JWKS,',
    'trusted claims, token lifetime).',
    '',
    'The bypass cases (the `inference` and `injection` rows above but the hidden-dataset ones;',
    '`src/service/__tests__/adversarial-bypass.ts`) also run against the Trino engine, the trial',
    'read from an Iceberg table, in `bash scripts/trino/test.sh` (`trino-adversarial.itest.ts`),',
    'which prints the same table for them.',
    '',
    ...HUB_SECTION,
    '',
    '## How attacks and faults are injected',
    '',
    'Everything runs against real components: the service in-process or as a spawned `warden-service`',
    'process, DuckDB, a throwaway PostgreSQL 15 cluster, real files, real processes.',
    '',
    '- **Audit log as an existence oracle** (`adversarial-audit.ts`): fast-check draws a way a dataset',
    '  is hidden (a deny, no grant, a row filter that cannot bind to the user: a list-valued attribute',
    '  from a token claim), one of six requests, and a name that does not exist; the user\'s own',
    '  records of the hidden and the missing request, read through `warden.audit_log`, must be equal',
    '  field by field (names blanked), while compliance sees `actual_outcome = denied` and the policy.',
    '- **Input that could break the log**: lone surrogates, NUL, control characters and long text sent',
    '  over HTTP in filters, dataset names and the notebook header; and fast-check strings (any UTF-16,',
    '  long runs of NUL and surrogates) written straight into the file and PostgreSQL sinks, each read',
    '  back through `warden.audit_log` by compliance and compared exactly.',
    '- **One record failing others (PostgreSQL)**: the audit table is locked (`LOCK TABLE ... SHARE ROW',
    '  EXCLUSIVE`) while 120 (60) requests of several users start, so that their records commit as one',
    '  batch; one carries a NUL byte in its dataset name; then a `CHECK` constraint added to the table',
    '  refuses one record.',
    '- **Audit file deleted and rotated**: a spawned service process; its live audit file is deleted',
    '  (`unlink`) between previews, then renamed to `audit.jsonl.N` every 40 ms while three users',
    '  preview; the process is stopped and started again and compliance reads every released request\'s',
    '  record through `warden.audit_log`. Records in the deleted file are the deleter\'s loss and not counted.',
    '- **Half-written policy files** (`adversarial-config.ts`): a separate Node process rewrites',
    '  `policies/masking.yaml` in two parts, the first valid YAML without the placebo cell mask: with one',
    '  open handle, 1.5 s between the parts (fsync\'d), and closing and reopening the file 250 ms apart;',
    '  an analyst previews all the while and counts placebo events in clear.',
    '- **Deploys**: a Kubernetes-style `..data` symlink swap and a rename over a policy file under a',
    '  watching service; the reload log must carry one JSON line for each weakening.',
    '- **Logs in the config directory**: the audit file configured inside the config directory and a',
    '  service log appended every 250 ms for 3 s while requests run.',
    '- **Served files swapped after load**: the served Parquet file replaced by a symbolic link to a',
    '  same-schema file outside the data roots or to an unlisted file inside them, its directory by a',
    '  link, or the file by a FIFO (`mkfifo`).',
    '- **Policies naming missing columns or comparing other types**: fast-check writes a policy file',
    '  (effect, dataset selector by name, pattern or tag, column or value) and starts a service on it;',
    '  it must be refused with file and line, or start with every dataset still served and every',
    '  request running without an engine error.',
    '- **Engine errors quoting data** (`adversarial-errors.ts`): datasets of arbitrary values (fast-check)',
    '  as Parquet, CSV, JSON lines and a PostgreSQL table; fast-check draws callers whose token claims',
    '  give the attributes of row filters any type, the dataset, preview, scan or describe, and filters',
    '  comparing columns with literals and columns of any kind (ISO-looking non-dates, numbers beyond',
    '  the column\'s type included); no error answer and no record the caller reads back may contain a',
    '  value of the data. In the middle of a stream: a CSV whose line 1,500,002 has text in an integer',
    '  column, a PostgreSQL view whose cast fails in the cursor\'s second fetch.',
    '- **Clients that do not take the whole answer** (`adversarial-delivery.ts`): a spawned service',
    '  process and Python socket clients (they take from the kernel exactly what they ask for): 4 bytes',
    '  of a preview or of a 27 MB scan then a close, 70 KB then a 1 s stall then a close, the whole',
    '  answer then a close, the whole answer then a second request on the connection. Through a real',
    '  Jupyter server (`tests/python/test_jupyter_integration.py`): a browser reads 70 KB of a 27 MB scan,',
    '  stalls 2 s and closes.',
    '- **Silent refusals** (`adversarial-logs.ts`): a spawned service process; 404s, 401s, 400s, a reload',
    '  refused (a broken policy file) and one applied, each asked for by `SIGHUP`; then 300 404s at once.',
    '  Every refusal and reload outcome must have its JSON line, and the flood\'s lines be few but count it all.',
    '- **Malformed input** (`adversarial-input.ts`): requests written byte for byte on raw sockets: the',
    '  notebook header `%E0%A4%A` on each of the six routes (for a visible dataset, and for one hidden from',
    '  the caller), the dataset name `%E0%A4%A` in the path, scan bodies that are not JSON, of the wrong',
    '  shape, with an unknown key, a filter that does not parse or over 64 KB, a preview limit `ten`, a',
    '  snippet flavour `excel`, the wrong method, no token; request targets that are no URL path (`//[/x`),',
    '  a control character in a header, raw bytes in the path; and fast-check bytes (any but CR and LF,',
    '  which end the header) in `X-Warden-Notebook`, `X-Warden-Client` or `Authorization` on any route.',
    '  Every answer must be a 4xx with a JSON message (never a 5xx), and every request a route read must',
    '  have its audit record, found by the request id its answer carries. Through a real Jupyter server',
    '  (`tests/python/test_jupyter_integration.py`): the same kinds of input from the browser, each a 400',
    '  with the service\'s message and an `invalid` record.',
    '- **The audit sink, an engine and the service failing under streams** (`adversarial-sink.ts`): spawned',
    '  service processes; scans of 200,000 rows by Python socket clients that read 4 KB, pause 3 s and read',
    '  the rest, so that they end during the fault. The audit directory is a 4 MB tmpfs (mounted as root),',
    '  filled to the last byte with a file, then given room again by deleting it; the PostgreSQL server',
    '  of the audit sink, then of a dataset\'s connection, stopped (`pg_ctl stop -m fast`) and started; a',
    '  SIGTERM; a `kill -9`, then a start. `GET /health` is asked without a token all along. The health',
    '  check itself (`health.test.ts`): the status for each combination of parts failing, 1,000 concurrent',
    '  askers, a probe that never answers.',
    '- **Memory one user can take** (`adversarial-memory.ts`): a spawned service process with small',
    '  budgets (`resources`: 256 MiB for DuckDB, one heavy query, 200 MiB of stream buffers, a 2 s stall',
    '  timeout, 3 s in the queue); 40 raw sockets send scans as three users, read the first bytes of',
    '  the answer and then nothing; then three users send six sorts at once. Every request must end in',
    '  rows or 503 with `Retry-After`, with its audit record, and the peak RSS (VmHWM) stay within the',
    '  budgets. The same at 100,000,000 rows: `node bench/run.mjs resources` ([benchmarks.md](benchmarks.md#memory-under-load-node-benchrunmjs-resources)).',
    '',
    'The same tests on the code before the fixes of issue 14 (commit 67e6d13): the two-part writer',
    'had 1,564 placebo events sent in clear in 32 previews; 130 of 131 released previews had no record',
    'in `warden.audit_log` after a delete and rotations; a lone surrogate made `warden.audit_log` fail',
    'for everyone, with the file\'s path in the message; with a `CHECK` refusing one record, 58 of',
    'the 59 other requests of its batch got 503; a served file swapped for a link served 50 rows of',
    'another file; a log in the config directory caused 12 reloads in 3 s; every hidden dataset',
    'drawn was told apart from a missing one in the user\'s own audit records; policies on missing',
    'columns or of mismatched types were accepted (the first drawn: an integer `region` against text',
    '`country`).',
    '',
    'Before the pipeline items of issue 14 (merge b57fa54), with `WARDEN_FC_SEED=4242`: 7 of 200 drawn',
    'requests were answered with a value of the data in the error (a token attribute of another type',
    'than the row filter\'s column: `Could not convert string \'...\' to INT32`), and 7 more values sat in',
    'the callers\' own records; a DuckDB stream failing at line 1,500,002 ended as if complete (23.9 MB',
    'of 25.6, recorded `completed`), and PostgreSQL\'s mid-stream error went into the caller\'s own record',
    'with the value. A client that read 4 bytes of a preview and closed was recorded `completed` with',
    'all 100 rows; through the Jupyter proxy, a browser that read 70 KB of a scan and left was recorded',
    '`completed` with 200,000 rows and 28.5 MB (the proxy read the whole answer whatever the browser took).',
    'No refusal had a line in the service log (0 of 20; a flood of 300 404s left none), and reloads were',
    'logged as free text.',
    '',
    'Before the fault and input items 6, 7 and 11 (main at 67dee62): one request with the target `//[/x`,',
    'no token needed, ended the service process (an unhandled rejection: exit 1, every stream cut); none',
    'of the 25 malformed inputs on the routes had an audit record (the notebook header, the dataset name',
    'and the method were refused before authentication, a visible dataset\'s bad scan body, preview limit',
    'and snippet flavour after it without a record). With the PostgreSQL audit sink stopped while 6 scans',
    'ended, none of their 6 `complete` records was ever written, and `/health` answered 200 `ok` (with the',
    'counts of datasets and policies, to anyone) while every request got 503; a full audit disk left a torn',
    'line in the file, and `/health` said `ok`. Streams cut by a `SIGTERM` were recorded `aborted`,',
    '`client disconnected`, and after a `kill -9` the 4 streams then running had no end at all.',
    ''
  ].join('\n');
  writeFileSync(join(__dirname, '../../../docs/adversarial.md'), doc);
}
