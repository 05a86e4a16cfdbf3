"""Which optical flow should build-color use? Measured, not guessed.

Scores Y_color (PSNR-μ against ground truth) with each flow on (a) dynamic brackets
synthesised from the **validation split** of the radiance maps (``synth --split val``:
known object and camera motion; the benchmark split is never used for a decision), and
(b) the NTIRE 2021 crops in ../shared/data/brackets (real motion, research-use data:
looked at, not decided on), and times each flow on one 1500×1000 colour merge (best of 3).

    python benchmarks/flow_choice.py [--scenes 16] [--seed 7] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from selfhdr_cli.evaluation.metrics import psnr
from selfhdr_cli.evaluation.synth import SceneConfig, load_radiance_maps, make_scene, synthesise
from selfhdr_cli.io.frames import read_ldr
from selfhdr_cli.merge.align import FLOW_METHODS, AlignConfig
from selfhdr_cli.merge.bracket import bracket_from_arrays
from selfhdr_cli.merge.method import MergeConfig, merge_bracket
from selfhdr_cli.radiometry.mulaw import mu_law
from selfhdr_cli.radiometry.response import CameraResponse
from cli_defaults import settings  # noqa: E402


def psnr_mu(pred: np.ndarray, gt: np.ndarray) -> float:
    return psnr(mu_law(pred), mu_law(gt))


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
    ap.add_argument("--scenes", type=int, default=16)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    methods = list(FLOW_METHODS)
    images = load_radiance_maps(args.shared / "data" / "hdr", "val")
    cases = []
    for i in range(args.scenes):
        sc, _ = synthesise(images, i, args.seed, SceneConfig(size=(384, 512)))
        cases.append((f"val{i:02d}", sc.frames, [2.0 ** e for e in sc.ev_stops], sc.ground_truth, CameraResponse("gamma")))
    cases += list(ntire_brackets(args.shared))
    scores = {m: {"synth": [], "ntire": []} for m in methods + ["debevec"]}
    for name, frames, times, gt, response in cases:
        group = "ntire" if name.startswith("ntire") else "synth"
        bracket = bracket_from_arrays(frames, times)
        for m in methods + ["debevec"]:
            if m == "debevec":
                cfg = MergeConfig(bracket=settings(response), method="debevec")
            else:
                cfg = MergeConfig(bracket=settings(response), method="color", align=AlignConfig(flow=m))
            scores[m][group].append(psnr_mu(merge_bracket(bracket, cfg), gt))
    # speed at 1500x1000
    sc = make_scene(images[0], images, np.random.default_rng(0), SceneConfig(size=(1000, 1500)))
    big = bracket_from_arrays(sc.frames, [2.0 ** e for e in sc.ev_stops])
    print(f"{args.scenes} validation scenes (seed {args.seed}) + {len(cases) - args.scenes} NTIRE crops\n")
    print("| flow | PSNR-μ validation | PSNR-μ NTIRE | s @ 1500×1000 |")
    print("|---|---|---|---|")
    for m in methods + ["debevec"]:
        cfg = MergeConfig(bracket=settings(), method="debevec") if m == "debevec" else \
            MergeConfig(bracket=settings(), method="color", align=AlignConfig(flow=m))
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            merge_bracket(big, cfg)
            times.append(time.perf_counter() - t0)
        s, n = scores[m]["synth"], scores[m]["ntire"]
        print(f"| {m} | {np.mean(s):.2f} | {np.mean(n) if n else float('nan'):.2f} | {min(times):.2f} |")


if __name__ == "__main__":
    main()
