#!/usr/bin/env bash
# The sweep scaling benchmark of docs/sweeps.md: a 1,000-point predictor sweep and a 100-point
# simulator sweep, each run by one process, by `mpirun -n 1` and by `mpirun -n 2`; the exported
# CSVs (results without host facts) must be byte-identical. Usage: docs/tools/sweep_bench.sh [CODA] [WORKDIR]
set -euo pipefail
repo=$(realpath "$(dirname "$0")/../..")
coda=$(realpath "${1:-$repo/build/release/bin/coda}")
work=${2:-$(mktemp -d)}
mkdir -p "$work" && cd "$work"
mpi=(mpirun --allow-run-as-root --oversubscribe)

# A predictor fitted on the quick layer space (GPU and CPU, FP32 and FP16, three GPU clocks).
if [ ! -f predictor.json ]; then
  "$coda" profile --space "$repo/models/spaces/quick.yaml" --out traces.csv > /dev/null
  "$coda" fit --traces traces.csv --out predictor.json --folds 5 --no-lono > /dev/null
fi

cat > predictor-sweep.yaml <<'SPEC'
name: predictor-1000
evaluator: predictor:predictor.json
design: {kind: grid}
batch_points: 50
axes:
  - network: [zoo:resnet18, zoo:resnet50, zoo:mobilenet_v1, zoo:vgg16]
  - config: [exact, knob:12]
  - batch: [1, 2, 4, 8, 16]
  - set: gpu.freq_mhz
    values: [318.75, 522.75, 854.25, 1122, 1300.5]
  - set: cpu.freq_mhz
    values: [345.6, 806.4, 1267.2, 1728, 2035.2]
SPEC

cat > sim-sweep.yaml <<'SPEC'
name: sim-100
evaluator: sim
network: zoo:resnet18
design: {kind: grid}
batch_points: 10
axes:
  - config: [exact, knob:3, knob:12, knob:81]
  - set: gpu.freq_mhz
    values: [318.75, 522.75, 854.25, 1122, 1300.5]
  - set: dram.bandwidth_gbs
    values: [12.8, 25.6, 38.4, 51.2, 59.7]
SPEC

run() {  # label, spec, db, command...
  local label=$1 spec=$2 db=$3; shift 3
  rm -f "$db" "$db-wal" "$db-shm"
  local start end
  start=$(date +%s.%N)
  "$@" sweep --spec "$spec" --db "$db" --json > "$db.json"
  end=$(date +%s.%N)
  "$coda" sweep export --db "$db" --csv "$db.csv" > /dev/null
  printf '%-28s command %6.2f s   sweep phase %6.2f s   %s points\n' "$label" "$(echo "$end - $start" | bc)" \
    "$(grep -o '"wall_s": [0-9.e-]*' "$db.json" | cut -d' ' -f2)" "$(grep -o '"evaluated": [0-9]*' "$db.json" | cut -d' ' -f2)"
}

for sweep in predictor sim; do
  run "$sweep: 1 process" $sweep-sweep.yaml $sweep-serial.sqlite "$coda"
  run "$sweep: mpirun -n 1" $sweep-sweep.yaml $sweep-mpi1.sqlite "${mpi[@]}" -n 1 "$coda"
  run "$sweep: mpirun -n 2" $sweep-sweep.yaml $sweep-mpi2.sqlite "${mpi[@]}" -n 2 "$coda"
  cmp $sweep-serial.sqlite.csv $sweep-mpi1.sqlite.csv && cmp $sweep-serial.sqlite.csv $sweep-mpi2.sqlite.csv &&
    echo "$sweep: results identical for 1 process, 1 rank and 2 ranks"
done
