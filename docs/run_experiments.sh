#!/usr/bin/env bash
# Runs every experiment behind docs/results.md into $OUT (default runs/docs), then writes
# the report. Resumable: rerunning skips finished jobs' pairs (rows.jsonl). Needs the
# shared structures (../shared/data/structures) for the classification experiment.
#   bash docs/run_experiments.sh            # full run (about 2 h on 2 cores)
#   QUICK=1 OUT=/tmp/quick bash docs/run_experiments.sh   # CI-sized variant of every experiment
#   REPORT=docs/results.md NOTES=docs/results_notes.md bash docs/run_experiments.sh   # docs/results.md
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/docs}
STRUCTURES=${STRUCTURES:-$(cd ../shared/data/structures 2>/dev/null && pwd || echo missing)}
mkdir -p "$OUT"
: > "$OUT/commands.txt"
started=$(date +%s)

run() {  # run NAME ARGS...: one multirun into $OUT/NAME, its command kept for the report
    local name=$1; shift
    echo "subalign experiment -m $* hydra.sweep.dir=$OUT/$name" >> "$OUT/commands.txt"
    subalign experiment -m "$@" "hydra.sweep.dir=$OUT/$name"
}

if [[ -n "${QUICK:-}" ]]; then
    run table1_2 experiment=table1_2 n_pairs=2 snr=0.5 tilt=60,40 sampler.interval_deg=60 score=rcs
    run table3_4 experiment=table3_4 n_pairs=2 snr=0.5 tilt=60,40 sampler.interval_deg=60 score=fcs
    run convergence experiment=convergence n_pairs=2 score=rcs,fcs
    run speedup experiment=speedup n_pairs=1 sampler.interval_deg=60 score=rcs
    run averaging experiment=averaging averaging.n=6 averaging.iterations=2 workers=1
    run classification experiment=classification classification.per_class=2 workers=1 \
        "classification.structures_dir=$STRUCTURES"
    run baseline experiment=baseline n_pairs=1 method=stochastic60,scan10 sampler.interval_deg=45
else
    run table1_2_key experiment=table1_2 n_pairs=50 snr=0.5 tilt=60 sampler.interval_deg=60 \
        score=rcs,fcs workers=2
    run convergence experiment=convergence n_pairs=20 workers=2
    run speedup experiment=speedup n_pairs=10 workers=2
    run averaging experiment=averaging averaging.n=300 averaging.iterations=2 workers=2
    run table3_4 experiment=table3_4 n_pairs=5 workers=1
    run table1_2 experiment=table1_2 n_pairs=3 workers=1
    run baseline experiment=baseline n_pairs=3 workers=2
    run classification experiment=classification classification.per_class=10 workers=2 \
        "classification.structures_dir=$STRUCTURES"
fi
echo "wall time: $(( $(date +%s) - started )) s" >> "$OUT/commands.txt"
subalign report "$OUT" --output "${REPORT:-$OUT/report.md}" --title "subalign: the paper's experiments" \
    ${NOTES:+--notes "$NOTES"}
