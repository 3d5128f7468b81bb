#!/usr/bin/env bash
# Regenerates the figures of docs/tuning.md: development-time tuning of the committed LeNet-5 and
# ResNet-20 at 1- and 3-point accuracy-loss thresholds (software knobs, simulated tx2 costs), the
# install-time phase with PROMISE/LightNN placement and an energy objective, predictive (P1, P2)
# against empirical tuning at the same budget, and run-time adaptation under a falling GPU clock.
# Usage: docs/tools/tuning_validation.sh BUILD_DIR OUT_DIR [lenet5|resnet20|compare|adapt ...]
set -euo pipefail
build=${1:?build dir}
out=${2:?output dir}
shift 2
parts=${*:-lenet5 resnet20 compare adapt}
coda="$build/bin/coda"
src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
export OMP_WAIT_POLICY=passive

summary() {  # name, curve json: best speedup/energy reduction and the worst test loss
  jq -r --arg name "$1" '
    (.points | map(.speedup) | max) as $s |
    (.points | map(.energy_reduction // 1) | max) as $e |
    (.points | map(.qos_test) | min) as $q |
    "\($name): \(.points|length) configs, best speedup \($s*1000|round/1000)x, best energy reduction \($e*1000|round/1000)x, lowest test accuracy \($q*100|round/100) (baseline \(.baseline_qos_test*100|round/100)), tuned in \(.tuning_seconds*10|round/10) s"' "$2"
}

tune_model() {  # name, model file, calibration/test size
  local name=$1 model=$2 size=$3
  for loss in 1 3; do
    "$coda" tune --model "$model" --data fashion-mnist:test --calibration-size "$size" --test-size "$size" \
      --qos-loss "$loss" --cost sim --out "$out/$name-dev-$loss.json" --plot "$out/$name-dev-$loss.png" \
      --hpvm "$out/$name-dev-$loss.txt" --json > "$out/$name-dev-$loss.summary.json"
    summary "$name dev loss $loss" "$out/$name-dev-$loss.json"
    "$coda" tune --model "$model" --data fashion-mnist:test --calibration-size "$size" --test-size "$size" \
      --qos-loss "$loss" --phase install --curve "$out/$name-dev-$loss.json" --cost sim \
      --out "$out/$name-install-$loss.json" --plot "$out/$name-install-$loss.png" --json \
      > "$out/$name-install-$loss.summary.json"
    summary "$name install loss $loss" "$out/$name-install-$loss.json"
  done
}

for part in $parts; do
  case $part in
    lenet5) tune_model lenet5 "$src/kernels/zoo/lenet5-fashion-mnist.onnx" 1000 ;;
    resnet20)
      # Profiles do not depend on the threshold: collected once (as one slice of one), used by both.
      model="$src/kernels/zoo/resnet20-fashion-mnist.onnx"
      start=$(date +%s.%N)
      "$coda" tune --model "$model" --data fashion-mnist:test --calibration-size 500 --test-size 500 --qos-loss 1 \
        --profile-slice 0/1 --out "$out/resnet20-profiles.bin"
      echo "resnet20 profiles: $(echo "$(date +%s.%N) - $start" | bc) s"
      for loss in 1 3; do
        "$coda" tune --model "$model" --data fashion-mnist:test --calibration-size 500 --test-size 500 \
          --qos-loss "$loss" --cost sim --profiles "$out/resnet20-profiles.bin" --out "$out/resnet20-dev-$loss.json" \
          --plot "$out/resnet20-dev-$loss.png" --hpvm "$out/resnet20-dev-$loss.txt" --json \
          > "$out/resnet20-dev-$loss.summary.json"
        summary "resnet20 dev loss $loss" "$out/resnet20-dev-$loss.json"
      done
      "$coda" tune --model "$model" --data fashion-mnist:test --calibration-size 500 --test-size 500 --qos-loss 3 \
        --phase install --curve "$out/resnet20-dev-3.json" --cost sim --out "$out/resnet20-install-3.json" \
        --plot "$out/resnet20-install-3.png" --json > "$out/resnet20-install-3.summary.json"
      summary "resnet20 install loss 3" "$out/resnet20-install-3.json" ;;
    compare)
      for method in p1 p2 empirical; do
        "$coda" tune --model "$src/kernels/zoo/lenet5-fashion-mnist.onnx" --data fashion-mnist:test \
          --calibration-size 1000 --test-size 1000 --qos-loss 1 --cost ops --method "$method" --budget 3000 \
          --patience 500 --out "$out/compare-$method.json" --json > "$out/compare-$method.summary.json"
        summary "lenet5 $method" "$out/compare-$method.json"
      done ;;
    adapt)
      "$coda" tune --model "$src/kernels/zoo/lenet5-fashion-mnist.onnx" --data fashion-mnist:test \
        --calibration-size 1000 --test-size 1000 --qos-loss 3 --phase install \
        --curve "$out/lenet5-dev-3.json" --cost sim --objective speed --out "$out/adapt-curve.json" > /dev/null
      for policy in 1 2; do
        "$coda" adapt --curve "$out/adapt-curve.json" --dvfs-schedule "$src/tuner/examples/dvfs_step_down.yaml" \
          --policy "$policy" --out "$out/adapt-$policy.json" --plot "$out/adapt-$policy.png"
      done ;;
  esac
done
