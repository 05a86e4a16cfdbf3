#!/usr/bin/env bash
# four shifted sets from the validation maps (never the benchmark split), fine-tuned from the
# shipped weights (or INIT) without labels, scored against their ground truth; then the benchmark
# split with each fine-tuned model (BENCH=0 skips it). About 25 minutes on 2 cores (40 with
# weights trained on pseudo-pairs, which fine-tune on pseudo-pairs).
#   bash training/finetune_check.sh [OUT_DIR] [INIT]
set -euo pipefail
cd "$(dirname "$0")/.."
R=${1:-/tmp/selfhdr_finetune_check}
INIT=${2:-default}
BENCH=${BENCH:-1}
mkdir -p "$R"
declare -A ARGS=( [ev036]="--ev-step 3" [noise3]="--noise 3" [srgb]="--crf srgb" [motion2]="--motion 2" )
for name in ev036 noise3 srgb motion2; do
  crf=gamma:2.2; [ "$name" = srgb ] && crf=srgb
  [ -d "$R/$name" ] || selfhdr synth ../shared/data/hdr "$R/$name" --split val --scenes 24 --seed 13 ${ARGS[$name]}
  start=$(date +%s)
  selfhdr train "$R/$name" --init "$INIT" -o "$R/$name-tuned.safetensors" --crf "$crf" --force
  echo "$name: fine-tuned in $(( $(date +%s) - start )) s"
  for weights in "$INIT" "$R/$name-tuned.safetensors"; do
    w=(); [ "$weights" = default ] || w=(-w "$weights")
    echo "$name, $weights:"; selfhdr evaluate "$R/$name" -m net "${w[@]}" --crf "$crf" 2>&1 | tail -4
  done
  if [ "$BENCH" = 1 ] && [ -d benchmarks/data ]; then
    selfhdr evaluate benchmarks/data -m net -w "$R/$name-tuned.safetensors" 2>&1 | tail -4
  fi
done
