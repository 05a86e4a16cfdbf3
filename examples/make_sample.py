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

from selfhdr_cli.evaluation.synth import SceneConfig, make_scene
from selfhdr_cli.io.dataset import write_scene
from selfhdr_cli.io.hdrfile import read_hdr_image

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data" / "hdr"


def main() -> None:
    background = read_hdr_image(SHARED / "chinese_garden_1k.hdr")
    source = read_hdr_image(SHARED / "kloofendal_overcast_1k.hdr")
    config = SceneConfig(size=(320, 448), n_objects=(2, 2), motion_px=(25, 35))
    scene = make_scene(background, [source], np.random.default_rng(2024), config)
    out = HERE / "bracket"
    meta = {"made_by": "examples/make_sample.py", "background": "chinese_garden_1k.hdr",
            "objects": ["kloofendal_overcast_1k.hdr"] * 2, "seed": 2024, "static": False,
            "ev_stops": scene.ev_stops, "reference": scene.reference, "size": [448, 320], "bits": 16,
            "moving_fraction": round(float(scene.moving.mean()), 4), "units": "short-exposure"}
    write_scene(out, scene.frames, scene.ev_stops, scene.ground_truth, meta, bits=16)
    print(f"wrote {out}: moving region {scene.moving.mean():.1%} of the frame")


if __name__ == "__main__":
    main()
