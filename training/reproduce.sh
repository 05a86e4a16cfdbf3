#!/usr/bin/env bash
# Every trained model behind a figure in README.md and weights/MODEL_CARD.md, from scratch:
#   1. the data (training/prepare_data.py: train split → OUT/scenes, validation split → OUT/val);
#   2. the shipped self-supervised FastNet (robust recipe, cpu preset, 3000 + 3000 iterations) and its
#      stage-1 network, and the same network trained on pseudo-pairs (3000 iterations; not shipped: it
#      leaves artefacts in clipped regions of real brackets, docs/TRAINING.md);
#   3. the supervised twin: same network, same 150 scenes, same schedule, L1 in μ-law on ground truth;
#   4. FastNet vs AHDRNet, both SelfHDR (paper recipe) on the same reduced schedule (400 iterations per
#      stage, batch 4, 64² crops) on the first 20 dynamic training scenes (OUT/scenes/syn_000 … syn_019);
#   5. the paper's recipe (SPEC §2–4) on the same data and schedule as 2;
#   6. the benchmark table with every model (benchmarks/benchmark.py).
# Validation (OUT/val) is the only set watched while training; the benchmark split is scored once, at the end.
#
#   bash training/reproduce.sh [OUT]        (default /tmp/selfhdr_train; about 100 min on 2 CPU cores)
#   SELFHDR="python -m selfhdr_cli" to run from a checkout without installing; SHARED=path/to/shared.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's code, also for the python scripts
OUT=${1:-/tmp/selfhdr_train}
SELFHDR=${SELFHDR:-selfhdr}
PY=${PYTHON:-python}
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
# rerunnable: a finished model is kept, an interrupted stage continues from its checkpoint
# (each run resumes only its own checkpoints: $2 is their pattern)
resume_flag() { compgen -G "$1/$2" > /dev/null && echo --resume || true; }

log "data"
$PY training/prepare_data.py --out "$OUT" ${SHARED:+--shared "$SHARED"}

log "self-supervised FastNet (shipped weights)"
start=$(date +%s)
[ -e "$OUT/selfhdr-fastnet.safetensors" ] || $SELFHDR train "$OUT/scenes" --val "$OUT/val" --seed 0 \
  $(resume_flag "$OUT/scenes.selfhdr" "*struct*.ckpt") -o "$OUT/selfhdr-fastnet.safetensors"
log "self-supervised: $(( $(date +%s) - start )) s"

log "FastNet on pseudo-pairs (not shipped)"
start=$(date +%s)
[ -e "$OUT/pseudo-fastnet.safetensors" ] || $SELFHDR train "$OUT/scenes" --pseudo-pairs --val "$OUT/val" \
  --steps 3000 --seed 0 $(resume_flag "$OUT/scenes.selfhdr" pseudo.ckpt) -o "$OUT/pseudo-fastnet.safetensors"
log "pseudo-pairs: $(( $(date +%s) - start )) s"

log "supervised twin"
start=$(date +%s)
[ -e "$OUT/supervised-fastnet.safetensors" ] || $SELFHDR train "$OUT/scenes" --supervised --val "$OUT/val" --seed 0 \
  $(resume_flag "$OUT/scenes.selfhdr" supervised.ckpt) -o "$OUT/supervised-fastnet.safetensors"
log "supervised: $(( $(date +%s) - start )) s"

log "FastNet vs AHDRNet, reduced schedule, 20 scenes"
mkdir -p "$OUT/cmp20"
for i in $(seq -f "%03g" 0 19); do ln -sfn "$OUT/scenes/syn_$i" "$OUT/cmp20/syn_$i"; done
[ -e "$OUT/compare/fastnet.json" ] && [ -e "$OUT/compare/ahdrnet.json" ] || \
  SELFHDR="$SELFHDR" bash benchmarks/compare_networks.sh "$OUT/cmp20" "$OUT/val" "$OUT/compare"

log "the paper's recipe (SPEC §2–4 as written), same data and schedule: the ablation baseline"
[ -e "$OUT/paper-fastnet.safetensors" ] || $SELFHDR train "$OUT/scenes" --recipe paper --work "$OUT/paper.selfhdr" \
  --val "$OUT/val" --seed 0 $(resume_flag "$OUT/paper.selfhdr" "*struct*.ckpt") -o "$OUT/paper-fastnet.safetensors"

log "benchmark"
$PY benchmarks/benchmark.py ${SHARED:+--hdr "$SHARED/data/hdr"} --methods ref,debevec,color-paper,color,net \
  --model "SelfHDR stage 1=$OUT/scenes.selfhdr/structure.safetensors" \
  --model "SelfHDR=$OUT/selfhdr-fastnet.safetensors" \
  --model "pseudo-pairs=$OUT/pseudo-fastnet.safetensors" \
  --model "SelfHDR, paper recipe=$OUT/paper-fastnet.safetensors" \
  --model "supervised FastNet=$OUT/supervised-fastnet.safetensors" \
  --model "AHDRNet (reduced schedule)=$OUT/compare/ahdrnet.safetensors" \
  --model "FastNet (reduced schedule)=$OUT/compare/fastnet.safetensors"
log "done"
