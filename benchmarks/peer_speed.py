"""Whole-process time and peak memory of ``selfhdr merge`` beside Luminance HDR's CLI, same run.

A JPEG bracket is rendered from a validation-split radiance map by the realistic camera of
``synth --camera realistic`` (its own tone curve, JPEG, handheld motion and moving objects) at
1920×1080, and the same frames upscaled to 6000×4000. Each command runs as its own process;
its wall, user and system seconds and peak resident memory come from the kernel (wait4).
Peers: ``luminance-hdr-cli -a MTB -t 0.5`` (Debian package ``luminance-hdr``: MTB alignment,
anti-ghosting at 0.5), skipped when it is not installed.

    python benchmarks/peer_speed.py [--hdr ../shared/data/hdr] [--sizes 1920x1080,6000x4000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
EV = (0.0, 2.0, 4.0)


def bracket(hdr: Path, folder: Path, size: tuple[int, int]) -> list[Path]:
    """The realistic camera's bracket at 1920×1080 (synth), upscaled to ``size``, as JPEG (q 95)."""
    scene = folder / "scene"
    if not (scene / "scene_000").is_dir():
        subprocess.run([sys.executable, "-m", "selfhdr_cli", "synth", str(hdr), str(scene), "--split", "val", "-n", "1",
                        "--seed", "3", "--size", "1920x1080", "--camera", "realistic"], check=True,
                       stderr=subprocess.DEVNULL)
    paths = []
    for k in range(len(EV)):
        frame = cv2.imread(str(scene / "scene_000" / f"frame_{k}.tif"), cv2.IMREAD_COLOR)
        if frame.shape[:2] != (size[1], size[0]):
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)
        path = folder / f"{size[0]}x{size[1]}_{k}.jpg"
        cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        paths.append(path)
    return paths


def measured(command: list[str]) -> tuple[float, float, float, float]:
    """(wall s, user s, system s, peak RSS MiB) of one process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hdr", type=Path, default=HERE.parents[1] / "shared" / "data" / "hdr")
    ap.add_argument("--sizes", default="1920x1080,6000x4000")
    ap.add_argument("--repeat", type=int, default=2, help="runs per command; the fastest is reported")
    ap.add_argument("--methods", default="color", help="selfhdr methods to time (comma-separated)")
    args = ap.parse_args()
    if not args.hdr.is_dir():
        print(f"no {args.hdr}: nothing to measure", file=sys.stderr)
        return
    luminance = shutil.which("luminance-hdr-cli")
    selfhdr = [sys.executable, "-m", "selfhdr_cli"]
    print(f"{os.cpu_count()} cores; the fastest of {args.repeat} runs; whole process, JPEG frames\n")
    print("| size | command | wall s | user s | system s | system % of CPU | peak MiB |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for text in args.sizes.split(","):
            size = tuple(int(v) for v in text.split("x"))
            frames = [str(p) for p in bracket(args.hdr, folder, size)]
            commands = {f"selfhdr merge --method {m}": [*selfhdr, "merge", *frames, "--ev", ",".join(map(str, EV)),
                                                        "--method", m, "-o", str(folder / f"{m}.exr"), "--force"]
                        for m in args.methods.split(",")}
            if luminance:
                commands["luminance-hdr-cli -a MTB -t 0.5"] = [
                    luminance, "-a", "MTB", "-t", "0.5", "-e", ",".join(str(e - EV[1]) for e in EV),
                    "-s", str(folder / "luminance.exr"), *frames]
            for name, command in commands.items():
                runs = [measured(command) for _ in range(args.repeat)]
                wall, user, system, peak = min(runs, key=lambda r: r[0])
                share = 100 * system / max(user + system, 1e-9)
                print(f"| {text} | `{name}` | {wall:.2f} | {user:.1f} | {system:.1f} | {share:.0f} % | {peak:.0f} |",
                      flush=True)


if __name__ == "__main__":
    main()
