#!/usr/bin/env bash
# Cold start to first OK on /health, and idle RSS, on the embedded default.
# Usage: bench/startup.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
go build -trimpath -o bench/out/mlcycle ./cmd/mlcycle
go run ./bench/startup -bin bench/out/mlcycle -runs "${1:-10}"
