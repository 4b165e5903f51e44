#!/usr/bin/env bash
# Artifact streaming through a fresh server: upload and download throughput
# of one large generated file, and the server's peak RSS growth over idle.
# Usage: bench/artifacts.sh [size in MB, default 2048]
# Needs about that much free space in $TMPDIR (or /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
go build -trimpath -o bench/out/mlcycle ./cmd/mlcycle
go run ./bench/artifacts -bin bench/out/mlcycle -size-mb "${1:-2048}"
