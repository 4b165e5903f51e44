#!/usr/bin/env bash
# Dataset versioning: `add` with mlcycle's dataset engine against `dvc add`
# (pinned DVC), on the same generated data: 1 GB as 10,000 files and 1 GB as
# one CSV; then the no-op re-add of the unchanged tree; then the CSV add with
# profiling against parsing the CSV alone with the same reader.
#
# Usage: bench/datasets.sh [--quick] [--no-dvc] [flags for bench/datasets, e.g. -tmp /data/tmp -keep]
#   --quick    1,000 files of 100 MB in all and a 100 MB CSV (about a minute)
#   --no-dvc   measure mlcycle only (no ratio lines)
# Settings: DVC goes into its own venv beside MLCYCLE_BENCH_VENV (default
# ~/.cache/mlcycle-bench/venv), named dvc-venv (or MLCYCLE_BENCH_DVC_VENV), so
# its dependencies never disturb the mlflow the tracking benchmark uses.
# Needs about 6.5x the data size free in $TMPDIR (a copy of the data per tool, their stores: 13 GB).
set -euo pipefail
cd "$(dirname "$0")/.."

dvc_pin=3.67.1
use_dvc=1
extra=()
for arg in "$@"; do
	case $arg in
	--quick) extra+=(-quick) ;;
	--no-dvc) use_dvc=0 ;;
	-h | --help)
		sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) extra+=("$arg") ;;
	esac
done

log() { printf '==> %s\n' "$*" >&2; }

dvc_bin=""
if [[ $use_dvc == 1 ]]; then
	venv=${MLCYCLE_BENCH_VENV:-$HOME/.cache/mlcycle-bench/venv}
	venv=${MLCYCLE_BENCH_DVC_VENV:-$(dirname "$venv")/dvc-venv}
	if [[ $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("dvc"))' 2>/dev/null) != "$dvc_pin" ]]; then
		log "installing dvc==$dvc_pin into $venv"
		python3 -m venv "$venv"
		"$venv/bin/pip" install --quiet --disable-pip-version-check "dvc==$dvc_pin"
	fi
	dvc_bin=$venv/bin/dvc
	log "$("$dvc_bin" --version 2>/dev/null | head -n 1 | sed 's/^/dvc /')"
	command -v git >/dev/null || { log "git is needed for dvc init"; exit 1; }
fi

log "building mlcycle and the benchmark"
mkdir -p bench/out
go build -trimpath -o bench/out/mlcycle ./cmd/mlcycle
go build -trimpath -o bench/out/datasets ./bench/datasets
exec bench/out/datasets -mlcycle bench/out/mlcycle -dvc "$dvc_bin" "${extra[@]}"
