#!/usr/bin/env bash
# Issue 10 ablation, validation split only: does training on the SNR colour component (--colour-merge snr)
# instead of SPEC 2.4's triangle merge help the network? Same data, seed and reduced schedule
# (1000 + 1000 iterations, cpu preset otherwise) for both; scored on the 8 dynamic validation scenes of
# training/prepare_data.py and on 8 static validation scenes made here. About 20 min on 2 CPU cores.
#
#   bash training/ablate_colour_merge.sh [TRAIN_OUT] [OUT]   (TRAIN_OUT: what training/prepare_data.py wrote)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
DATA=${1:-/tmp/selfhdr_train}; OUT=${2:-/tmp/selfhdr_ablation}
SELFHDR=${SELFHDR:-selfhdr}; SHARED=${SHARED:-../shared}
mkdir -p "$OUT"
$SELFHDR synth "$SHARED/data/hdr" "$OUT/val_static" --split val --scenes 8 --seed 8 --static --prefix vs_
for cm in triangle snr; do
  [ -e "$OUT/$cm.safetensors" ] || $SELFHDR train "$DATA/scenes" --work "$OUT/work_$cm" --colour-merge $cm --steps 1000 \
    --val-every 500 --val "$DATA/val" --seed 0 -o "$OUT/$cm.safetensors"
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
    $SELFHDR evaluate "$v" --method color --colour-merge $cm --json > "$OUT/color_${cm}_$(basename "$v").json"
    $SELFHDR evaluate "$v" --method net --weights "$OUT/$cm.safetensors" --json > "$OUT/net_${cm}_$(basename "$v").json"
  done
  row "color, $cm merge" "$OUT/color_${cm}_val.json" "$OUT/color_${cm}_val_static.json"
  row "net trained on the $cm Y_color" "$OUT/net_${cm}_val.json" "$OUT/net_${cm}_val_static.json"
done
