"""Quality metrics against ground truth (SPEC §6).

Inputs are float32 (H, W, 3) RGB HDR images in the same units (short-exposure
units). "-l" metrics work on linear values, "-μ" metrics on the μ-law tone map
T(x) = log(1 + 5000x) / log(1 + 5000).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from selfhdr_cli.radiometry.mulaw import mu_law

SSIM_SIGMA = 1.5
SSIM_WINDOW = 11
SSIM_BORDER = 5

# PU21 "banding + glare" encoding (Mantiuk & Azimi, PCS 2021, eq. 3 and Table 1).
PU21_PARAMS = (0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166, 0.9099517204,
               596.3148142)
PU21_RANGE_CD_M2 = (0.005, 10000.0)
# Our display convention for PU21: H = 1 (the short frame's saturation) shows at 1000 cd/m².
DISPLAY_PEAK_CD_M2 = 1000.0


def psnr(pred: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: 10·log10(range² / MSE); inf for identical images.

    ``pred`` and ``target``: arrays of one shape, any dtype (computed in float64).
    """
    mse = float(np.mean((np.asarray(pred, np.float64) - np.asarray(target, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range ** 2 / mse)


def ssim(pred: np.ndarray, target: np.ndarray, data_range: float = 255.0) -> float:
    """SSIM with an 11×11 Gaussian window (σ = 1.5), C1 = (0.01·R)², C2 = (0.03·R)².

    Population statistics, a 5-pixel border cropped, mean over channels — the
    conventions of scikit-image's ``structural_similarity(gaussian_weights=True,
    use_sample_covariance=False)``.
    """
    x = np.asarray(pred, np.float64)
    y = np.asarray(target, np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(a: np.ndarray) -> np.ndarray:
        out = cv2.GaussianBlur(a, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)
        return out.reshape(a.shape)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    b = SSIM_BORDER
    return float(np.mean(s[b:-b, b:-b], axis=(0, 1)).mean())


def pu21_encode(luminance_cd_m2: np.ndarray) -> np.ndarray:
    """PU21 perceptually uniform values (Mantiuk & Azimi 2021, eq. 3, "banding + glare" row of
    Table 1) of absolute luminance in cd/m² (any shape; clipped to [0.005, 10⁴]). Float64, about
    0 at 0.005 cd/m² and 256 at 100 cd/m²."""
    p = PU21_PARAMS
    y = np.clip(np.asarray(luminance_cd_m2, np.float64), *PU21_RANGE_CD_M2)
    yp = y ** p[3]
    return p[6] * (((p[0] + p[1] * yp) / (1 + p[2] * yp)) ** p[4] - p[5])


def pu21_psnr(pred: np.ndarray, target: np.ndarray, peak_cd_m2: float = DISPLAY_PEAK_CD_M2) -> float:
    """PSNR on PU21-encoded RGB: HDR in short-exposure units (float (H, W, 3)) scaled so that
    1 shows at ``peak_cd_m2``; the peak signal is PU21(peak_cd_m2). A perceptual extra, not
    part of SPEC §6."""
    a = pu21_encode(np.clip(pred, 0, None) * peak_cd_m2)
    b = pu21_encode(np.clip(target, 0, None) * peak_cd_m2)
    return psnr(a, b, data_range=float(pu21_encode(np.array(peak_cd_m2))))


@dataclass(frozen=True)
class Scores:
    """The four SPEC §6 scores of one prediction, plus PU21-PSNR (a perceptual extra)."""

    psnr_mu: float
    psnr_l: float
    ssim_mu: float
    ssim_l: float
    pu21_psnr: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def score_hdr(pred: np.ndarray, gt: np.ndarray) -> Scores:
    """The SPEC §6 scores of a prediction, plus PU21-PSNR.

    Parameters
    ----------
    pred, gt : ndarray, float32 (H, W, 3), linear HDR in short-exposure units
        (ground truth clipped to [0, 1] by convention).

    Returns
    -------
    Scores: PSNR-μ (on T, range 1), PSNR-l (linear, unclipped, range 1), SSIM-μ and
    SSIM-l (on clip(·, 0, 1)·255), PU21-PSNR (H = 1 shown at 1000 cd/m²).
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    pred = np.asarray(pred, np.float32)
    bad = int(np.count_nonzero(~np.isfinite(pred)))
    if bad:  # a score must not hide a broken prediction
        raise ValueError(f"the prediction has {bad} non-finite values (NaN or inf)")
    t_pred, t_gt = mu_law(pred), mu_law(gt)
    return Scores(
        psnr_mu=psnr(t_pred, t_gt),
        psnr_l=psnr(pred, gt),
        ssim_mu=ssim(np.clip(t_pred, 0, 1) * 255, np.clip(t_gt, 0, 1) * 255),
        ssim_l=ssim(np.clip(pred, 0, 1) * 255, np.clip(gt, 0, 1) * 255),
        pu21_psnr=pu21_psnr(pred, gt),
    )
