"""Which fixed merge should the colour component use? Measured on the validation split.

Compares SPEC §2.4's triangle weights (the paper's Y_color) with the SNR merge of
``selfhdr_cli.merge.snr`` (every frame, inverse-variance weights, clipped values excluded),
without and with rejection of frames that disagree with the reference, with the default
noise model or one estimated from the bracket itself (``estimate_noise``). Scenes are
synthesised from the validation split's maps exactly as ``synth --split val`` would (seed 7):
dynamic and static brackets, 3 frames at EV 0/2/4, and 5-frame static brackets at EV 0..4 in
1-stop steps (where the triangle merge uses only 3 of the 5). All methods see the same
flow-aligned frames (the default flow). PSNR-μ and SSIM-μ against ground truth, SPEC §6.

    python benchmarks/color_merge_choice.py [--scenes 8] [--seed 7] [--shared ../shared]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from selfhdr_cli.evaluation.metrics import score_hdr
from selfhdr_cli.evaluation.synth import SceneConfig, load_radiance_maps, render_bracket, synthesise
from selfhdr_cli.merge.align import AlignConfig, align_bracket
from selfhdr_cli.merge.color import merge_triangle
from selfhdr_cli.merge.snr import SNRMergeConfig, estimate_noise, merge_snr
from selfhdr_cli.radiometry.response import CameraResponse

METHODS = {
    "triangle (SPEC §2.4)": lambda al, t, r, g: merge_triangle(al, t, r, g),
    "SNR, no rejection": lambda al, t, r, g: merge_snr(al, t, r, g, SNRMergeConfig(reject_sigma=0)),
    "SNR + rejection (3σ)": lambda al, t, r, g: merge_snr(al, t, r, g, SNRMergeConfig()),
    "SNR + rejection, noise estimated from the bracket":
        lambda al, t, r, g: merge_snr(al, t, r, g, SNRMergeConfig(noise=estimate_noise(al, t, g))),
}


def five_frame_static(maps: list[np.ndarray], index: int, seed: int) -> tuple[list[np.ndarray], list[float], np.ndarray]:
    """A static scene of the validation split rendered at EV 0, 1, 2, 3, 4 (reference EV 2)."""
    config = SceneConfig(static=True)
    scene, background = synthesise(maps, index, seed, config)
    # the same radiance (the ground truth is the reference's radiance, unclipped copy re-derived)
    rng = np.random.default_rng([seed, index, 5])
    canvas = scene.ground_truth  # clipped at 1 in short-exposure units, as every bracket measures it
    ev = [0.0, 1.0, 2.0, 3.0, 4.0]
    frames, gt, _ = render_bracket(canvas, canvas.shape[:2], [], ev, 2, config.sensor, rng)
    return frames, ev, gt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = ap.parse_args()
    maps = load_radiance_maps(args.shared / "data" / "hdr", "val")
    g = CameraResponse("gamma")
    groups: dict[str, list] = {"dynamic, 3 frames": [], "static, 3 frames": [], "static, 5 frames": []}
    for i in range(args.scenes):
        for name, static in (("dynamic, 3 frames", False), ("static, 3 frames", True)):
            scene, _ = synthesise(maps, i, args.seed, replace(SceneConfig(), static=static))
            groups[name].append((scene.frames, scene.ev_stops, 1, scene.ground_truth))
        frames, ev, gt = five_frame_static(maps, i, args.seed)
        groups["static, 5 frames"].append((frames, ev, 2, gt))
    print(f"{args.scenes} validation scenes per group (seed {args.seed})\n")
    print("| merge | " + " | ".join(f"{g_} PSNR-μ / SSIM-μ" for g_ in groups) + " |")
    print("|---|" + "---|" * len(groups))
    aligned_cache = {}
    for method, fn in METHODS.items():
        cells = []
        for group, cases in groups.items():
            scores = []
            for j, (frames, ev, ref, gt) in enumerate(cases):
                t = np.power(2.0, np.asarray(ev) - ev[0])
                key = (group, j)
                if key not in aligned_cache:
                    aligned_cache[key] = align_bracket(frames, t, ref, g, AlignConfig())
                scores.append(score_hdr(fn(aligned_cache[key], t, ref, g), gt))
            cells.append(f"{np.mean([s.psnr_mu for s in scores]):.2f} / {np.mean([s.ssim_mu for s in scores]):.4f}")
        print(f"| {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
