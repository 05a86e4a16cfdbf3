
"""Tone-mapped comparisons for the README: debevec | color | SelfHDR (| ground truth).

One benchmark-split scene with its ground truth (CC0/BSD radiance maps: shipped in docs/), and
real dynamic brackets from ../shared/data/brackets, written to ``--real-out`` outside the project:
their terms do not allow redistribution, so neither their frames nor pictures made from them ship. Every panel is tone-mapped with the same Reinhard operator and the
exposure of the SelfHDR result, so differences are the merges', not the tone mapping's.

    python docs/make_figures.py --weights weights/selfhdr-fastnet.safetensors [--real-out /tmp/selfhdr_figures]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from selfhdr_cli.io.dataset import GROUND_TRUTH_FILE, scene_frames
from selfhdr_cli.radiometry.exposure_ratio import estimate_exposures
from selfhdr_cli.io.frames import read_ldr
from selfhdr_cli.io.hdrfile import read_hdr_image, write_png
from selfhdr_cli.merge.bracket import load_bracket
from selfhdr_cli.merge.method import MergeConfig, merge_bracket
from selfhdr_cli.radiometry.response import CameraResponse
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # cli_defaults
from cli_defaults import settings  # noqa: E402
from selfhdr_cli.radiometry.tonemap import auto_exposure, reinhard

HERE = Path(__file__).resolve().parent


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.putText(out, text, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(out, text, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def figure(bracket, weights: Path, out: Path, width: int, gt: np.ndarray | None = None) -> None:
    results = [("debevec", merge_bracket(bracket, MergeConfig(bracket=settings(), method="debevec"))),
               ("color", merge_bracket(bracket, MergeConfig(bracket=settings(), method="color"))),
               ("SelfHDR", merge_bracket(bracket, MergeConfig(bracket=settings(), method="net", weights=str(weights))))]
    if gt is not None:
        results.append(("ground truth", gt))
    scale = auto_exposure(results[2][1])
    panels = []
    for name, hdr in results:
        img = reinhard(hdr, scale=scale)
        h = int(round(img.shape[0] * width / img.shape[1]))
        panels.append(label(cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA), name))
    write_png(out, np.concatenate(panels, axis=1))
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared")
    ap.add_argument("--bench", type=Path, default=HERE.parent / "benchmarks" / "data")
    ap.add_argument("--real-out", type=Path, default=Path("/tmp/selfhdr_figures"),
                    help="where the real brackets' pictures go (never docs/: their terms forbid shipping them)")
    args = ap.parse_args()
    args.real_out.mkdir(parents=True, exist_ok=True)
    brackets = args.shared / "data" / "brackets"
    garden = brackets / "sculpture_garden_gallo2009"
    figure(load_bracket([garden / f"{k}.tif" for k in (1, 3, 5)], settings(), ev="-2,0,2"), args.weights,
           args.real_out / "sculpture_garden.png", 480)
    horse = sorted((brackets / "horse_mefssimd").glob("*.png"))
    ev = np.log2(estimate_exposures([read_ldr(p) for p in horse], CameraResponse("gamma")))
    figure(load_bracket(horse, settings(), ev=",".join(f"{e:.3f}" for e in ev)), args.weights,
           args.real_out / "horse.png", 480)
    scene = args.bench / "dyn_006"
    figure(load_bracket(scene_frames(scene), settings()), args.weights, HERE / "benchmark_dyn_006.png", 384,
           gt=read_hdr_image(scene / GROUND_TRUTH_FILE))


if __name__ == "__main__":
    main()
