#!/usr/bin/env bash
# Test accuracy of every knob of the catalog applied to all eligible ops of a model, and of each
# op alone with its most aggressive hardware-independent knob (largest r_compute, lowest id on a
# tie) and with PROMISE P1, as markdown rows that carry the command behind each figure. Used for
# docs/approximations.md:
#   docs/tools/knob_accuracy.sh kernels/zoo/lenet5-fashion-mnist.onnx 10000 > lenet.md
# Needs jq. Calibration (PROMISE, fixed point, shift-add) uses the first 500 training images.
set -euo pipefail
model=$1
limit=${2:-10000}
coda=${CODA:-build/release/bin/coda}
common=(--data fashion-mnist:test --limit "$limit" --calibration-data fashion-mnist:train --json)

accuracy() { "$coda" eval --model "$model" "${common[@]}" "$@" | jq -r '.accuracy * 100 | . * 100 | round / 100'; }
families=${FAMILIES:-.}   # a regular expression over family names, e.g. FAMILIES='^pruning$'
show_cmd() { echo "coda eval --model $model --data fashion-mnist:test --limit $limit --calibration-data fashion-mnist:train $*"; }

exact=$(accuracy)
echo "### $(basename "$model" .onnx): each knob on every op it applies to"
echo
echo "Exact (knob 11): **${exact}%** on $limit test images (\`$(show_cmd)\`)."
echo
echo "| knob | name | family | ops | accuracy % | change (points) | command |"
echo "|---:|---|---|---:|---:|---:|---|"
knobs=$("$coda" knobs --model "$model" --json)
"$coda" knobs --json | jq -r '.knobs[] | select(.id != 11) | "\(.id) \(.name) \(.family)"' |
while read -r id name family; do
  ops=$(jq --argjson id "$id" '[.ops[] | select(any(.knobs[]; .id == $id)) | select(.op_type != "Flatten" and .op_type != "Reshape")] | length' <<<"$knobs")
  [ "$ops" -eq 0 ] && continue
  [[ $family =~ $families ]] || continue
  acc=$(accuracy --knob "$id")
  delta=$(awk -v a="$acc" -v b="$exact" 'BEGIN { printf "%+.2f", a - b }')
  echo "| $id | $name | $family | $ops | $acc | $delta | \`$(show_cmd --knob "$id")\` |"
done
[ "${PER_OP:-1}" = 0 ] && exit 0   # PER_OP=0: only the per-knob table
echo
echo "### $(basename "$model" .onnx): each op alone with its most aggressive knob"
echo
echo "| op | type | knob | accuracy % | change | PROMISE P1 accuracy % | change | commands |"
echo "|---|---|---|---:|---:|---:|---:|---|"
# Most aggressive = fewest remaining operations (n_c), i.e. the largest r_compute.
jq -r '.ops[] | select(.op_type != "Flatten" and .op_type != "Reshape") |
  ([.knobs[] | select(.unit == "any" and .family != "pruning" and .family != "exact")] | sort_by(.n_c, .id) | first) as $k |
  "\(.name) \(.op_type) \($k.id) \(any(.knobs[]; .id == 1))"' <<<"$knobs" |
if [ -n "${FROM_OP:-}" ]; then sed -n "/^${FROM_OP} /,\$p"; else cat; fi |   # FROM_OP: resume at an op
while read -r op type id has_promise; do
  acc=$(accuracy --op-knob "$op=$id")
  delta=$(awk -v a="$acc" -v b="$exact" 'BEGIN { printf "%+.2f", a - b }')
  if [ "$has_promise" = true ]; then
    pacc=$(accuracy --op-knob "$op=1")
    pdelta=$(awk -v a="$pacc" -v b="$exact" 'BEGIN { printf "%+.2f", a - b }')
    cmds="\`$(show_cmd --op-knob "$op=$id")\`, \`--op-knob $op=1\`"
  else
    pacc="-"; pdelta="-"; cmds="\`$(show_cmd --op-knob "$op=$id")\`"
  fi
  echo "| $op | $type | $id | $acc | $delta | $pacc | $pdelta | $cmds |"
done
