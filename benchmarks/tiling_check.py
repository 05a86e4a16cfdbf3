"""Tiled vs untiled network inference on a real bracket: max |Δ| in μ-law.

    python benchmarks/tiling_check.py WEIGHTS FRAME... --ev -2,0,2 [--tile 256]
"""

from __future__ import annotations

import argparse

import numpy as np

from selfhdr_cli.merge.align import AlignConfig
from selfhdr_cli.merge.bracket import load_bracket
from selfhdr_cli.merge.network import TileConfig, merge_with_network
from selfhdr_cli.radiometry.mulaw import mu_law
from selfhdr_cli.radiometry.response import CameraResponse
from cli_defaults import settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights")
    ap.add_argument("frames", nargs="+")
    ap.add_argument("--ev")
    ap.add_argument("--tile", type=int, default=256)
    args = ap.parse_args()
    bracket = load_bracket(args.frames, settings(), ev=args.ev)
    g, al = CameraResponse("gamma"), AlignConfig()
    whole = merge_with_network(bracket, args.weights, g, al, TileConfig(tile=8192))
    tiled = merge_with_network(bracket, args.weights, g, al, TileConfig(tile=args.tile))
    diff = np.abs(mu_law(whole) - mu_law(tiled))
    h, w = whole.shape[:2]
    print(f"{w}x{h}, tile {args.tile}: max |Δ| in μ-law {diff.max():.2e}, mean {diff.mean():.2e}")


if __name__ == "__main__":
    main()
