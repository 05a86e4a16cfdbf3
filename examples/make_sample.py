"""Regenerate the shipped sample bracket in examples/bracket/ (needs ../shared/data/hdr).

The frames are synthesised, not photographed: the background is Poly Haven's
chinese_garden_1k.hdr (CC0) and the moving object is cut from
kloofendal_overcast_1k.hdr (CC0). Camera: gamma 2.2, Poisson–Gaussian noise,
16-bit TIFF, EV 0/2/4; ground truth HDRImg.hdr in short-exposure units.

    python examples/make_sample.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from selfhdr_cli.evaluation.synth import SceneConfig, make_scene
from selfhdr_cli.io.frames import quantise
from selfhdr_cli.io.hdrfile import read_hdr_image, write_hdr_image

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data" / "hdr"


def main() -> None:
    background = read_hdr_image(SHARED / "chinese_garden_1k.hdr")
    source = read_hdr_image(SHARED / "kloofendal_overcast_1k.hdr")
    config = SceneConfig(size=(320, 448), n_objects=(2, 2), motion_px=(25, 35))
    scene = make_scene(background, [source], np.random.default_rng(2024), config)
    out = HERE / "bracket"
    out.mkdir(exist_ok=True)
    for k, frame in enumerate(scene.frames):
        tifffile.imwrite(out / f"frame_{k}.tif", quantise(frame, 16), photometric="rgb", compression="zlib", predictor=True)
    (out / "exposure.txt").write_text("".join(f"{e:g}\n" for e in scene.ev_stops))
    target = out / "HDRImg.hdr"
    if target.exists():
        target.unlink()
    write_hdr_image(target, scene.ground_truth)
    print(f"wrote {out}: moving region {scene.moving.mean():.1%} of the frame")


if __name__ == "__main__":
    main()
