"""Which optical flow should build-color use? Measured, not guessed.

Scores Y_color (PSNR-μ against ground truth) with each flow on (a) dynamic brackets
synthesised from the CC0/BSD radiance maps in ../shared/data/hdr with known object
and camera motion, and (b) the NTIRE 2021 crops in ../shared/data/brackets (real
motion, ground truth), and times each flow on a 1500×1000 bracket.

    python benchmarks/flow_choice.py [--scenes 12] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import numpy as np

from selfhdr_cli.align import FLOW_METHODS, AlignConfig
from selfhdr_cli.bracket import bracket_from_arrays
from selfhdr_cli.colour import ColorConfig
from selfhdr_cli.frames import read_ldr
from selfhdr_cli.hdrfile import read_hdr_image
from selfhdr_cli.merge import MergeConfig, merge_bracket
from selfhdr_cli.response import CameraResponse
from selfhdr_cli.synth import SceneConfig, make_scene
from selfhdr_cli.tonemap import mu_law


def psnr_mu(pred: np.ndarray, gt: np.ndarray) -> float:
    mse = float(np.mean((mu_law(pred) - mu_law(gt)) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def ntire_brackets(shared: Path):
    for folder in sorted((shared / "data/brackets").glob("ntire2021_crop_*")):
        frames = [read_ldr(folder / f"{k}.png") for k in range(3)]
        ev = np.load(folder / "exposures.npy")
        import cv2

        gt16 = cv2.imread(str(folder / "gt.png"), cv2.IMREAD_UNCHANGED)[:, :, ::-1].astype(np.float32)
        gt = gt16 / float(np.load(folder / "alignratio.npy"))  # linear, frame k sees gt · 2^EV_k
        gt = gt * 2.0 ** ev[0]  # short-exposure units: the short frame at t = 1
        # NTIRE frames use gamma 2.24 (the ADNet loader's convention)
        yield folder.name, frames, list(2.0 ** (ev - ev[0])), gt, CameraResponse("gamma", 2.24)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    methods = list(FLOW_METHODS)
    maps = sorted(glob.glob(str(args.shared / "data/hdr/*.hdr")))
    if not maps:
        raise SystemExit(f"no radiance maps under {args.shared}/data/hdr")
    images = [read_hdr_image(m) for m in maps]
    rng = np.random.default_rng(args.seed)
    cases = []
    for i in range(args.scenes):
        sc = make_scene(images[i % len(images)], images, rng, SceneConfig(size=(384, 512)))
        cases.append((f"synth{i:02d}", sc.frames, [2.0 ** e for e in sc.ev_stops], sc.ground_truth, CameraResponse()))
    cases += list(ntire_brackets(args.shared))
    scores = {m: {"synth": [], "ntire": []} for m in methods + ["debevec"]}
    for name, frames, times, gt, response in cases:
        group = "ntire" if name.startswith("ntire") else "synth"
        bracket = bracket_from_arrays(frames, times)
        for m in methods + ["debevec"]:
            if m == "debevec":
                cfg = MergeConfig(method="debevec", response=response)
            else:
                cfg = MergeConfig(method="color", response=response,
                                  color=ColorConfig(response=response, align=AlignConfig(flow=m)))
            scores[m][group].append(psnr_mu(merge_bracket(bracket, cfg), gt))
    # speed at 1500x1000
    sc = make_scene(images[0], images, np.random.default_rng(0), SceneConfig(size=(1000, 1500)))
    big = bracket_from_arrays(sc.frames, [2.0 ** e for e in sc.ev_stops])
    print(f"{'flow':14s} {'PSNR-μ synth':>13s} {'PSNR-μ ntire':>13s} {'s @1500x1000':>13s}")
    for m in methods + ["debevec"]:
        cfg = MergeConfig(method="debevec") if m == "debevec" else \
            MergeConfig(method="color", color=ColorConfig(align=AlignConfig(flow=m)))
        t0 = time.perf_counter()
        merge_bracket(big, cfg)
        dt = time.perf_counter() - t0
        s, n = scores[m]["synth"], scores[m]["ntire"]
        print(f"{m:14s} {np.mean(s):13.2f} {np.mean(n) if n else float('nan'):13.2f} {dt:13.2f}")


if __name__ == "__main__":
    main()
