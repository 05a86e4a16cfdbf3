"""How much better must the flow alone be before the rigid global motion is dropped?
(``merge.align.GLOBAL_KEEP_MARGIN``; validation split only.)

The alignment fits a rigid motion, then the flow, and compares the frames' remaining misfit
with that of the flow alone; the rigid motion is dropped only when the flow alone is better
by more than the margin. A tie flipped between OpenCV 5.0 and 5.1 on a translated bracket
(tests/test_build_color.py), so the margin is chosen here, on the validation scenes:

    python benchmarks/rigid_margin_choice.py [--hdr ../shared/data/hdr] [--data benchmarks/data/val]

Builds (once) 16 dynamic and 4 static validation scenes at 512×384, then prints the colour
merge's PSNR-μ for each margin, and the translation test's figure per flow.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2

import selfhdr_cli.merge.align as align
from cli_defaults import settings
from val_data import build
from selfhdr_cli.evaluation.evaluate import evaluate_method, summarise
from selfhdr_cli.merge.method import MergeConfig

HERE = Path(__file__).resolve().parent
MARGINS = (1.0, 1.03, 1.1, 1.25)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hdr", type=Path, default=HERE.parents[1] / "shared" / "data" / "hdr")
    ap.add_argument("--data", type=Path, default=HERE / "data" / "val")
    args = ap.parse_args()
    build(args.hdr)
    print(f"OpenCV {cv2.__version__}\n")
    print("| margin | dynamic PSNR-μ | static PSNR-μ |")
    print("|---|---|---|")
    for margin in MARGINS:
        align.GLOBAL_KEEP_MARGIN = margin
        summary = summarise(evaluate_method(args.data, MergeConfig(bracket=settings(), method="color")))
        print(f"| {margin:g} | {summary['dynamic']['psnr_mu']:.3f} | {summary['static']['psnr_mu']:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()
