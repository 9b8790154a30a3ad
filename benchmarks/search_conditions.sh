#!/usr/bin/env bash
# The search benchmark of issue #11 over conditions, structures and scores; one JSON per run
# in $OUT (default runs/search) and the printed summaries in $OUT/summary.txt.
#   bash benchmarks/search_conditions.sh            # ~1 h on one core
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/search}
PY=${PYTHON:-python}
mkdir -p "$OUT"
run() {  # name, then benchmark arguments
  local name=$1; shift
  [ -f "$OUT/$name.json" ] && return 0   # resumable: finished runs are kept
  echo "== $name: $*" | tee -a "$OUT/summary.txt"
  $PY benchmarks/global_search.py --json "$OUT/$name.json.partial" "$@" | tail -n 1 | tee -a "$OUT/summary.txt"
  mv "$OUT/$name.json.partial" "$OUT/$name.json"
}
for score in rcs fcs; do
  for structure in ribosome30s groel_arc phantom; do
    run "t60_snr0.5_${structure}_${score}" --pairs 20 --structure "$structure" --tilt 60 --snr 0.5 score=$score
  done
done
for structure in ribosome30s groel_arc phantom; do
  run "t40_inf_${structure}_rcs" --pairs 10 --structure "$structure" --tilt 40 --snr inf
  run "t50_snr0.5_${structure}_rcs" --pairs 10 --structure "$structure" --tilt 50 --snr 0.5
done
for interval in 60 30 10; do
  run "sampling${interval}_phantom" --pairs 20 --tilt 60 --snr 0.5 sampler=euler_grid sampler.interval_deg=$interval
done
