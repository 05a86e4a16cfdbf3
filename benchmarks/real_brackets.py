"""Departures from the reference on the real brackets of ../shared/data/brackets.

Research data, looked at only (never trained on, never shipped; SOURCES.md there). For each
bracket and method, the share (%) of the reference's well-exposed pixels that the merge
departs from (``selfhdr_cli.merge.quality``: re-exposed to the reference, a local affine fit,
residual clusters). ``ref`` scores 0 by construction; lower is better. The "clipped" columns
judge where the reference clips and the shortest frame (aligned as the colour merge aligns it)
is well exposed: the share of those pixels whose colour or level the merge gets wrong
(``quality.clipped_departures``: a highlight rendered white or magenta, a blocky patch of another
frame's colour), which the first measure cannot see. Also writes a contact
sheet (``--sheet``): per bracket the default merge's preview, its departure map (red) over the
reference, and ``debevec``'s preview beside them.

    python benchmarks/real_brackets.py [--shared ../shared] [--methods ref,color,debevec,net]
        [--sheet /tmp/real_brackets.png] [--crf auto|gamma:2.2|...] [--weights net.safetensors]

Every method merges through the same response: with ``--crf auto`` (merge's default) each 8-bit
bracket's own fitted curve where the fit is kept (``radiometry.bracket_response``).

Skips cleanly (exit 0, a line on stderr) without ../shared.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from cli_defaults import settings
from selfhdr_cli.merge.bracket import load_bracket
from selfhdr_cli.merge.method import MergeConfig, merge_bracket
from selfhdr_cli.merge.color import build_color
from selfhdr_cli.merge.quality import clipped_departures, departures
from selfhdr_cli.radiometry.response import DEFAULT_RESPONSE, parse_response
from selfhdr_cli.radiometry.tonemap import tonemap

SHEET_HEIGHT = 240  # px per bracket row in the contact sheet


def brackets(root: Path) -> dict[str, tuple[list[Path], str | None]]:
    """Name → (frames, --ev or None: EXIF, else estimated from the pixels), as the review measured them."""
    out: dict[str, tuple[list[Path], str | None]] = {}

    def add(name: str, frames: list[Path], ev: str | None = None) -> None:
        if frames and all(f.is_file() for f in frames):
            out[name] = (frames, ev)

    add("horse_mefssimd", sorted((root / "horse_mefssimd").glob("*.png")))
    add("mertens_house", sorted((root / "mertens_house").glob("*.jpg")))
    garden = root / "sculpture_garden_gallo2009"
    add("sculpture_garden 1,3,5", [garden / f"{k}.tif" for k in (1, 3, 5)], "-2,0,2")
    add("sculpture_garden (5)", [garden / f"{k}.tif" for k in range(1, 6)], "-2,-1,0,1,2")
    add("memorial 68,66,64", [root / "memorial_debevec" / f"memorial00{k}.png" for k in (68, 66, 64)], "0,2,4")
    for name in ("homedeck_hall_window", "homedeck_kitchen", "hdkai_kitchen_70d", "merianos_searock",
                 "merianos_secretbeach", "dario_crusader_handheld"):
        add(name, sorted(p for p in (root / name).iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
            if (root / name).is_dir() else [])
    return out


def preview(hdr: np.ndarray, height: int) -> np.ndarray:
    image = tonemap(hdr, "reinhard")
    return cv2.resize(image, (round(image.shape[1] * height / image.shape[0]), height), interpolation=cv2.INTER_AREA)


def overlay(reference: np.ndarray, mask: np.ndarray, height: int) -> np.ndarray:
    base = np.round(np.clip(reference, 0, 1) * 255 * 0.6).astype(np.uint8)
    base[mask] = (255, 0, 0)
    return cv2.resize(base, (round(base.shape[1] * height / base.shape[0]), height), interpolation=cv2.INTER_AREA)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--methods", default="ref,color,debevec,net")
    ap.add_argument("--crf", default="auto", help="the camera response every merge assumes; auto (merge's default): "
                                                  "each 8-bit bracket's own fit where it is kept, else gamma:2.2")
    ap.add_argument("--sheet", type=Path, default=None, help="write a contact sheet PNG here")
    ap.add_argument("--weights", type=Path, default=None, help="the network of --methods net (default: the shipped one)")
    args = ap.parse_args()
    root = args.shared / "data" / "brackets"
    if not root.is_dir():
        print(f"no {root}: nothing to measure", file=sys.stderr)
        return
    auto = args.crf == "auto"
    # the review's exposures, as given or estimated
    read = settings(DEFAULT_RESPONSE if auto else parse_response(args.crf), trust_exposures=True, fit_response=auto)
    methods = [m for m in args.methods.split(",") if m]
    print(f"departures from the reference, % of its well-exposed pixels (--crf {args.crf})\n")
    print("| bracket | frames | exposures | response | " + " | ".join(methods) + " | "
          + " | ".join(f"{m}, clipped" for m in methods) + " |")
    print("|---|---|---|---|" + "---|" * (2 * len(methods)))
    rows = []
    for name, (frames, ev) in brackets(root).items():
        started = time.perf_counter()
        bracket = load_bracket(frames, read, ev=ev)
        used = MergeConfig(method="ref", bracket=read).for_bracket(bracket).bracket
        response = "fitted" if bracket.response is not None else str(used.response)
        if bracket.response_note:
            print(f"  {name}: {bracket.response_note}", file=sys.stderr)
        ref = bracket.frames[bracket.reference]
        t_ref = float(bracket.relative_times[bracket.reference])
        # the shortest frame on the reference, by the colour merge's alignment: the evidence where the reference clips
        short = build_color(bracket, MergeConfig(method="color", bracket=used).color, gate=False).aligned[0]
        cells, clipped_cells, merged = [], [], {}
        for method in methods:
            weights = str(args.weights) if method == "net" and args.weights is not None else None
            hdr = merge_bracket(bracket, MergeConfig(method=method, bracket=read, weights=weights))
            found = departures(hdr, ref, t_ref, used.response)
            merged[method] = (hdr, found)
            cells.append(f"{100 * found.share:.2f}")
            clipped = clipped_departures(hdr, ref, short, float(bracket.relative_times[0]), used.response)
            clipped_cells.append(f"{100 * clipped.share:.2f}")
        source = "--ev" if ev else bracket.exposure_source
        print(f"| {name} | {len(frames)} | {source} | {response} | " + " | ".join(cells + clipped_cells) + " |",
              flush=True)
        print(f"  ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        if args.sheet is not None:
            default = "color" if "color" in merged else methods[0]
            tiles = [preview(merged[default][0], SHEET_HEIGHT), overlay(ref, merged[default][1].mask, SHEET_HEIGHT)]
            if "debevec" in merged:
                tiles.append(preview(merged["debevec"][0], SHEET_HEIGHT))
            rows.append(np.concatenate(tiles, axis=1))
    if args.sheet is not None and rows:
        width = max(r.shape[1] for r in rows)
        sheet = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
        cv2.imwrite(str(args.sheet), sheet[:, :, ::-1])
        print(f"\ncontact sheet: {args.sheet} (per row: {default} preview, its departures in red over the reference, "
              "debevec)")


if __name__ == "__main__":
    main()
