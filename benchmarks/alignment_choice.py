"""Which alignment and fixed merge should the colour component use? Measured on the validation split.

The robust recipe's alignment (``AlignConfig(rigid_motion="rigid")``: a global rigid motion
before the flow when the camera moved, kept only when it leaves the frames more alike, and no flow
where the frame needs none) against SPEC §2's dense flow alone (``rigid_motion="none"``), each
with SPEC §2.4's triangle merge and with the SNR merge (``merge.snr``, noise fitted from the
bracket, the out-of-frame fill given no weight). Scenes are synthesised from the validation
split's maps as ``synth --split val`` would (seed 7), in four groups:

- dynamic: the default scene (moving objects, camera motion of up to 3 px and 1°);
- handheld: the same with camera motion of up to 25 px and 1.5°;
- static: nothing moves;
- noisy static: nothing moves, a camera with 5× the shot and 3× the read noise.

PSNR-μ / SSIM-μ against ground truth (SPEC §6), and for handheld also the border ratio: RMS μ-law
error in the outer 20 px over the interior's (1 = no band).

    python benchmarks/alignment_choice.py [--scenes 8] [--seed 7] [--shared ../shared]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from selfhdr_cli.evaluation.metrics import score_hdr
from selfhdr_cli.evaluation.synth import SceneConfig, SensorConfig, load_radiance_maps, synthesise
from selfhdr_cli.merge.align import AlignConfig
from selfhdr_cli.merge.bracket import bracket_from_arrays
from selfhdr_cli.merge.color import ColorConfig, build_color
from selfhdr_cli.radiometry.mulaw import mu_law
from cli_defaults import color_config  # noqa: E402

GROUPS = {
    "dynamic": SceneConfig(),
    "handheld": SceneConfig(camera_shift_px=25.0, camera_degrees=1.5),
    "static": SceneConfig(static=True),
    "noisy static": SceneConfig(static=True, sensor=SensorConfig(shot=1e-3, read=3e-3)),
}
BAND = 20


def border_ratio(hdr: np.ndarray, gt: np.ndarray) -> float:
    err = ((mu_law(hdr) - mu_law(gt)) ** 2).mean(axis=-1)
    inner = np.zeros(err.shape, bool)
    inner[BAND:-BAND, BAND:-BAND] = True
    return float(np.sqrt(err[~inner].mean() / err[inner].mean()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = ap.parse_args()
    maps = load_radiance_maps(args.shared / "data" / "hdr", "val")
    cases = {name: [synthesise(maps, i, args.seed, config)[0] for i in range(args.scenes)]
             for name, config in GROUPS.items()}
    print(f"{args.scenes} validation scenes per group (seed {args.seed})\n")
    print("| alignment | merge | " + " | ".join(f"{g} PSNR-μ / SSIM-μ" for g in GROUPS) + " | handheld border ratio |")
    print("|---|---|" + "---|" * (len(GROUPS) + 1))
    for motion, label in (("none", "flow alone (SPEC §2)"), ("rigid", "robust (the robust recipe)")):
        for merge in ("triangle", "snr"):
            config = color_config(merge=merge, rigid_motion=motion)
            cells, ratios = [], []
            for name, scenes in cases.items():
                scores = []
                for scene in scenes:
                    bracket = bracket_from_arrays(scene.frames, np.power(2.0, np.asarray(scene.ev_stops)))
                    hdr = build_color(bracket, config, gate=False).y_color
                    scores.append(score_hdr(hdr, scene.ground_truth))
                    if name == "handheld":
                        ratios.append(border_ratio(hdr, scene.ground_truth))
                cells.append(f"{np.mean([s.psnr_mu for s in scores]):.2f} / {np.mean([s.ssim_mu for s in scores]):.4f}")
            print(f"| {label} | {merge} | " + " | ".join(cells) + f" | {np.mean(ratios):.2f} |", flush=True)


if __name__ == "__main__":
    main()
