#!/usr/bin/env bash
# Robust-recipe ablations, validation split only: the recipe (--recipe paper: SPEC §2–4, unguided FastNet;
# robust: FastNet guided by Y_color and the static gate), the colour component the network learns from
# (--color-merge triangle|snr) and stage 1's L_sp weight (--sp-weight 4|1|0). Same data, seed and reduced
# schedule (1000 + 1000 iterations, cpu preset otherwise) for every row; scored on the 8 dynamic validation
# scenes of training/prepare_data.py and on 8 static validation scenes made here, beside the fixed merges.
# About 8 min a row on 2 CPU cores.
#
#   bash training/ablate_robust_recipe.sh [TRAIN_OUT] [OUT]   (TRAIN_OUT: what training/prepare_data.py wrote)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
DATA=${1:-/tmp/selfhdr_train}; OUT=${2:-/tmp/selfhdr_ablation}
SELFHDR=${SELFHDR:-selfhdr}; SHARED=${SHARED:-../shared}
mkdir -p "$OUT"
$SELFHDR synth "$SHARED/data/hdr" "$OUT/val_static" --split val --scenes 8 --seed 8 --static --prefix vs_
ROWS=("paper triangle 4" "paper snr 4" "paper triangle 1" "paper triangle 0" "paper snr 0"
      "robust triangle 4" "robust snr 4")  # recipe, colour merge, L_sp weight
name() { echo "$1_$2_sp$3"; }
for spec in "${ROWS[@]}"; do
  set -- $spec
  n=$(name "$@")
  [ -e "$OUT/$n.safetensors" ] || $SELFHDR train "$DATA/scenes" --work "$OUT/work_$n" --recipe "$1" --color-merge "$2" \
    --sp-weight "$3" --steps 1000 --val-every 500 --val "$DATA/val" --seed 0 -o "$OUT/$n.safetensors"
done
row() {  # NAME DYNAMIC.json STATIC.json → one markdown row of PSNR-μ / SSIM-μ means
  python3 - "$@" <<'PY'
import json, sys
means = [json.load(open(p))["mean"]["all"] for p in sys.argv[2:]]
print(f"| {sys.argv[1]} | " + " | ".join(f"{m['psnr_mu']:.2f} / {m['ssim_mu']:.4f}" for m in means) + " |")
PY
}
echo "| validation | dynamic PSNR-μ / SSIM-μ | static PSNR-μ / SSIM-μ |"; echo "|---|---|---|"
for cm in triangle snr; do
  for v in "$DATA/val" "$OUT/val_static"; do
    $SELFHDR evaluate "$v" --method color --color-merge $cm --json > "$OUT/color_${cm}_$(basename "$v").json"
  done
  row "color, $cm merge" "$OUT/color_${cm}_val.json" "$OUT/color_${cm}_val_static.json"
done
for spec in "${ROWS[@]}"; do
  set -- $spec
  n=$(name "$@")
  for v in "$DATA/val" "$OUT/val_static"; do
    $SELFHDR evaluate "$v" --method net --weights "$OUT/$n.safetensors" --json > "$OUT/net_${n}_$(basename "$v").json"
  done
  row "net ($1 recipe): $2 Y_color, L_sp ×$3" "$OUT/net_${n}_val.json" "$OUT/net_${n}_val_static.json"
done
