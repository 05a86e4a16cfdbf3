"""Metrics against hand-computed values and scikit-image's conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selfhdr_cli.evaluation.metrics import psnr, pu21_encode, pu21_psnr, score_hdr, ssim


def test_psnr_of_a_known_error():
    a = np.zeros((10, 10, 3), np.float32)
    assert psnr(a + 0.1, a) == pytest.approx(20.0)  # MSE 0.01 → 20 dB
    assert psnr(a + 0.01, a) == pytest.approx(40.0)
    assert psnr(a, a) == float("inf")


def test_ssim_identical_is_one_and_drops_with_noise():
    rng = np.random.default_rng(0)
    img = rng.random((40, 50, 3)) * 255
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img + rng.normal(0, 60, img.shape), img) < 0.8


def test_agrees_with_scikit_image():
    skm = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    gt = rng.random((48, 64, 3)) * 255
    pred = np.clip(gt + rng.normal(0, 10, gt.shape), 0, 255)
    ref = skm.structural_similarity(pred, gt, data_range=255, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False)
    assert ssim(pred, gt) == pytest.approx(ref, abs=1e-6)
    assert psnr(pred / 255, gt / 255) == pytest.approx(skm.peak_signal_noise_ratio(gt / 255, pred / 255,
                                                                                     data_range=1.0), abs=1e-6)


def test_score_hdr_uses_mu_law_and_linear():
    gt = np.full((20, 20, 3), 0.25, np.float32)
    pred = gt + 0.01
    s = score_hdr(pred, gt)
    assert s.psnr_l == pytest.approx(40.0, abs=1e-3)
    # by hand: T(x) = ln(1 + 5000x) / ln(5001); a constant error d gives PSNR = −20·log10(d)
    d = (math.log(1 + 5000 * 0.26) - math.log(1 + 5000 * 0.25)) / math.log(5001)
    assert s.psnr_mu == pytest.approx(-20 * math.log10(d), abs=1e-3)
    assert s.ssim_l == pytest.approx(1.0, abs=1e-3)
    # values above 1 are clipped before T, below 0 too: the prediction 2.0 scores like 1.0
    assert score_hdr(np.full_like(gt, 2.0), gt).psnr_mu == pytest.approx(score_hdr(np.ones_like(gt), gt).psnr_mu)


def test_pu21_design_anchor_points_and_monotone():
    """PU21 (Mantiuk & Azimi 2021) was fitted so that the bottom of its range, 0.005 cd/m², encodes
    to 0 and an SDR display's white, 100 cd/m², to about 256 (sRGB's code range): a mistyped
    constant moves these anchors."""
    assert abs(float(pu21_encode(np.array(0.005)))) < 1e-3
    assert float(pu21_encode(np.array(100.0))) == pytest.approx(256.0, abs=1.0)
    assert pu21_encode(np.array(0.0)) == pytest.approx(pu21_encode(np.array(0.005)))  # clipped below
    values = pu21_encode(np.logspace(-2, 4, 50))
    assert np.all(np.diff(values) > 0)
    gt = np.full((8, 8, 3), 0.2, np.float32)
    assert pu21_psnr(gt * 1.1, gt) > pu21_psnr(gt * 1.5, gt)
