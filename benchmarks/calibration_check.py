"""A filmic camera (toe and shoulder, no gamma) — merges under the gamma-2.2
assumption, with `selfhdr calibrate`'s curve, and with OpenCV's CalibrateDebevec + MergeDebevec,
on the same 8-bit static frames. Validation radiance maps (never the benchmark split).

    python benchmarks/calibration_check.py [--scenes 4] [--shared ../shared]

PSNR-μ / PSNR-l against the map, after one global scale (OpenCV's radiance has arbitrary units).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from selfhdr_cli.evaluation.metrics import score_hdr
from selfhdr_cli.evaluation.synth import SceneConfig, SensorConfig, load_radiance_maps, synthesise
from selfhdr_cli.io.hdrfile import read_hdr_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_calibration import filmic_response, scale_free  # noqa: E402  (one definition of the camera)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = ap.parse_args()
    maps = load_radiance_maps(args.shared / "data" / "hdr", "val")
    config = replace(SceneConfig(), static=True, sensor=SensorConfig(response=filmic_response(), bits=8))
    rows = {"gamma 2.2 assumed": [], "selfhdr calibrate": [], "OpenCV Debevec": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scenes = []
        for i in range(args.scenes):
            scene, _ = synthesise(maps, i, args.seed, config)
            paths = []
            for k, frame in enumerate(scene.frames):
                path = tmp / f"s{i}" / f"{k}.png"
                path.parent.mkdir(exist_ok=True)
                cv2.imwrite(str(path), np.round(frame[:, :, ::-1] * 255).astype(np.uint8))
                paths.append(path)
            (tmp / f"s{i}" / "exposure.txt").write_text("".join(f"{e:g}\n" for e in scene.ev_stops))
            scenes.append((paths, scene))
        response = tmp / "camera.json"
        cli = [sys.executable, "-m", "selfhdr_cli"]
        subprocess.run(cli + ["calibrate", *[str(tmp / f"s{i}") for i in range(args.scenes)], "-o", str(response)],
                       check=True, capture_output=True)
        for i, (paths, scene) in enumerate(scenes):
            gt = scene.ground_truth
            for name, crf in (("gamma 2.2 assumed", "gamma:2.2"), ("selfhdr calibrate", str(response))):
                out = tmp / f"{i}-{crf[-4:]}.exr"
                subprocess.run(cli + ["merge", "-m", "color", *map(str, paths), "-o", str(out), "--crf", crf,
                                      "--trust-exposures", "--force"], check=True, capture_output=True)
                rows[name].append(score_hdr(scale_free(read_hdr_image(out), gt), gt))
            images = [cv2.imread(str(p))[:, :, ::-1].copy() for p in paths]
            times = np.power(2.0, np.asarray(scene.ev_stops, np.float32) - scene.ev_stops[0]).astype(np.float32)
            curve = cv2.createCalibrateDebevec().process(images, times)
            merged = cv2.createMergeDebevec().process(images, times, curve).astype(np.float32)
            rows["OpenCV Debevec"].append(score_hdr(scale_free(merged, gt), gt))
        levels = json.loads(response.read_text())["levels"]
    print(f"| response ({args.scenes} static validation scenes, 8-bit, filmic camera; calibrated on all, {levels} levels) "
          "| PSNR-μ | PSNR-l |")
    print("|---|---|---|")
    for name, scores in rows.items():
        print(f"| {name} | {np.mean([s.psnr_mu for s in scores]):.2f} | {np.mean([s.psnr_l for s in scores]):.2f} |")


if __name__ == "__main__":
    main()
