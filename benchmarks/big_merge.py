"""Peak memory of a 6000×4000 merge: the tool must stay bounded (≤ 4 GB for --method net).

Makes a 6000×4000 16-bit bracket (once, under --data) and runs the real command under
/usr/bin/time for each method, printing wall seconds and peak RSS.

    python benchmarks/big_merge.py --weights WEIGHTS [--data /tmp/selfhdr_big] [--methods net,color]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import numpy as np


def make_bracket(folder: Path, width: int = 6000, height: int = 4000) -> list[Path]:
    import cv2
    import tifffile

    from selfhdr_cli.radiometry.response import CameraResponse

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"frame_{k}.tif" for k in range(3)]
    if all(p.is_file() for p in paths):
        return paths
    rng = np.random.default_rng(0)
    coarse = rng.random((height // 16, width // 16, 3), dtype=np.float32)
    radiance = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) ** 3
    g = CameraResponse("gamma")
    for k, (path, t) in enumerate(zip(paths, (1.0, 4.0, 16.0))):
        shift = np.float32([[1, 0, 6 * (k - 1)], [0, 1, 3 * (k - 1)]])  # a little camera motion
        moved = cv2.warpAffine(radiance, shift, (width, height), borderMode=cv2.BORDER_REFLECT)
        ldr = g.from_linear(np.clip(moved * t, 0, 1))
        tifffile.imwrite(path, np.round(ldr * 65535).astype(np.uint16), photometric="rgb")
        del moved, ldr
    (folder / "exposure.txt").write_text("0\n2\n4\n")
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("/tmp/selfhdr_big"))
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--methods", default="net,color")
    args = ap.parse_args()
    paths = make_bracket(args.data)
    selfhdr = [sys.executable, "-m", "selfhdr_cli"]
    print("| method | wall s | peak RSS (MB) |")
    print("|---|---|---|")
    for method in args.methods.split(","):
        out = args.data / f"out_{method}.exr"
        cmd = ["/usr/bin/time", "-f", "TIME %e %M", *selfhdr, "merge", *map(str, paths), "-m", method,
               "-o", str(out), "--force"]
        if method == "net" and args.weights:
            cmd += ["--weights", str(args.weights)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = re.search(r"TIME ([\d.]+) (\d+)", proc.stderr)
        if proc.returncode != 0 or not found:
            print(f"| {method} | failed: {proc.stderr.strip().splitlines()[-1]} | |")
            continue
        print(f"| {method} | {float(found.group(1)):.1f} | {int(found.group(2)) / 1024:.0f} |")


if __name__ == "__main__":
    main()
