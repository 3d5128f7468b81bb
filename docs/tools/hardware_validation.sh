#!/usr/bin/env bash
# Regenerates the validation tables and plots of docs/hardware.md from `coda simulate`.
# Usage: docs/tools/hardware_validation.sh [CODA_BINARY]   (needs jq and gnuplot)
set -euo pipefail
CODA=${1:-build/release/bin/coda}
OUT=docs/img
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Energy (at VDD_IN) of the Conv/Gemm/MatMul ops only, and the whole-network latency and energy.
sim() {  # model, then simulate options
  local model=$1; shift
  "$CODA" simulate --model "$model" --json "$@" > "$tmp/r.json"
  jq -r '[([.ops[] | select(.op_type=="Conv" or .op_type=="Gemm" or .op_type=="MatMul") | .energy_j] | add),
          .latency_s, .energy_j] | @tsv' "$tmp/r.json"
}

echo "## PROMISE and LightNN against the digital units (conv/fc energy at VDD_IN, mJ)"
echo
echo "| network | GPU fp32 | GPU fp16 | LightNN-1 a8 | LightNN 8-bit multiplier | PROMISE P7 | PROMISE P1 | LightNN / PROMISE P7 | LightNN / PROMISE P1 | GPU fp16 / PROMISE P1 |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for net in lenet5 resnet20 alexnet2_cifar vgg16_cifar mobilenet_cifar resnet18 resnet50; do
  read -r g32 _ _ < <(sim "zoo:$net")
  read -r g16 _ _ < <(sim "zoo:$net" --knob 12)
  read -r ln _ _ < <(sim "zoo:$net" --knob 81)
  # The same array with an 8-bit multiplier in place of each shifter (Horowitz: 0.2 pJ).
  read -r lm _ _ < <(sim "zoo:$net" --knob 81 --set lightnn.shift_pj=0.2)
  read -r p7 _ _ < <(sim "zoo:$net" --knob 7)
  read -r p1 _ _ < <(sim "zoo:$net" --knob 1)
  awk -v n="$net" -v g32="$g32" -v g16="$g16" -v ln="$ln" -v lm="$lm" -v p7="$p7" -v p1="$p1" 'BEGIN {
    printf "| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2fx | %.2fx | %.1fx |\n", n, g32*1e3, g16*1e3, ln*1e3, lm*1e3, p7*1e3, p1*1e3, ln/p7, ln/p1, g16/p1 }'
done
echo

echo "## ResNet-18 across the GPU DVFS table"
echo
echo "| GPU MHz | latency ms | energy mJ | VDD_IN W | VDD_SYS_GPU W | VDD_SYS_DDR W |"
echo "|---|---|---|---|---|---|"
: > "$tmp/dvfs.dat"
for f in 114.75 216.75 318.75 420.75 522.75 624.75 726.75 854.25 930.75 1032.75 1122.0 1236.75 1300.5; do
  "$CODA" simulate --model zoo:resnet18 --json --set gpu.freq_mhz=$f > "$tmp/r.json"
  jq -r --arg f "$f" '[$f, .latency_s*1e3, .energy_j*1e3, .avg_power_w.VDD_IN, .avg_power_w.VDD_SYS_GPU, .avg_power_w.VDD_SYS_DDR] | @tsv' "$tmp/r.json" >> "$tmp/dvfs.dat"
done
awk '{ printf "| %s | %.3f | %.2f | %.3f | %.3f | %.3f |\n", $1, $2, $3, $4, $5, $6 }' "$tmp/dvfs.dat"
gnuplot <<GP
set terminal pngcairo size 900,500 noenhanced
set output "$OUT/dvfs_resnet18.png"
set title "ResNet-18 (batch 1) on tx2.yaml across the GPU DVFS table"
set xlabel "GPU clock (MHz)"
set ylabel "latency (ms)"
set y2label "power (W)"
set ytics nomirror
set y2tics
set key top center
set grid
plot "$tmp/dvfs.dat" using 1:2 with linespoints lw 2 title "latency (ms)", \
     "" using 1:4 axes x1y2 with linespoints lw 2 title "VDD_IN (W)", \
     "" using 1:5 axes x1y2 with linespoints lw 2 title "VDD_SYS_GPU (W)", \
     "" using 1:3 with linespoints dt 2 title "energy (mJ)"
GP
echo

# A power trace: ResNet-50 at batch 8, GPU clock lowered half way through by a DVFS schedule.
"$CODA" simulate --model zoo:resnet50 --batch 8 --json > "$tmp/base.json"
half=$(jq '.latency_s * 500' "$tmp/base.json")
printf 'schedule: [{time_ms: %s, unit: gpu, freq_mhz: 624.75}]\n' "$half" > "$tmp/dvfs.yaml"
"$CODA" simulate --model zoo:resnet50 --batch 8 --json --dvfs-schedule "$tmp/dvfs.yaml" > "$tmp/trace.json"
jq -r '.rails as $r | .samples[] | [.time_s*1e3] + .rail_w + [.unit_freq_mhz[1]] | @tsv' "$tmp/trace.json" > "$tmp/trace.dat"
gnuplot <<GP
set terminal pngcairo size 900,500 noenhanced
set output "$OUT/power_trace_resnet50.png"
set title "ResNet-50 batch 8, tx2.yaml: rails sampled every 1 ms, GPU clock lowered mid-run"
set xlabel "time (ms)"
set ylabel "power (W)"
set y2label "GPU clock (MHz)"
set ytics nomirror
set y2tics
set key outside right
set grid
plot "$tmp/trace.dat" using 1:2 with steps lw 2 title "VDD_IN", \
     "" using 1:4 with steps title "VDD_SYS_GPU", \
     "" using 1:6 with steps title "VDD_SYS_DDR", \
     "" using 1:3 with steps title "VDD_SYS_CPU", \
     "" using 1:5 with steps title "VDD_SYS_SOC", \
     "" using 1:8 axes x1y2 with steps dt 2 lw 2 title "GPU clock"
GP
jq -r '"power trace: latency \(.latency_s*1e3) ms, energy \(.energy_j*1e3) mJ, peak \(.peak_temp_c) C (\(.peak_zone))"' "$tmp/trace.json"
