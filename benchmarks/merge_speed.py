"""Seconds per 1500×1000 merge for every method, in one process after a warm-up
(interpreter and library start-up excluded), on this machine's cores.

    python benchmarks/merge_speed.py [--weights other.safetensors] [--repeat 3]

The merge path itself sets the CPU up (merge.device.configure_cpu: threads, denormals
flushed, freed memory kept), exactly as ``selfhdr merge`` does.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from selfhdr_cli.merge.align import AlignConfig
from selfhdr_cli.merge.bracket import bracket_from_arrays
from selfhdr_cli.merge.method import MergeConfig, merge_bracket
from selfhdr_cli.radiometry.response import CameraResponse
from cli_defaults import settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", action="append", default=[], help="weights for method net (repeatable)")
    ap.add_argument("--size", default="1500x1000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(0)
    radiance = cv2.resize(rng.random((height // 8, width // 8, 3), dtype=np.float32), (width, height),
                          interpolation=cv2.INTER_CUBIC) ** 3
    g = CameraResponse("gamma")
    frames = [g.from_linear(np.clip(radiance * t, 0, 1)) for t in (1.0, 4.0, 16.0)]
    bracket = bracket_from_arrays(frames, [1.0, 4.0, 16.0])
    small = bracket_from_arrays([f[:256, :256] for f in frames], [1.0, 4.0, 16.0])
    configs = [("ref", MergeConfig(bracket=settings(), method="ref")), ("debevec", MergeConfig(bracket=settings(), method="debevec")),
               ("color-paper (triangle, flow alone)",
                MergeConfig(bracket=settings(), method="color", color_merge="triangle", align=AlignConfig(rigid_motion="none"))),
               ("color", MergeConfig(bracket=settings(), method="color"))]
    configs += [("net (shipped weights)", MergeConfig(bracket=settings(), method="net"))]
    configs += [(f"net ({w})", MergeConfig(bracket=settings(), method="net", weights=w)) for w in args.weights]
    print(f"| method | s per {args.size} merge (best of {args.repeat}) |")
    print("|---|---|")
    for name, cfg in configs:
        merge_bracket(small, cfg)  # warm-up
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            merge_bracket(bracket, cfg)
            times.append(time.perf_counter() - t0)
        print(f"| {name} | {min(times):.2f} |")


if __name__ == "__main__":
    main()
