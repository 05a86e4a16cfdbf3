"""Probe for the robust recipe (validation split only): the shipped network's output where frames
disagree, the SNR merge where they agree.

For each validation scene: Y_color (triangle), the SNR merge with rejection, the network
(shipped weights) and the agreement-gated blend a·SNR + (1 − a)·net, a = the blurred agreement
map of ``merge.snr.agreement``. Dynamic scenes come from a validation dataset folder
(``training/prepare_data.py`` writes one), static ones are synthesised from the validation maps.

    python benchmarks/gated_blend_probe.py VAL_DIR [--static 8] [--shared ../shared]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from selfhdr_cli.evaluation.metrics import score_hdr
from selfhdr_cli.evaluation.synth import SceneConfig, load_radiance_maps, synthesise
from selfhdr_cli.io.dataset import GROUND_TRUTH_FILE, labelled_scenes, scene_frames
from selfhdr_cli.io.hdrfile import read_hdr_image
from selfhdr_cli.merge.align import AlignConfig, align_bracket
from selfhdr_cli.merge.bracket import bracket_from_arrays, load_bracket
from selfhdr_cli.merge.color import merge_triangle
from selfhdr_cli.merge.method import MergeConfig, merge_bracket
from selfhdr_cli.merge.snr import agreement, merge_snr
from selfhdr_cli.radiometry.response import CameraResponse
from cli_defaults import settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("val", type=Path)
    ap.add_argument("--static", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = ap.parse_args()
    g = CameraResponse("gamma")
    cases = [("dynamic", load_bracket(scene_frames(s), settings()), read_hdr_image(s / GROUND_TRUTH_FILE))
             for s in labelled_scenes(args.val)]
    maps = load_radiance_maps(args.shared / "data" / "hdr", "val")
    for i in range(args.static):
        scene, _ = synthesise(maps, i, args.seed, replace(SceneConfig(), static=True))
        cases.append(("static", bracket_from_arrays(scene.frames, [2.0 ** e for e in scene.ev_stops]),
                      scene.ground_truth))
    rows: dict[str, dict[str, list]] = {}
    for group, bracket, gt in cases:
        t = bracket.relative_times
        aligned = align_bracket(bracket.frames, bracket.times, bracket.reference, g, AlignConfig())
        net = merge_bracket(bracket, MergeConfig(bracket=settings(), method="net"))
        snr = merge_snr(aligned, t, bracket.reference, g)
        a = cv2.GaussianBlur(agreement(aligned, t, bracket.reference, g), (0, 0), 2.0)[..., None]
        results = {"triangle (Y_color)": merge_triangle(aligned, t, bracket.reference, g), "SNR + rejection": snr,
                   "net (shipped)": net, "gated: SNR where frames agree, net elsewhere": a * snr + (1 - a) * net}
        for name, pred in results.items():
            rows.setdefault(name, {}).setdefault(group, []).append(score_hdr(pred, gt))
    print("| merge | dynamic PSNR-μ / SSIM-μ | static PSNR-μ / SSIM-μ |")
    print("|---|---|---|")
    for name, groups in rows.items():
        cells = [f"{np.mean([s.psnr_mu for s in groups[k]]):.2f} / {np.mean([s.ssim_mu for s in groups[k]]):.4f}"
                 for k in ("dynamic", "static")]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
