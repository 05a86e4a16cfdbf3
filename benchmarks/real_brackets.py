"""The default merge on the real brackets of ../shared/data/brackets: colour cast and border band.

Research data, looked at only (never trained on, never shipped). For each bracket, the default
(`net`) and `--method color` merges, and:

- colour: per-channel means of `net` over `color` where every frame agrees with the reference
  (the static gate of `merge.snr` above 0.5), in % (the robust recipe: within 2 %);
- band: mean absolute μ-law difference between `net` and `color` (×1000) in the outer 20 px and
  in the interior: a network that shows the out-of-frame fill differs from `color` along the border.

    python benchmarks/real_brackets.py [--weights W] [--shared ../shared]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from selfhdr_cli.radiometry.exposure_ratio import estimate_exposures
from selfhdr_cli.io.frames import read_ldr
from selfhdr_cli.merge.bracket import load_bracket
from selfhdr_cli.merge.colour import ColorConfig, build_color
from selfhdr_cli.merge.method import MergeConfig, merge_bracket
from selfhdr_cli.radiometry.mulaw import mu_law
from selfhdr_cli.radiometry.response import CameraResponse
from cli_defaults import color_config, settings  # noqa: E402

BAND = 20


def estimated_ev(frames: list[Path]) -> str:
    ev = np.log2(estimate_exposures([read_ldr(p) for p in frames], CameraResponse("gamma")))
    return ",".join(f"{e:.3f}" for e in ev)


def brackets(root: Path) -> dict[str, tuple[list[Path], str]]:
    """Name → (frames, --ev) for every usable bracket under ``root``."""
    out = {}
    garden = root / "sculpture_garden_gallo2009"
    if garden.is_dir():
        out["sculpture garden (3 of 5)"] = ([garden / f"{k}.tif" for k in (1, 3, 5)], "-2,0,2")
        out["sculpture garden (5)"] = ([garden / f"{k}.tif" for k in range(1, 6)], "-2,-1,0,1,2")
    for name, pattern in (("horse", "horse_mefssimd/*.png"), ("house", "mertens_house/*.jpg")):
        frames = sorted(root.glob(pattern))
        if len(frames) >= 3:
            out[name] = (frames, estimated_ev(frames))
    memorial = root / "memorial_debevec"
    if memorial.is_dir():  # 1-stop steps, brightest first: three frames 2 stops apart, static
        frames = [memorial / f"memorial00{k}.png" for k in (68, 66, 64)]
        out["memorial (static)"] = (frames, "-2,0,2")
    for crop in sorted(root.glob("ntire2021_crop_*")):
        out[crop.name] = ([crop / f"{k}.png" for k in range(3)], "-2,0,2")
    return out


def border_and_interior(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean |T(a) − T(b)| ×1000 in the outer ``BAND`` px and inside them."""
    d = np.abs(mu_law(a) - mu_law(b)).mean(axis=-1) * 1000
    inner = np.zeros(d.shape, bool)
    inner[BAND:-BAND, BAND:-BAND] = True
    return float(d[~inner].mean()), float(d[inner].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = ap.parse_args()
    print("| bracket | frames | agreeing px | net / color R, G, B (%) | net − color, border / interior (×1e-3) |")
    print("|---|---|---|---|---|")
    for name, (frames, ev) in brackets(args.shared / "data" / "brackets").items():
        bracket = load_bracket(frames, settings(), ev=ev)
        colour = build_color(bracket, color_config())
        net = merge_bracket(bracket, MergeConfig(bracket=settings(), method="net", weights=args.weights))
        agree = colour.gate > 0.5
        ratios = [100 * (net[..., c][agree].mean() / colour.y_color[..., c][agree].mean() - 1) for c in range(3)]
        print(f"| {name} | {len(frames)} | {agree.mean():.0%} | " + ", ".join(f"{r:+.2f}" for r in ratios)
              + " | {:.2f} / {:.2f} |".format(*border_and_interior(net, colour.y_color)), flush=True)


if __name__ == "__main__":
    main()
