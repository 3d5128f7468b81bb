#!/usr/bin/env bash
# Regenerates the figures of docs/predictors.md: the training profile, the fit with its accuracy
# report and scatter plot, every zoo network predicted against `coda simulate` (default
# configuration, FP16 everywhere, and convolutions on PROMISE / LightNN), and the speed of
# `coda predict` and `coda lut`.
# Usage: docs/tools/predictor_validation.sh [CODA_BINARY]   (needs jq and gnuplot)
set -euo pipefail
CODA=${1:-build/release/bin/coda}
OUT=docs/img
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "## Profile (models/spaces/tx2_layers.yaml)"
/usr/bin/time -f "profile wall %e s" "$CODA" profile --space models/spaces/tx2_layers.yaml --out "$tmp/traces.csv"
echo
echo "## Fit"
/usr/bin/time -f "fit wall %e s" "$CODA" fit --traces "$tmp/traces.csv" --out "$tmp/predictor.json" \
  --report "$tmp/fit_report.md" --plot "$OUT/predictor_scatter.png" --no-lono
cp "$tmp/fit_report.md" docs/predictor_fit_report.md
cp "$tmp/predictor.json" "${PREDICTOR_OUT:-/dev/null}"
echo
echo "## Networks: predicted against simulated (tx2.yaml)"
echo
echo "| network | configuration | simulated latency ms | latency error | simulated energy mJ | energy error | predict wall us |"
echo "|---|---|---|---|---|---|---|"
for net in lenet5 resnet20 alexnet_cifar alexnet2_cifar vgg16_cifar mobilenet_cifar resnet18_cifar alexnet resnet18 resnet50 vgg16 mobilenet_v1; do
  for config in "fp32 gpu|" "fp16 gpu|--knob 12" "conv on PROMISE P5|--knob 5" "conv on LightNN-1|--knob 81" "fp32 gpu at 522.75 MHz|--set gpu.freq_mhz=522.75"; do
    label=${config%%|*}
    opts=${config#*|}
    # shellcheck disable=SC2086
    "$CODA" predict --predictor "$tmp/predictor.json" --model "zoo:$net" $opts --compare --json > "$tmp/p.json"
    jq -r --arg net "$net" --arg cfg "$label" \
      '"| \($net) | \($cfg) | \((.comparison.simulated_latency_s*1e6|round)/1000) | \((.comparison.latency_error*1000|round)/10)% | \((.comparison.simulated_energy_j*1e6|round)/1000) | \((.comparison.energy_error*1000|round)/10)% | \(.wall_s*1e6|round) |"' "$tmp/p.json"
  done
done
echo
echo "## Lookup tables"
"$CODA" lut --predictor "$tmp/predictor.json" --space models/spaces/lut_resnet.yaml --out "$tmp/lut.csv"
"$CODA" lut --predictor "$tmp/predictor.json" --space models/spaces/lut_resnet.yaml --out "$tmp/lut.json" --format singlepath
