"""Assemble the unlabelled training set for the shipped weights (see weights/MODEL_CARD.md).

Writes OUT/scenes/ in the Kalantari layout:
- syn_*: 120 dynamic brackets synthesised from the radiance maps NOT held out for the
  benchmark (``--split train``), seed 1; nr_*: 20 with mild non-rigid background motion,
  seed 2; st_*: 10 static, seed 3. Their HDRImg.hdr files exist but training never opens them.
- real_*: the real brackets of ../shared/data/brackets, linked (not copied) with an
  exposure.txt: sculpture garden (frames 1, 3, 5 at EV -2, 0, 2), horse and house
  (exposures estimated from the pixels: they carry no metadata), the four NTIRE crops
  (EV -3, -1, 1). No ground truth of theirs is linked.
and OUT/val/: 8 labelled dynamic scenes from the held-out maps, seed 7, for validation
reports only (the benchmark uses seeds 2024/2025).

    python training/prepare_data.py [--shared ../shared] [--out /tmp/selfhdr_train]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from selfhdr_cli.exposure import estimate_relative_exposures
from selfhdr_cli.frames import read_ldr
from selfhdr_cli.response import CameraResponse

HERE = Path(__file__).resolve().parent


def synth(hdr: Path, out: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "selfhdr_cli", "synth", str(hdr), str(out), *args], check=True)


def link_scene(out: Path, files: list[Path], ev: list[float]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = out / f.name
        if not target.exists():
            target.symlink_to(f.resolve())
    (out / "exposure.txt").write_text("".join(f"{e:.4f}\n" for e in ev))


def estimated_ev(files: list[Path]) -> list[float]:
    frames = [read_ldr(f) for f in files]
    return list(np.log2(estimate_relative_exposures(frames, CameraResponse())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared")
    ap.add_argument("--out", type=Path, default=Path("/tmp/selfhdr_train"))
    args = ap.parse_args()
    hdr, brackets = args.shared / "data" / "hdr", args.shared / "data" / "brackets"
    scenes = args.out / "scenes"
    scenes.mkdir(parents=True, exist_ok=True)
    synth(hdr, scenes, "--split", "train", "--scenes", "120", "--seed", "1", "--prefix", "syn_")
    synth(hdr, scenes, "--split", "train", "--scenes", "20", "--seed", "2", "--prefix", "nr_", "--nonrigid", "1.5")
    synth(hdr, scenes, "--split", "train", "--scenes", "10", "--seed", "3", "--prefix", "st_", "--static")
    garden = brackets / "sculpture_garden_gallo2009"
    link_scene(scenes / "real_sculpture_garden", [garden / f"{k}.tif" for k in (1, 3, 5)], [-2, 0, 2])
    for name, files in (("horse", sorted((brackets / "horse_mefssimd").glob("*.png"))),
                        ("house", sorted((brackets / "mertens_house").glob("*.jpg")))):
        ev = estimated_ev(files)
        print(f"{name}: estimated EV {', '.join(f'{e:.2f}' for e in ev)}")
        link_scene(scenes / f"real_{name}", files, ev)
    for crop in sorted(brackets.glob("ntire2021_crop_*")):
        link_scene(scenes / f"real_{crop.name}", [crop / f"{k}.png" for k in range(3)], [-3, -1, 1])
    synth(hdr, args.out / "val", "--split", "test", "--scenes", "8", "--seed", "7", "--prefix", "val_")
    print(f"training set: {len(list(scenes.iterdir()))} scenes in {scenes}; validation: {args.out / 'val'}")


if __name__ == "__main__":
    main()
