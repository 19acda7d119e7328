# Shared by the Trino scripts (sourced, not run): pinned versions and where things are cached.
# Everything downloaded or built goes under $WARDEN_CACHE (~/.cache/warden), outside the clone,
# so a CI run on the same machine reuses it.

TRINO_VERSION=476 # the newest trino-server-core and trino-iceberg on Maven Central here
# s3s-fs: an S3 server over a directory, from crates.io (0.15 and later need Rust 1.96; the machines have 1.95).
S3S_FS_VERSION=0.14.1

WARDEN_CACHE=${WARDEN_CACHE:-$HOME/.cache/warden}
export JAVA_HOME=${WARDEN_TRINO_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}

MAVEN_REPO=$WARDEN_CACHE/m2
TRINO_HOME=$WARDEN_CACHE/trino-server-$TRINO_VERSION
TRINO_CLI_JAR=$MAVEN_REPO/io/trino/trino-cli/$TRINO_VERSION/trino-cli-$TRINO_VERSION-executable.jar
S3S_FS=$WARDEN_CACHE/s3s-fs-$S3S_FS_VERSION/bin/s3s-fs
# rustup's cargo, where the machines have it.
export PATH=$PATH:$HOME/.cargo/bin

# A free TCP port on the loopback interface (the kernel picks; racy only against other binds).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

log() {
  echo "trino-cluster: $*" >&2
}
