"""The validation scenes every choice in benchmarks/ is made on (validation split maps only).

``benchmarks/data/val``: 16 dynamic and 4 static scenes at 512×384 from the ideal camera (16-bit,
gamma 2.2, the benchmark's). ``benchmarks/data/val_camera``: the ``camera`` group, 12 dynamic and
4 static scenes from a realistic camera (``synth --camera realistic``: a tone curve of its own per
scene, 8-bit JPEG, handheld motion up to 50 px and 3°). ``benchmarks/data/val_hd``: the same camera at
1920×1080, 6 dynamic and 2 static scenes, for choices that depend on the frame size (the 1k maps are
upsampled: less fine detail than a real 2 MP photograph; the real brackets over 1 MP complete it).
Built once; existing scenes are kept.

    python benchmarks/val_data.py [--hdr ../shared/data/hdr]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
IDEAL = HERE / "data" / "val"
CAMERA = HERE / "data" / "val_camera"
HD = HERE / "data" / "val_hd"


def build(hdr: Path, ideal: Path = IDEAL, camera: Path = CAMERA, hd: Path = HD) -> None:
    """Synthesise the missing validation scenes of the three groups."""
    groups = ((ideal, "dyn_", 16, 7, "512x384", []), (ideal, "static_", 4, 8, "512x384", ["--static"]),
              (camera, "camdyn_", 12, 9, "512x384", ["--camera", "realistic"]),
              (camera, "camstatic_", 4, 10, "512x384", ["--camera", "realistic", "--static"]),
              (hd, "hddyn_", 6, 11, "1920x1080", ["--camera", "realistic"]),
              (hd, "hdstatic_", 2, 12, "1920x1080", ["--camera", "realistic", "--static"]))
    for data, prefix, n, seed, size, extra in groups:
        data.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "selfhdr_cli", "synth", str(hdr), str(data), "--split", "val",
                        "--scenes", str(n), "--seed", str(seed), "--prefix", prefix, "--size", size, *extra],
                       check=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hdr", type=Path, default=HERE.parents[1] / "shared" / "data" / "hdr")
    args = ap.parse_args()
    build(args.hdr)
