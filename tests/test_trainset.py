"""The training set: crops, and SPEC §4's reference noise exactly where training applies it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfhdr_cli.radiometry.response import CameraResponse
from selfhdr_cli.training.trainset import REFERENCE_NOISE_SIGMA, TrainScene, sample_batch
from conftest import gamma_response


def _scene(seed: int = 0) -> TrainScene:
    rng = np.random.default_rng(seed)
    frames = np.stack([np.full((64, 64, 3), v, np.float32) for v in (0.2, 0.5, 0.8)])
    frames += rng.normal(0, 0.01, frames.shape).astype(np.float32)
    return TrainScene(name="s", frames=frames, aligned=frames.copy(), times=np.array([1, 4, 16], np.float32),
                      y_color=np.full((64, 64, 3), 0.1, np.float32))


def _batch(noise: bool) -> dict[str, torch.Tensor]:
    return sample_batch([_scene()], batch=4, crop=32, rng=np.random.default_rng(5), response=CameraResponse("gamma"),
                        reference_noise=noise, generator=torch.Generator().manual_seed(1))


def test_reference_noise_touches_only_the_reference_and_recomputes_h_ref():
    clean, noisy = _batch(False), _batch(True)
    # same crops (the rng draws no noise), so any difference is the augmentation
    diff = noisy["ldr_ref"] - clean["ldr_ref"]
    assert float(diff.std()) == pytest.approx(REFERENCE_NOISE_SIGMA, rel=0.1)
    assert REFERENCE_NOISE_SIGMA == pytest.approx(0.5 / 255)  # SPEC §4
    torch.testing.assert_close(noisy["frames"][:, [0, 2]], clean["frames"][:, [0, 2]])  # short and long untouched
    # H_r' = g(I_r') / t_r, recomputed from the noisy frame (SPEC §4)
    torch.testing.assert_close(noisy["h_ref"], noisy["ldr_ref"] ** 2.2 / 4.0, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(noisy["frames"][:, 1, :3], noisy["h_ref"])
    # the reference is its own alignment: the aligned input carries the same noisy frame
    torch.testing.assert_close(noisy["aligned"][:, 1, 3:], noisy["ldr_ref"])
    assert float(noisy["ldr_ref"].min()) >= 0 and float(noisy["ldr_ref"].max()) <= 1


def test_training_adds_noise_in_stage_2_only(monkeypatch, tmp_path):
    """The loop asks for the noise in the reconstruction stage and nowhere else."""
    import selfhdr_cli.training.loop as loop

    asked = {}

    def spy(*args, reference_noise, **kwargs):
        asked.setdefault(stage, set()).add(reference_noise)
        raise StopIteration

    monkeypatch.setattr(loop, "sample_batch", spy)
    for stage in ("structure", "reconstruct", "supervised"):
        with pytest.raises(StopIteration):
            loop.run_stage(stage, [_scene()], loop.preset_config("tiny"), gamma_response(), checkpoint=tmp_path / f"{stage}.ckpt")
    assert asked == {"structure": {False}, "reconstruct": {True}, "supervised": {False}}



def test_masked_frames_close_the_gate_and_hide_the_other_frames_where_they_agreed():
    """mask_frames: inside the region the gate is 0, the guide's Y_color is the reference alone and the
    other frames no longer show what was there; outside nothing changes; the reference is never touched."""
    import numpy as np
    import torch

    from selfhdr_cli.training.trainset import mask_frames

    rng = np.random.default_rng(0)
    b, c = 4, 64
    frames = torch.rand(b, 3, 6, c, c)
    batch = {"frames": frames.clone(), "aligned": frames.clone(), "h_ref": torch.rand(b, 3, c, c),
             "guide": torch.cat([torch.rand(b, 3, c, c), torch.ones(b, 1, c, c)], dim=1)}
    before = {k: v.clone() for k, v in batch.items()}
    mask_frames(batch, rng, probability=1.0)
    closed = batch["guide"][:, 3] < 0.01
    assert closed.any() and (~closed).any()
    assert torch.equal(batch["frames"][:, 1], before["frames"][:, 1])  # the reference is the evidence left
    inside = closed[:, None].expand(b, 3, c, c)
    torch.testing.assert_close(batch["guide"][:, :3][inside], batch["h_ref"][inside], atol=0.01, rtol=0)
    changed = (batch["aligned"][:, 0] != before["aligned"][:, 0]).any(dim=1)
    assert changed[closed].float().mean() > 0.99
    untouched = batch["guide"][:, 3] > 0.999
    assert torch.equal(batch["aligned"][:, 2].permute(1, 0, 2, 3)[:, untouched],
                       before["aligned"][:, 2].permute(1, 0, 2, 3)[:, untouched])
