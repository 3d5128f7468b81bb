#!/usr/bin/env bash
# The sweep scaling benchmark of docs/sweeps.md: a 1,000-point predictor sweep, a 100-point and a
# 1,000-point simulator sweep, each run by one process, by `mpirun -n 1` and by `mpirun -n 2`; the exported
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
  - network: [zoo:resnet18, zoo:resnet50, zoo:alexnet, zoo:vgg16]
  - config: [exact, knob:12]
  - batch: [1, 2, 4, 8, 16]
  - set: gpu.freq_mhz
    values: [318.75, 522.75, 854.25, 1122, 1300.5]
  - set: cpu.freq_mhz
    values: [345.6, 806.4, 1267.2, 1728, 2035.2]
SPEC

cat > sim1000-sweep.yaml <<'SPEC'
name: sim-1000
evaluator: sim
network: zoo:resnet18
design: {kind: lhs, points: 1000}
seed: 5
batch_points: 50
axes:
  - config: [exact, knob:3, knob:12, knob:81]
  - set: promise.banks
    values: [16, 32, 64, 128, 256, 512]
  - set: [lightnn.rows, lightnn.cols]
    values: [4, 8, 16, 32, 64]
  - set: dram.bandwidth_gbs
    range: [6.4, 59.7]
  - set: gpu.freq_mhz
    values: dvfs
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

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
rounds=${ROUNDS:-5}

once() {  # spec, db, command... -> "command_s phase_s evaluated"
  local spec=$1 db=$2; shift 2
  rm -f "$db" "$db-wal" "$db-shm"
  local start end
  start=$(date +%s.%N)
  "$@" sweep --spec "$spec" --db "$db" --json > "$db.json"
  end=$(date +%s.%N)
  echo "$(echo "$end - $start" | bc) $(grep -o '"wall_s": [0-9.e-]*' "$db.json" | cut -d' ' -f2) $(grep -o '"evaluated": [0-9]*' "$db.json" | cut -d' ' -f2)"
}

# The three ways of running take turns, round after round, so that a slow spell of a shared
# machine hits them alike; the medians are reported.
for sweep in predictor sim sim1000; do
  : > $sweep-times.txt
  for round in $(seq "$rounds"); do
    echo "serial $(once $sweep-sweep.yaml $sweep-serial.sqlite "$coda")" >> $sweep-times.txt
    echo "mpi1 $(once $sweep-sweep.yaml $sweep-mpi1.sqlite "${mpi[@]}" -n 1 "$coda")" >> $sweep-times.txt
    echo "mpi2 $(once $sweep-sweep.yaml $sweep-mpi2.sqlite "${mpi[@]}" -n 2 "$coda")" >> $sweep-times.txt
  done
  for way in serial mpi1 mpi2; do
    "$coda" sweep export --db $sweep-$way.sqlite --csv $sweep-$way.csv > /dev/null
    printf '%-10s %-7s command %6.2f s   sweep phase %6.3f s   %s points   (medians of %s runs)\n' "$sweep" "$way" \
      "$(awk -v w=$way '$1 == w {print $2}' $sweep-times.txt | median)" \
      "$(awk -v w=$way '$1 == w {print $3}' $sweep-times.txt | median)" \
      "$(awk -v w=$way '$1 == w {print $4}' $sweep-times.txt | tail -1)" "$rounds"
  done
  cmp $sweep-serial.csv $sweep-mpi1.csv && cmp $sweep-serial.csv $sweep-mpi2.csv &&
    echo "$sweep: results identical for 1 process, 1 rank and 2 ranks"
done
