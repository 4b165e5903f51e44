#!/usr/bin/env bash
# Training: mlcycle's gradient-boosted trees (internal/learn/gbdt) against
# LightGBM and scikit-learn's HistGradientBoostingClassifier, on the same
# generated data, with comparable parameters (100 rounds, learning rate 0.1,
# 31 leaves, 255 bins, min 20 rows per leaf, no L2, early stopping off, all
# cores). Times only the training (binning included for every tool, reading
# the CSV excluded), prints test AUC, wall time and the ratios, plus the
# single-row prediction time of 100 trees of depth 6.
#
# Usage: bench/train.sh [--quick] [--no-python] [--only higgs|cat]
#   --quick      100k-row HIGGS-like set and 20k-row categorical set
#   --no-python  measure mlcycle only (no LightGBM / HGB, no ratios)
#   --only SET   run one data set
# Settings: MLCYCLE_BENCH_TRAIN_VENV (default ~/.cache/mlcycle-bench/train-venv)
# holds the versions pinned in bench/train/requirements.txt;
# MLCYCLE_BENCH_TRAIN_DATA (default bench/out/train-data) keeps the generated
# CSVs between runs (about 400 MB; regenerated when the generator changes);
# OMP_WAIT_POLICY (default passive here) for LightGBM and HGB: OpenMP's
# default busy-waiting makes them many times slower on a machine whose cores
# are busy with other work, which would flatter mlcycle.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
python=1
only=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) quick=1 ;;
	--no-python) python=0 ;;
	--only)
		only=$2
		shift
		;;
	-h | --help)
		sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "unknown argument $1" >&2
		exit 2
		;;
	esac
	shift
done

log() { printf '==> %s\n' "$*" >&2; }

venv=${MLCYCLE_BENCH_TRAIN_VENV:-$HOME/.cache/mlcycle-bench/train-venv}
reqs=bench/train/requirements.txt
if [[ $python == 1 ]]; then
	# Reinstall only when the pins changed since the last install.
	if ! cmp -s "$reqs" "$venv/.mlcycle-requirements.txt" 2>/dev/null; then
		log "installing $(grep -c '==' "$reqs") pinned packages into $venv"
		python3 -m venv "$venv"
		"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$reqs"
		cp "$reqs" "$venv/.mlcycle-requirements.txt"
	fi
fi

log "building bench/out/train"
mkdir -p bench/out
go build -trimpath -o bench/out/train ./bench/train

rows=1000000
cat_rows=200000
data=${MLCYCLE_BENCH_TRAIN_DATA:-bench/out/train-data}
if [[ $quick == 1 ]]; then
	rows=100000
	cat_rows=20000
	data=$data-quick
fi
# The stamp ties the files to the generator source and sizes.
stamp=$( (cat bench/train/gen.go && echo "$rows $cat_rows") | sha256sum | cut -c1-16)
if [[ $(cat "$data/stamp" 2>/dev/null) != "$stamp" ]]; then
	log "generating $rows + $cat_rows rows into $data"
	rm -rf "$data"
	bench/out/train gen -dir "$data" -rows "$rows" -cat-rows "$cat_rows"
	echo "$stamp" >"$data/stamp"
fi

threads=$(nproc)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
results=$(mktemp "${TMPDIR:-/tmp}/mlcycle-bench-train.XXXXXX")
trap 'rm -f "$results"' EXIT

for set in higgs cat; do
	if [[ -n $only && $only != "$set" ]]; then
		continue
	fi
	train=$data/${set}_train.csv
	test=$data/${set}_test.csv
	extra=()
	if [[ $set == higgs ]]; then
		extra=(-predict-bench)
	fi
	log "$set: mlcycle"
	bench/out/train fit -train "$train" -test "$test" -threads "$threads" "${extra[@]}" |
		sed "s/^{/{\"set\":\"$set\",/" >>"$results"
	if [[ $python == 1 ]]; then
		for tool in lightgbm hgb; do
			log "$set: $tool"
			"$venv/bin/python" bench/train/compare.py "$tool" "$train" "$test" "$threads" |
				sed "s/^{/{\"set\":\"$set\",/" >>"$results"
		done
	fi
done

# The table, with python when there is a venv, else the raw lines.
if [[ $python == 1 ]]; then
	"$venv/bin/python" - "$results" "$threads" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"\nthreads: {sys.argv[2]}; train s = wall time of training, cpu s = CPU time it used (steadier on a busy machine)")
print(f"{'set':6} {'tool':9} {'test AUC':>9} {'train s':>9} {'cpu s':>8} {'AUC - lgbm':>11} {'time / lgbm':>12} {'time / hgb':>11} {'cpu / lgbm':>11} {'cpu / hgb':>10}")
for s in dict.fromkeys(r["set"] for r in rows):
    by = {r["tool"]: r for r in rows if r["set"] == s}
    lg, hg = by.get("lightgbm"), by.get("hgb")
    for tool, r in by.items():
        d = f"{r['auc'] - lg['auc']:+.4f}" if lg else "-"
        tl = f"{r['train_seconds'] / lg['train_seconds']:.2f}x" if lg else "-"
        th = f"{r['train_seconds'] / hg['train_seconds']:.2f}x" if hg else "-"
        cl = f"{r['cpu_seconds'] / lg['cpu_seconds']:.2f}x" if lg else "-"
        ch = f"{r['cpu_seconds'] / hg['cpu_seconds']:.2f}x" if hg else "-"
        print(f"{s:6} {tool:9} {r['auc']:9.4f} {r['train_seconds']:9.2f} {r['cpu_seconds']:8.2f} {d:>11} {tl:>12} {th:>11} {cl:>11} {ch:>10}")
for r in rows:
    if "predict_row_us" in r:
        print(f"\nmlcycle single-row prediction, 100 trees of depth 6: {r['predict_row_us']:.2f} us wall, "
              f"{r['predict_row_cpu_us']:.2f} us CPU (goal <= 10)")
print("goals: AUC within 0.005 of LightGBM; time <= 3x LightGBM and <= 1x HGB")
PY
else
	cat "$results"
fi
