"""Ablation of the seamless SNR merge (``merge.snr.Seams``): each piece alone and all together.

Pieces: ``taper`` (weights continuous in the pixel values: smooth roll-off below the clip and
above black), ``joint`` (a frame clipped in any channel gives no weight to the others),
``feather`` (the rejected area grown and blurred), ``clamp`` (the cubic warp held within the
values around each sampling point: no overshoot contour; ``merge.align.CLAMP_CUBIC``), and
``model`` (agreement tolerates a 5 % relative error beyond noise: tried, left off). Also ``all with full-res flow``:
the motion of frames over 1 MP found at full size (``merge.align.MOTION_MAX_PIXELS``; the default finds
it on half-size copies, for speed). Rows: ``hard`` (all off: the merge before),
each piece alone, ``all`` (the default), ``all`` without each piece, and the neighbours of
the chosen widths.

``fit`` is the response: each 8-bit bracket's own fitted curve (``--crf auto``), else gamma 2.2.

Columns: validation PSNR-μ (dynamic, static) of the ideal-camera group, of the realistic
``camera`` group and of that camera at 1920×1080 (``hd``; ``benchmarks/val_data.py`` builds all three), and departures from the reference (%)
on the real brackets of ../shared/data/brackets (``benchmarks/real_brackets.py``'s list, its
exposures), with the mean over brackets. Research brackets are only measured, never shipped.

    python benchmarks/seamless_ablation.py [--rows hard,all] [--no-val] [--no-real]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from cli_defaults import settings
from real_brackets import brackets
import selfhdr_cli.merge.align as align
from selfhdr_cli.evaluation.evaluate import evaluate_method, summarise
from selfhdr_cli.merge.bracket import load_bracket
from selfhdr_cli.merge.method import MergeConfig, merge_bracket
from selfhdr_cli.merge.quality import departures
from selfhdr_cli.merge.snr import Seams
from selfhdr_cli.radiometry.response import DEFAULT_RESPONSE
from val_data import CAMERA, HD, IDEAL

HERE = Path(__file__).resolve().parent
ON = Seams()
OFF = Seams.hard()
PIECES = {
    "taper": {"clip_taper": ON.clip_taper, "dark_taper": ON.dark_taper},
    "joint": {"joint_clip": ON.joint_clip},
    "feather": {"feather": ON.feather},
}
MODEL_ERROR = 0.05  # tried and left off (Seams.model_error): the row shows why


def rows() -> dict[str, tuple[bool, Seams, bool] | tuple[bool, Seams, bool, float]]:
    """Row name → (fit each 8-bit bracket's response, seam settings, clamp the cubic warp[, the
    frame size above which the motion is found on reduced copies])."""
    out = {"hard": (False, OFF, False), "fit alone": (True, OFF, False)}
    for name, fields in PIECES.items():
        out[f"{name} alone"] = (False, replace(OFF, **fields), False)
    out["clamp alone"] = (False, OFF, True)
    out["all"] = (True, ON, True)
    out["all but fit"] = (False, ON, True)
    for name, fields in PIECES.items():
        out[f"all but {name}"] = (True, replace(ON, **{k: getattr(OFF, k) for k in fields}), True)
    out["all but clamp"] = (True, ON, False)
    out["all + model"] = (True, replace(ON, model_error=MODEL_ERROR), True)
    out["all with feather 0.7"] = (True, replace(ON, feather=0.7), True)
    out["all with taper 0.1"] = (True, replace(ON, clip_taper=0.1), True)
    out["all with full-res flow"] = (True, ON, True, float("inf"))
    return out


def group_psnr(data: Path, fit: bool, seams: Seams) -> list[str]:
    """Dynamic and static PSNR-μ of the color merge over a validation group (exposures exact by construction:
    not checked, as a camera curve far from gamma 2.2 can make the check under gamma 2.2 refuse them)."""
    read = settings(trust_exposures=True, fit_response=fit)
    summary = summarise(evaluate_method(data, MergeConfig(method="color", bracket=read, seams=seams)))
    return [f"{summary['dynamic']['psnr_mu']:.2f}", f"{summary['static']['psnr_mu']:.2f}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared")
    ap.add_argument("--rows", default=None, help="comma-separated row names (default: all)")
    ap.add_argument("--no-val", action="store_true")
    ap.add_argument("--no-real", action="store_true")
    args = ap.parse_args()
    table = rows()
    chosen = args.rows.split(",") if args.rows else list(table)
    real = {} if args.no_real else brackets(args.shared / "data" / "brackets")
    groups = [] if args.no_val else [g for g in (IDEAL, CAMERA, HD) if g.is_dir()]
    if not args.no_val and len(groups) < 3:
        print("validation scenes missing: run benchmarks/val_data.py", file=sys.stderr)
    names = {IDEAL: ("val dyn", "val static"), CAMERA: ("cam dyn", "cam static"), HD: ("hd dyn", "hd static")}
    head = [h for g in groups for h in names[g]]
    head += [n.split()[0][:12] for n in real] + (["mean"] if real else [])
    print("seam ablation: validation PSNR-μ (dB; val: ideal camera, cam: realistic camera), real-bracket "
          "departures (%)\n")
    print("| row | " + " | ".join(head) + " |")
    print("|---|" + "---|" * len(head))
    loaded: dict[bool, dict] = {}
    default_motion = align.MOTION_MAX_PIXELS
    for name in chosen:
        fit, seams, clamp, *motion = table[name]
        align.CLAMP_CUBIC = clamp  # the warp's overshoot clamp is a module setting: switched per row here only
        align.MOTION_MAX_PIXELS = motion[0] if motion else default_motion  # likewise
        cells = [c for g in groups for c in group_psnr(g, fit, seams)]
        read = settings(DEFAULT_RESPONSE, trust_exposures=True, fit_response=fit)  # the review's exposures
        if fit not in loaded:
            loaded[fit] = {n: load_bracket(frames, read, ev=ev) for n, (frames, ev) in real.items()}
        shares = []
        for bracket in loaded[fit].values():
            config = MergeConfig(method="color", bracket=read, seams=seams)
            hdr = merge_bracket(bracket, config)
            r = bracket.reference
            shares.append(100 * departures(hdr, bracket.frames[r], float(bracket.relative_times[r]),
                                           config.for_bracket(bracket).response).share)
        cells += [f"{s:.2f}" for s in shares] + ([f"{np.mean(shares):.2f}"] if shares else [])
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
