#!/usr/bin/env bash
# Tracking throughput and search latency: mlcycle against the real
# `mlflow server`, both on their default SQLite store, driven by the same Go
# load generator (bench/tracking) over the MLflow REST API on 127.0.0.1.
#
# Usage: bench/tracking.sh [--quick] [--postgres] [--no-mlflow] [flags for bench/tracking, e.g. -json out.json]
#   --quick      small counts (a smoke run of about a minute)
#   --no-mlflow  measure mlcycle only (no ratio lines)
#   --postgres   also measure mlcycle on PostgreSQL (or MLCYCLE_BENCH_POSTGRES=1);
#                uses the private test cluster from scripts/pg-env, in a fresh schema
# Settings: MLCYCLE_BENCH_VENV (default ~/.cache/mlcycle-bench/venv) holds mlflow,
# pinned to the version in tests/compat/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
mlflow=1
postgres=${MLCYCLE_BENCH_POSTGRES:-0}
extra=()
for arg in "$@"; do
	case $arg in
	--quick) quick=1 ;;
	--postgres) postgres=1 ;;
	--no-mlflow) mlflow=0 ;;
	-h | --help)
		sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) extra+=("$arg") ;;
	esac
done

log() { printf '==> %s\n' "$*" >&2; }

# The mlflow the compatibility tests use; this fallback is the newest release
# whose dependencies all install (3.18.0 needs an unpublished mlflow-skinny).
pin=$(sed -n 's/^mlflow==\([0-9][0-9.]*\).*/\1/p' tests/compat/requirements.txt 2>/dev/null | head -n 1)
pin=${pin:-3.17.2}
venv=${MLCYCLE_BENCH_VENV:-$HOME/.cache/mlcycle-bench/venv}
if [[ $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))' 2>/dev/null) != "$pin" ]]; then
	log "installing mlflow==$pin into $venv"
	python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check "mlflow==$pin"
fi

log "building mlcycle and the load generator"
mkdir -p bench/out
go build -trimpath -o bench/out/mlcycle ./cmd/mlcycle
go build -trimpath -o bench/out/tracking ./bench/tracking

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlcycle-bench-tracking.XXXXXX")
pids=()
schema=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local pid
	# Each server runs in its own process group (setsid), so this also stops
	# mlflow's worker processes.
	for pid in "${pids[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n $schema ]]; then
		psql "$TEST_DATABASE_URL" -X -q -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start NAME CMD...: runs CMD in its own process group, logging to $tmp/NAME.log.
start() {
	local name=$1
	shift
	setsid "$@" >"$tmp/$name.log" 2>&1 </dev/null &
	pids+=("$!")
}

# wait_health NAME URL: waits up to 120s for OK on URL/health.
wait_health() {
	local name=$1 url=$2 i
	for ((i = 0; i < 600; i++)); do
		if [[ $(curl -fsS --max-time 2 "$url/health" 2>/dev/null) == OK ]]; then
			return 0
		fi
		sleep 0.2
	done
	log "$name did not answer OK on $url/health within 120s; last lines of its log:"
	tail -n 30 "$tmp/$name.log" >&2
	exit 1
}

# Defaults are kept on both servers: that is what users run (mlflow: uvicorn
# with 4 workers; mlcycle: info logging).
targets=()
if [[ $mlflow == 1 ]]; then
	p1=$(free_port)
	log "starting mlflow $pin on 127.0.0.1:$p1"
	start mlflow "$venv/bin/mlflow" server --host 127.0.0.1 --port "$p1" \
		--backend-store-uri "sqlite:///$tmp/mlflow.db" --default-artifact-root "$tmp/mlruns"
	targets+=(-mlflow "http://127.0.0.1:$p1")
fi
p2=$(free_port)
log "starting mlcycle on 127.0.0.1:$p2"
start mlcycle bench/out/mlcycle server --port "$p2" --data-dir "$tmp/mlcycle"
targets+=(-mlcycle "http://127.0.0.1:$p2")

if [[ $postgres == 1 ]]; then
	eval "$(scripts/pg-env)"
	schema="bench_$(date +%s)_$$"
	psql "$TEST_DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE SCHEMA $schema"
	case $TEST_DATABASE_URL in
	*\?*) pgurl="$TEST_DATABASE_URL&search_path=$schema" ;;
	*) pgurl="$TEST_DATABASE_URL?search_path=$schema" ;;
	esac
	p3=$(free_port)
	log "starting mlcycle on PostgreSQL (schema $schema) on 127.0.0.1:$p3"
	start mlcycle-pg bench/out/mlcycle server --port "$p3" --data-dir "$tmp/mlcycle-pg" --db "$pgurl"
	targets+=(-mlcycle-pg "http://127.0.0.1:$p3")
fi

if [[ $mlflow == 1 ]]; then
	wait_health mlflow "http://127.0.0.1:$p1"
fi
wait_health mlcycle "http://127.0.0.1:$p2"
if [[ $postgres == 1 ]]; then
	wait_health mlcycle-pg "http://127.0.0.1:$p3"
fi

counts=()
if [[ $quick == 1 ]]; then
	counts=(-batches 20 -runs 2000 -mlflow-runs 300 -searches 10
		-log-timeout 30s -seed-timeout 40s -search-timeout 20s)
fi
log "running the load (each server in turn)"
rc=0
bench/out/tracking "${targets[@]}" "${counts[@]}" "${extra[@]}" || rc=$?
if ((rc != 0)); then
	log "some requests failed or answers were wrong (see above); server logs:"
	for f in "$tmp"/*.log; do
		log "$f (last 20 lines)"
		tail -n 20 "$f" >&2
	done
fi
exit "$rc"
