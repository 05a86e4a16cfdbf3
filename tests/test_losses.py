"""SPEC §3–4 losses: masks, thresholds, weights, and the structure losses."""

from __future__ import annotations

import pytest
import torch

from selfhdr_cli.radiometry.mulaw import inverse_mu_law, mu_law
from selfhdr_cli.training.losses import (
    StructureLoss,
    VGGLoss,
    color_mask,
    stage1_loss,
    stage2_loss,
    structure_expansion_mask,
)


def test_structure_expansion_mask_threshold():
    ldr = torch.full((1, 3, 1, 2), 0.5)            # w = 1
    h_ref = torch.full((1, 3, 1, 2), 0.1)
    y = h_ref.clone()
    # pixel 0: T differs by 4/255 (< 5/255) → 1; pixel 1: by 6/255 → 0
    t_ref = mu_law(h_ref[0, 0, 0, 0])
    y[..., 0] = inverse_mu_law(t_ref + 4 / 255)
    y[..., 1] = inverse_mu_law(t_ref + 6 / 255)
    m = structure_expansion_mask(y, h_ref, ldr)
    assert m.shape == (1, 1, 1, 2) and m.flatten().tolist() == [1.0, 0.0]


def test_stage1_loss_parts():
    ldr = torch.full((1, 3, 4, 4), 0.25)           # w = 0.5
    h_ref = torch.full((1, 3, 4, 4), 0.05)
    pred = torch.full((1, 3, 4, 4), 0.05)
    loss, parts = stage1_loss(pred, h_ref.clone(), h_ref, ldr)
    assert float(loss) == pytest.approx(0.0, abs=1e-7)
    pred2 = inverse_mu_law(mu_law(h_ref) + 0.1)
    loss, parts = stage1_loss(pred2, h_ref.clone(), h_ref, ldr)
    assert parts["se"] == pytest.approx(0.1, rel=1e-4)             # mask everywhere, |ΔT| = 0.1
    assert parts["sp"] == pytest.approx(4 * 0.5 * 0.1, rel=1e-4)   # 4 · w · |ΔT|


def test_color_mask_and_stage2():
    y_color = torch.full((1, 3, 8, 8), 0.2)
    y_stru = y_color.clone()
    y_stru[..., :4] = inverse_mu_law(mu_law(torch.tensor(0.2)) + 20 / 255)
    m = color_mask(y_color, y_stru)
    assert m[..., :4].sum() == 0 and m[..., 4:].sum() == 32
    # L_color = mean over ALL pixels of |M_c·(T(Ŷ) − T(Y_color))|: the prediction is off by
    # ΔT = 0.1 everywhere, the mask keeps half the pixels → exactly 0.05
    pred = inverse_mu_law(mu_law(y_color) + 0.1)
    loss, parts = stage2_loss(pred, y_color, y_stru, StructureLoss())
    assert parts["color"] == pytest.approx(0.05, rel=1e-4)
    assert float(loss) == pytest.approx(parts["color"] + parts["stru"], rel=1e-6)
    # a prediction off only where the mask is 0 costs nothing in L_color
    pred = y_color.clone()
    pred[..., :4] = 0.9
    assert stage2_loss(pred, y_color, y_stru, StructureLoss())[1]["color"] == pytest.approx(0.0, abs=1e-7)


def test_structure_loss_ignores_low_frequency_colour():
    g = torch.Generator().manual_seed(0)
    base = torch.rand((1, 3, 64, 64), generator=g) * 0.5
    shifted = base + torch.tensor([0.1, -0.05, 0.08]).view(1, 3, 1, 1)  # a flat colour cast
    loss = StructureLoss()
    assert float(loss(shifted, base)) < 1e-3
    blurred = torch.nn.functional.avg_pool2d(base, 3, 1, 1)
    assert float(loss(blurred, base)) > 10 * float(loss(shifted, base)) + 1e-3  # detail matters


def test_vgg_loss_from_local_state_dict(tmp_path):
    cfg = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
    state, idx, cin = {}, 0, 3
    for item in cfg:
        if item == "M":
            idx += 1
            continue
        state[f"features.{idx}.weight"] = torch.randn(item, cin, 3, 3) * 0.01
        state[f"features.{idx}.bias"] = torch.zeros(item)
        cin, idx = item, idx + 2
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    loss = VGGLoss(path)
    x = torch.rand(1, 3, 64, 64)
    assert float(loss(x, x)) == 0.0
    assert float(loss(x, x.flip(-1))) > 0
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    from selfhdr_cli.errors import InputFileError

    with pytest.raises(InputFileError):
        VGGLoss(bad)


def test_stage1_sp_weight_scales_l_sp_only():
    ldr = torch.full((1, 3, 4, 4), 0.25)           # w = 0.5
    h_ref = torch.full((1, 3, 4, 4), 0.05)
    pred = inverse_mu_law(mu_law(h_ref) + 0.1)
    _, paper = stage1_loss(pred, h_ref.clone(), h_ref, ldr)
    _, off = stage1_loss(pred, h_ref.clone(), h_ref, ldr, sp_weight=0.0)
    _, one = stage1_loss(pred, h_ref.clone(), h_ref, ldr, sp_weight=1.0)
    assert off["sp"] == 0.0 and one["sp"] == pytest.approx(paper["sp"] / 4, rel=1e-5)
    assert off["se"] == paper["se"]
