#!/usr/bin/env bash
# The Trino tests: installs (cached in ~/.cache/warden), starts the lake on loopback (s3s-fs,
# PostgreSQL catalog, Trino coordinator and worker), loads the demo lake's trial tables, runs
# src/service/__tests__/*.itest.ts against it with Node's test runner, and stops everything
# it started, whatever happens. Exit status: the tests'.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/trino/common.sh

started=$SECONDS
bash scripts/trino/install.sh
log "install: $((SECONDS - started)) s"

dir=$(mktemp -d /tmp/warden-trino-XXXXXX)
trap 'bash scripts/trino/cluster.sh stop "$dir"; log "the Trino step took $((SECONDS - started)) s"' EXIT
bash scripts/trino/cluster.sh start "$dir"
set -a
source "$dir/cluster.env"
set +a

# The tests generate the same demo lake (same rows, same bytes) to compare with.
export WARDEN_TRINO_DEMO_ROWS=2000
npx tsx src/service/demo/trino-lake.ts --rows "$WARDEN_TRINO_DEMO_ROWS"
for role in coordinator worker; do
  log "Trino $role RSS after loading: $(($(ps -o rss= -p "$(cat "$dir/trino-$role.pid")") / 1024)) MiB"
done
log "s3s-fs RSS: $(($(ps -o rss= -p "$(cat "$dir/s3.pid")") / 1024)) MiB"

# *.itest.ts, not *.test.ts: they need this cluster, so the plain service run leaves them out.
node --import tsx --test --test-concurrency=1 src/service/__tests__/*.itest.ts
