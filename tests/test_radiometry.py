"""Radiometry: one formula each for μ-law, frame weights, sRGB and luma, on numpy and torch alike."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from selfhdr_cli.radiometry.luma import rec709_luma
from selfhdr_cli.radiometry.mulaw import inverse_mu_law, mu_law
from selfhdr_cli.radiometry.response import CameraResponse, srgb_decode, srgb_encode
from selfhdr_cli.radiometry.weighting import hat_weight, triangle_weights, well_exposedness


def test_mu_law_known_points_numpy_and_torch():
    x = np.array([-0.5, 0.0, 0.5, 1.0, 2.0], np.float32)
    by_hand = [0.0, 0.0, math.log(2501) / math.log(5001), 1.0, 1.0]  # clipped to [0, 1] on both sides
    assert mu_law(x) == pytest.approx(by_hand, rel=1e-6)
    assert mu_law(torch.from_numpy(x)).tolist() == pytest.approx(by_hand, rel=1e-6)
    assert mu_law(x).dtype == np.float32


def test_mu_law_round_trip():
    t = np.linspace(0, 1, 11, dtype=np.float32)
    assert mu_law(inverse_mu_law(t)) == pytest.approx(t, abs=1e-6)
    torch.testing.assert_close(inverse_mu_law(mu_law(torch.from_numpy(t))), torch.from_numpy(t), atol=1e-6, rtol=1e-5)


def test_triangle_weights_follow_spec_and_agree_across_array_types():
    x = np.array([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0], np.float32)
    w_short, w_ref, w_long = triangle_weights(x)
    # SPEC §2.4, written out: x < 0.5 → (0, 2x, 1 − 2x); x ≥ 0.5 → (2x − 1, 2 − 2x, 0)
    expect = [(0, 2 * v, 1 - 2 * v) if v < 0.5 else (2 * v - 1, 2 - 2 * v, 0) for v in x.tolist()]
    assert np.stack([w_short, w_ref, w_long], 1) == pytest.approx(np.array(expect), abs=1e-6)
    torch_weights = triangle_weights(torch.from_numpy(x))
    for a, b in zip((w_short, w_ref, w_long), torch_weights):
        assert b.numpy() == pytest.approx(a, abs=1e-7)
    assert w_short + w_ref + w_long == pytest.approx(np.ones_like(x))


def test_well_exposedness_is_the_reference_weight_and_debevec_hat():
    x = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    torch.testing.assert_close(well_exposedness(x), torch.tensor([0.0, 0.5, 1.0, 0.5, 0.0]))
    assert hat_weight(np.array([0.25, 1.5], np.float32)) == pytest.approx([0.5, 0.0])


def test_srgb_known_values_and_round_trip():
    # IEC 61966-2-1: encoded 0.5 is linear 0.2140; the linear segment below 0.04045
    assert float(srgb_decode(np.array(0.5, np.float32))) == pytest.approx(0.21404, abs=1e-4)
    assert float(srgb_decode(np.array(0.02, np.float32))) == pytest.approx(0.02 / 12.92, rel=1e-5)
    x = np.linspace(0, 1, 101, dtype=np.float32)
    assert srgb_encode(srgb_decode(x)) == pytest.approx(x, abs=1e-5)
    torch_decoded = CameraResponse("srgb").to_linear_tensor(torch.from_numpy(x))
    assert torch_decoded.numpy() == pytest.approx(srgb_decode(x), abs=1e-6)


@pytest.mark.parametrize("text", ["gamma:2.2", "gamma:1.8", "srgb", "linear"])
def test_response_slope_is_its_derivative(text):
    """The noise model propagates an LDR step through g'(I): it must be the curve's own slope."""
    from selfhdr_cli.radiometry.response import parse_response

    g = parse_response(text)
    x = np.linspace(0.05, 0.95, 181, dtype=np.float64)
    h = 1e-4
    numeric = (g.to_linear(x + h).astype(np.float64) - g.to_linear(x - h)) / (2 * h)
    assert g.slope(x).dtype == np.float32
    np.testing.assert_allclose(g.slope(x), numeric, rtol=2e-3, atol=2e-3)


def test_rec709_luma():
    assert rec709_luma(np.array([1.0, 1.0, 1.0])) == pytest.approx(1.0)
    assert rec709_luma(np.array([[0.0, 1.0, 0.0]]))[0] == pytest.approx(0.7152)


@pytest.mark.parametrize("kind, gamma", [("gamam", 2.2), ("gamma", float("nan")), ("gamma", 50.0)])
def test_unknown_response_is_refused_not_replaced(kind, gamma):
    from selfhdr_cli.errors import UsageError

    with pytest.raises(UsageError):
        CameraResponse(kind, gamma)
