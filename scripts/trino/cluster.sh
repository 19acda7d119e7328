#!/usr/bin/env bash
# A throwaway lake on loopback: s3s-fs (S3), a Trino coordinator and worker (two JVMs) with
# an Iceberg catalog `lake` whose data and metadata files live in the S3 bucket, and Iceberg's
# JDBC catalog (which table is at which metadata file) in a PostgreSQL 15 database.
#
#   cluster.sh start DIR   writes configs and secrets into DIR, starts everything on free
#                          127.0.0.1 ports, waits until a query answers on the worker, and
#                          writes DIR/cluster.env (what tests need: URL, users, CA file).
#   cluster.sh stop DIR    stops what DIR's pid files name (by PID), then removes DIR.
#
# Security, as the service would meet it: clients reach the coordinator only over HTTPS
# (self-signed certificate, DIR/tls/ca.pem) with a password (file authenticator); Trino's
# file-based access control gives `warden` read-only access to `lake` and `loader` write
# access. The S3 keys are random per cluster; s3s-fs takes them on its command line only, so
# other local users could see them in `ps`: the lake holds test data only.
set -euo pipefail
source "$(dirname "$0")/common.sh"

command=${1:-}
dir=${2:-}
[ -n "$command" ] && [ -n "$dir" ] || { echo "usage: cluster.sh start|stop DIR" >&2; exit 2; }

# Stops the process a pid file names: TERM, then KILL after `seconds`.
stop_pid() {
  local name=$1 seconds=$2 file=$dir/$1.pid
  [ -f "$file" ] || return 0
  local pid
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 $((seconds * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "$name (pid $pid) did not stop in $seconds s: killing it"; kill -KILL "$pid"; }
  fi
  rm -f "$file"
}

PG_BIN=${WARDEN_TEST_PG_BIN:-/usr/lib/postgresql/15/bin}
# PostgreSQL refuses to run as root: as root it runs as the postgres OS user.
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_postgres() {
  [ -f "$dir/postgres/data/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$dir/postgres/data" -m fast -w stop > /dev/null 2>&1 || true
}

stop_all() {
  stop_pid trino-worker 20
  stop_pid trino-coordinator 20
  stop_pid s3 3
  stop_postgres
}

stop() {
  stop_all
  rm -rf "$dir"
}

if [ "$command" = stop ]; then
  stop
  exit 0
fi
[ "$command" = start ] || { echo "usage: cluster.sh start|stop DIR" >&2; exit 2; }
[ -x "$S3S_FS" ] && [ -f "$TRINO_HOME/.complete" ] || { echo "cluster.sh: run scripts/trino/install.sh first" >&2; exit 1; }

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# Others may only pass through (the postgres user to its data directory); files are the owner's.
chmod 711 "$dir"
umask 077
started=$SECONDS
# Whatever fails below leaves nothing running.
trap 'status=$?; [ $status -eq 0 ] || { log "start failed; logs in $dir/*.log"; tail -n 30 "$dir"/*.log >&2 || true; stop_all; }' EXIT

secret() { openssl rand -hex 24; }
BUCKET=warden-lake
S3_ACCESS_KEY=$(secret)
S3_SECRET_KEY=$(secret)
WARDEN_PASSWORD=$(secret)
LOADER_PASSWORD=$(secret)
ANALYST_PASSWORD=$(secret)
CATALOG_PASSWORD=$(secret)

# --- PostgreSQL: Iceberg's JDBC catalog ------------------------------------------------------
PG_PORT=$(free_port)
mkdir -p "$dir/postgres"
[ "$(id -u)" = 0 ] && chown postgres: "$dir/postgres"
echo "$CATALOG_PASSWORD" > "$dir/postgres/pwfile"
[ "$(id -u)" = 0 ] && chown postgres: "$dir/postgres/pwfile"
as_postgres "$PG_BIN/initdb" -D "$dir/postgres/data" -U iceberg --pwfile="$dir/postgres/pwfile" --auth=scram-sha-256 \
  --no-sync -E UTF8 --locale=C > "$dir/postgres.log" 2>&1
rm "$dir/postgres/pwfile"
as_postgres "$PG_BIN/pg_ctl" -D "$dir/postgres/data" -l "$dir/postgres/server.log" -w start \
  -o "-p $PG_PORT -k $dir/postgres -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB -c max_connections=40" >> "$dir/postgres.log" 2>&1
as_postgres env PGPASSWORD="$CATALOG_PASSWORD" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U iceberg iceberg_catalog
# Trino's JDBC catalog expects Iceberg's catalog tables to exist (it only adds columns to them).
as_postgres env PGPASSWORD="$CATALOG_PASSWORD" "$PG_BIN/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U iceberg iceberg_catalog <<'SQL' >> "$dir/postgres.log"
CREATE TABLE iceberg_namespace_properties (
  catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL,
  property_key VARCHAR(255), property_value VARCHAR(1000),
  PRIMARY KEY (catalog_name, namespace, property_key));
CREATE TABLE iceberg_tables (
  catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL,
  metadata_location VARCHAR(1000), previous_metadata_location VARCHAR(1000),
  PRIMARY KEY (catalog_name, table_namespace, table_name));
SQL

# --- s3s-fs: the bucket is a directory under DIR/s3 ----------------------------------------
S3_PORT=$(free_port)
mkdir -p "$dir/s3/$BUCKET"
setsid "$S3S_FS" --host 127.0.0.1 --port "$S3_PORT" --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$dir/s3" \
  > "$dir/s3.log" 2>&1 < /dev/null &
echo $! > "$dir/s3.pid"

# --- Trino configuration -------------------------------------------------------------------
HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
WORKER_PORT=$(free_port)
etc=$dir/etc
mkdir -p "$etc/catalog" "$dir/tls"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
  -keyout "$dir/tls/key.pem" -out "$dir/tls/ca.pem" 2>/dev/null
cat "$dir/tls/key.pem" "$dir/tls/ca.pem" > "$dir/tls/coordinator.pem"
chmod 644 "$dir/tls/ca.pem"

# PBKDF2 entries for Trino's password file: iterations:salt:hash, hex, HMAC-SHA1 (what Trino's file authenticator checks).
password_entry() {
  python3 - "$1" "$2" <<'PY'
import hashlib, os, sys
user, password = sys.argv[1], sys.argv[2]
salt = os.urandom(16)
print(f"{user}:10000:{salt.hex()}:{hashlib.pbkdf2_hmac('sha1', password.encode(), salt, 10000, 64).hex()}")
PY
}
{ password_entry warden "$WARDEN_PASSWORD"; password_entry loader "$LOADER_PASSWORD"; password_entry analyst "$ANALYST_PASSWORD"; } > "$etc/password.db"
cat > "$etc/password-authenticator.properties" <<PROPS
password-authenticator.name=file
file.password-file=$etc/password.db
PROPS

# warden: read-only on the lake, its own queries in system.runtime; loader: everything;
# analyst: a colleague with SQL on Trino but not on the lake. Each user sees only their own
# queries, but loader (which owns the raw tables) all of them: warden's queries carry the
# derived masking keys as bound values (docs/engines.md), so nobody else may view them.
cat > "$etc/rules.json" <<'JSON'
{
  "catalogs": [
    {"user": "loader", "allow": "all"},
    {"user": "warden", "catalog": "(lake|system)", "allow": "read-only"},
    {"user": "analyst", "catalog": "system", "allow": "read-only"}
  ],
  "schemas": [
    {"user": "loader", "owner": true},
    {"user": "warden", "owner": false}
  ],
  "tables": [
    {"user": "loader", "privileges": ["SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP", "GRANT_SELECT"]},
    {"user": "warden", "catalog": "(lake|system)", "privileges": ["SELECT"]},
    {"user": "analyst", "catalog": "system", "privileges": ["SELECT"]}
  ],
  "queries": [
    {"user": "loader", "allow": ["execute", "view", "kill"]},
    {"user": "(warden|analyst)", "allow": ["execute"]}
  ],
  "system_information": [
    {"user": "loader", "allow": ["read"]}
  ]
}
JSON
cat > "$etc/access-control.properties" <<PROPS
access-control.name=file
security.config-file=$etc/rules.json
PROPS

# The lake: Iceberg tables in the bucket; Iceberg's JDBC catalog in PostgreSQL records each
# table's current metadata file (Trino 476's Iceberg connector offers no file metastore but
# for its own tests, and a Hive metastore would be one more JVM).
cat > "$etc/catalog/lake.properties" <<PROPS
connector.name=iceberg
iceberg.catalog.type=jdbc
iceberg.jdbc-catalog.catalog-name=lake
iceberg.jdbc-catalog.driver-class=org.postgresql.Driver
iceberg.jdbc-catalog.connection-url=jdbc:postgresql://127.0.0.1:$PG_PORT/iceberg_catalog
iceberg.jdbc-catalog.connection-user=iceberg
iceberg.jdbc-catalog.connection-password=\${ENV:WARDEN_CATALOG_PASSWORD}
iceberg.jdbc-catalog.default-warehouse-dir=s3://$BUCKET/warehouse
iceberg.file-format=PARQUET
fs.native-s3.enabled=true
s3.endpoint=http://127.0.0.1:$S3_PORT
s3.region=us-east-1
s3.path-style-access=true
s3.aws-access-key=\${ENV:WARDEN_S3_ACCESS_KEY}
s3.aws-secret-key=\${ENV:WARDEN_S3_SECRET_KEY}
PROPS

SHARED_SECRET=$(secret)
# Sized for 2 cores and 24 GiB shared with the other tests: small heaps, few threads.
common_properties() {
  cat <<PROPS
node.environment=warden_test
node.bind-ip=127.0.0.1
node.internal-address=127.0.0.1
plugin.dir=$TRINO_HOME/plugin
catalog.config-dir=$etc/catalog
discovery.uri=http://127.0.0.1:$HTTP_PORT
internal-communication.shared-secret=$SHARED_SECRET
query.max-memory=512MB
query.max-memory-per-node=256MB
task.concurrency=2
task.max-worker-threads=4
task.min-drivers=2
node-scheduler.max-splits-per-node=16
http-server.log.enabled=false
PROPS
}
mkdir -p "$dir/coordinator" "$dir/worker"
{
  common_properties coordinator
  cat <<PROPS
node.id=coordinator
coordinator=true
node-scheduler.include-coordinator=false
http-server.http.port=$HTTP_PORT
http-server.https.enabled=true
http-server.https.port=$HTTPS_PORT
http-server.https.keystore.path=$dir/tls/coordinator.pem
http-server.authentication.type=PASSWORD
password-authenticator.config-files=$etc/password-authenticator.properties
access-control.config-files=$etc/access-control.properties
PROPS
} > "$dir/coordinator/config.properties"
{
  common_properties worker
  cat <<PROPS
node.id=worker-1
coordinator=false
http-server.http.port=$WORKER_PORT
PROPS
} > "$dir/worker/config.properties"

start_trino() {
  local role=$1 heap=$2
  WARDEN_S3_ACCESS_KEY=$S3_ACCESS_KEY WARDEN_S3_SECRET_KEY=$S3_SECRET_KEY WARDEN_CATALOG_PASSWORD=$CATALOG_PASSWORD setsid "$JAVA_HOME/bin/java" \
    -Xmx"$heap" -Xss2M -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:ReservedCodeCacheSize=128M -XX:TieredStopAtLevel=4 \
    -XX:+UseCompressedOops -Djdk.attach.allowAttachSelf=true --enable-native-access=ALL-UNNAMED \
    -Dconfig="$dir/$role/config.properties" -Dlog.output-file="$dir/trino-$role.log" -Dlog.enable-console=false \
    -cp "$TRINO_HOME/lib/*" io.trino.server.TrinoServer > "$dir/trino-$role.out" 2>&1 < /dev/null &
  echo $! > "$dir/trino-$role.pid"
}

# The store first (Trino's catalog checks nothing at start, but the loader will need it).
for _ in $(seq 1 150); do
  if curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/"; then break; fi
  kill -0 "$(cat "$dir/s3.pid")" 2>/dev/null || { log "s3s-fs exited"; exit 1; }
  sleep 0.2
done
start_trino coordinator 1G
start_trino worker 1G

cat > "$dir/cluster.env" <<ENV
WARDEN_TRINO_URL=https://127.0.0.1:$HTTPS_PORT
WARDEN_TRINO_CA=$dir/tls/ca.pem
WARDEN_TRINO_USER=warden
WARDEN_TRINO_PASSWORD=$WARDEN_PASSWORD
WARDEN_TRINO_LOADER_USER=loader
WARDEN_TRINO_LOADER_PASSWORD=$LOADER_PASSWORD
WARDEN_TRINO_ANALYST_USER=analyst
WARDEN_TRINO_ANALYST_PASSWORD=$ANALYST_PASSWORD
WARDEN_TRINO_CATALOG=lake
WARDEN_TRINO_HTTP_PORT=$HTTP_PORT
WARDEN_TRINO_DIR=$dir
ENV

# Ready when the worker is registered and a query runs on it.
query_as_loader() {
  # No terminal here: the CLI's line editor is told so, rather than warning about it.
  TRINO_PASSWORD=$LOADER_PASSWORD "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Dorg.jline.terminal.dumb=true -jar "$TRINO_CLI_JAR" --server "https://127.0.0.1:$HTTPS_PORT" \
    --truststore-path "$dir/tls/ca.pem" --user loader --password --output-format TSV --execute "$1"
}
ready=
for _ in $(seq 1 120); do
  for role in coordinator worker; do
    kill -0 "$(cat "$dir/trino-$role.pid")" 2>/dev/null || { log "Trino $role exited"; exit 1; }
  done
  if curl -s "http://127.0.0.1:$HTTP_PORT/v1/info" | grep -q '"starting":false' &&
    [ "$(query_as_loader "SELECT count(*) FROM system.runtime.nodes WHERE state = 'active' AND NOT coordinator" 2>/dev/null)" = 1 ]; then
    ready=1
    break
  fi
  sleep 1
done
[ -n "$ready" ] || { log "Trino did not become ready in 120 s"; exit 1; }
query_as_loader "SELECT count(*) FROM (VALUES 1, 2, 3) AS t(x)" > /dev/null
log "started in $((SECONDS - started)) s: $(grep WARDEN_TRINO_URL "$dir/cluster.env"), S3 on 127.0.0.1:$S3_PORT"
