"""Assemble the training and validation sets of the shipped weights (weights/MODEL_CARD.md).

Writes, in the Kalantari layout, only from the CC0/BSD radiance maps of ../shared/data/hdr:
- OUT/scenes/: the unlabelled training set, from the **train split** only
  (``synth --split train``): syn_* 120 dynamic brackets (seed 1), nr_* 20 with mild
  non-rigid background motion (seed 2), st_* 10 static (seed 3). Their HDRImg.hdr files
  exist for the supervised twin; self-supervised training never opens them.
- OUT/val/: 8 labelled dynamic scenes from the **validation split** (seed 7): the only
  scores watched while training and choosing a recipe.

No real bracket of ../shared/data/brackets is used: their licences allow looking, not
training shipped weights. The benchmark split is never touched here.

    python training/prepare_data.py [--shared ../shared] [--out /tmp/selfhdr_train]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

TRAIN_SETS = (  # prefix, scenes, seed, extra synth flags
    ("syn_", 120, 1, ()),
    ("nr_", 20, 2, ("--nonrigid", "1.5")),
    ("st_", 10, 3, ("--static",)),
)
VAL_SET = ("val_", 8, 7)


def synth(hdr: Path, out: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "selfhdr_cli", "synth", str(hdr), str(out), *args], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared")
    ap.add_argument("--out", type=Path, default=Path("/tmp/selfhdr_train"))
    args = ap.parse_args()
    hdr = args.shared / "data" / "hdr"
    scenes = args.out / "scenes"
    scenes.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed, extra in TRAIN_SETS:
        synth(hdr, scenes, "--split", "train", "--scenes", str(n), "--seed", str(seed), "--prefix", prefix, *extra)
    prefix, n, seed = VAL_SET
    synth(hdr, args.out / "val", "--split", "val", "--scenes", str(n), "--seed", str(seed), "--prefix", prefix)
    print(f"training set: {len(list(scenes.iterdir()))} scenes in {scenes}; validation: {args.out / 'val'}")


if __name__ == "__main__":
    main()
