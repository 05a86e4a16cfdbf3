#!/usr/bin/env bash
# FastNet vs AHDRNet trained the same way (SelfHDR, both stages, same data, steps, batch, crops),
# then scored on a labelled benchmark. A reduced schedule, so that AHDRNet fits on a CPU.
#
#   bash benchmarks/compare_networks.sh TRAIN_DATASET LABELLED_BENCHMARK [OUT_DIR]
#   STEPS=400 BATCH=4 CROP=64 (environment) set the schedule; RECIPE=paper (SPEC §2–4, the default here:
#   the guide of the robust recipe is a FastNet input, so only the paper's recipe compares like with like).
set -euo pipefail
DATA=${1:?training dataset}; BENCH=${2:?labelled benchmark}; OUT=${3:-/tmp/selfhdr_compare}
STEPS=${STEPS:-400}; BATCH=${BATCH:-4}; CROP=${CROP:-64}; RECIPE=${RECIPE:-paper}
SELFHDR=${SELFHDR:-selfhdr}
mkdir -p "$OUT"
for net in fastnet ahdrnet; do
  start=$(date +%s)
  $SELFHDR train "$DATA" --recipe "$RECIPE" --network "$net" --work "$OUT/work_$net" --steps "$STEPS" --batch "$BATCH" --crop "$CROP" \
    --val-every "$STEPS" -o "$OUT/$net.safetensors" --force
  echo "$net: trained in $(( $(date +%s) - start )) s" >&2
  $SELFHDR evaluate "$BENCH" --method net --weights "$OUT/$net.safetensors" --json > "$OUT/$net.json"
done
python3 - "$OUT" <<'PY'
import json, sys
for net in ("fastnet", "ahdrnet"):
    m = json.load(open(f"{sys.argv[1]}/{net}.json"))["mean"]
    row = m.get("dynamic", m["all"])
    print(f"{net}: dynamic PSNR-μ {row['psnr_mu']:.2f}  PSNR-l {row['psnr_l']:.2f}  SSIM-μ {row['ssim_mu']:.4f}  "
          f"s/scene {row['seconds']:.2f}")
PY
