#!/usr/bin/env bash
# Installs what the Trino tests need, once, into ~/.cache/warden (idempotent; run as root on a
# clean machine with only the package registries):
#   - s3s-fs (an S3-compatible server over a directory), built from crates.io;
#   - Trino's server (the core tarball plus only the Iceberg plugin) and CLI, from Maven Central;
#   - Temurin 25 is expected at /usr/lib/jvm/temurin-25-jdk-amd64 (Trino 476 needs Java 24+).
set -euo pipefail
source "$(dirname "$0")/common.sh"

need() {
  command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }
}
need mvn maven
command -v cargo >/dev/null || { echo "install.sh: no cargo (Rust 1.92 or later) to build s3s-fs with: install Rust (rustup.rs) first" >&2; exit 1; }
need openssl openssl
need unzip unzip
[ -x "$JAVA_HOME/bin/java" ] || { echo "install.sh: no Java at $JAVA_HOME (Trino $TRINO_VERSION needs Java 24+): set WARDEN_TRINO_JAVA_HOME" >&2; exit 1; }

# One install at a time per cache: runs of other worktrees on this machine wait, then find it done.
mkdir -p "$WARDEN_CACHE"
exec 9> "$WARDEN_CACHE/trino-install.lock"
flock 9

if [ ! -x "$S3S_FS" ]; then
  started=$SECONDS
  log "building s3s-fs $S3S_FS_VERSION (once: about 3 CPU-minutes, 130 MB of crates)"
  # The version is pinned and --locked builds it with the Cargo.lock published in the crate
  # (crates.io versions are immutable, cargo checks each crate's checksum against the index).
  # Its own registry and build directories, removed after: only the binary (10 MB) is kept.
  build=$WARDEN_CACHE/s3s-fs-build
  rm -rf "$build"
  CARGO_HOME=$build/cargo CARGO_TARGET_DIR=$build/target cargo install --quiet --locked "s3s-fs@$S3S_FS_VERSION" --features binary \
    --root "$build/root"
  mkdir -p "$(dirname "$S3S_FS")"
  mv "$build/root/bin/s3s-fs" "$S3S_FS"
  rm -rf "$build"
  log "s3s-fs built in $((SECONDS - started)) s"
fi

# Maven runs on the JDK above; its Guava would warn on every run that it uses sun.misc.Unsafe.
maven_get() {
  MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" \
    mvn -q -B -Dmaven.repo.local="$MAVEN_REPO" dependency:get -Dtransitive=false -Dartifact="$1"
}

if [ ! -f "$TRINO_HOME/.complete" ]; then
  started=$SECONDS
  log "downloading Trino $TRINO_VERSION (core server, Iceberg plugin, CLI)"
  maven_get "io.trino:trino-server-core:$TRINO_VERSION:tar.gz"
  maven_get "io.trino:trino-iceberg:$TRINO_VERSION:zip"
  maven_get "io.trino:trino-cli:$TRINO_VERSION:jar:executable"
  rm -rf "$TRINO_HOME" "$TRINO_HOME.tmp"
  mkdir -p "$TRINO_HOME.tmp"
  # Only the server and the plugins used here (about a third of the tarball's plugin bytes).
  tar -xzf "$MAVEN_REPO/io/trino/trino-server-core/$TRINO_VERSION/trino-server-core-$TRINO_VERSION.tar.gz" \
    -C "$TRINO_HOME.tmp" --strip-components=1 \
    --exclude='*/plugin/exchange-filesystem' --exclude='*/plugin/functions-python' --exclude='*/plugin/geospatial' \
    --exclude='*/plugin/resource-group-managers' --exclude='*/plugin/session-property-managers' \
    --exclude='*/plugin/spooling-filesystem' --exclude='*/bin/darwin-*' --exclude='*/bin/linux-arm64' --exclude='*/bin/linux-ppc64le'
  unzip -q "$MAVEN_REPO/io/trino/trino-iceberg/$TRINO_VERSION/trino-iceberg-$TRINO_VERSION.zip" -d "$TRINO_HOME.tmp/plugin"
  mv "$TRINO_HOME.tmp/plugin/trino-iceberg-$TRINO_VERSION" "$TRINO_HOME.tmp/plugin/iceberg"
  touch "$TRINO_HOME.tmp/.complete"
  mv "$TRINO_HOME.tmp" "$TRINO_HOME"
  log "Trino $TRINO_VERSION installed in $((SECONDS - started)) s ($(du -sh "$TRINO_HOME" | cut -f1))"
fi
