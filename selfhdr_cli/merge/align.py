"""Aligning a frame onto the reference: exposure matching, dense flow, warp, fill (SPEC §2.1–2.3).

Images are float32 (H, W, 3) RGB in [0, 1]; flows are float32 (H, W, 2) in pixels,
(dx, dy), defined on the reference grid: reference(p) ≈ other(p + flow(p)).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from selfhdr_cli.errors import UsageError
from selfhdr_cli.radiometry.luma import rec709_luma
from selfhdr_cli.radiometry.response import CameraResponse

FLOW_METHODS = ("dis-medium", "dis-fast", "dis-ultrafast", "dis-fine", "farneback")
DEFAULT_FLOW = "dis-fine"  # chosen on the validation split: benchmarks/flow_choice.py
INTERPOLATIONS = ("cubic", "linear")
FLOW_MAX_PIXELS = 4_000_000  # larger images get their flow at reduced size, then upsampled


@dataclass(frozen=True)
class AlignConfig:
    """How frames are aligned: flow method and warp interpolation."""

    flow: str = DEFAULT_FLOW
    interpolation: str = "cubic"

    def __post_init__(self) -> None:
        if self.flow not in FLOW_METHODS:
            raise UsageError(f"unknown flow method {self.flow!r}; choose one of {', '.join(FLOW_METHODS)}")
        if self.interpolation not in INTERPOLATIONS:
            raise UsageError(f"unknown warp interpolation {self.interpolation!r}; use {' or '.join(INTERPOLATIONS)}")


def exposure_match(ldr: np.ndarray, t_from: float, t_to: float, response: CameraResponse) -> np.ndarray:
    """Re-expose an LDR frame from exposure ``t_from`` to ``t_to`` (SPEC §2.1).

    Ĩ = g⁻¹(clip(g(I) · t_to / t_from, 0, 1)).

    Parameters
    ----------
    ldr : ndarray, float32 (..., 3), LDR values in [0, 1]
    t_from, t_to : float
        Exposure times in any one unit (only their ratio matters).
    response : CameraResponse
        g and g⁻¹.

    Returns
    -------
    ndarray, float32, same shape, in [0, 1].
    """
    return response.from_linear(response.to_linear(ldr) * np.float32(t_to / t_from))


def to_gray_u8(img: np.ndarray) -> np.ndarray:
    """Rec.709 luma of an RGB image in [0, 1] (float (H, W, 3)) as uint8 (H, W), the input
    OpenCV's flows want."""
    gray = rec709_luma(img)
    return np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.uint8)


def estimate_flow(reference_gray: np.ndarray, other_gray: np.ndarray, method: str = DEFAULT_FLOW) -> np.ndarray:
    """Dense optical flow from the reference to the other image (SPEC §2.2).

    Parameters
    ----------
    reference_gray, other_gray : ndarray, uint8 (H, W)
        Luma of two exposure-matched images (``to_gray_u8``).
    method : str
        One of ``FLOW_METHODS``.

    Returns
    -------
    ndarray, float32 (H, W, 2), (dx, dy) in pixels on the reference grid:
    reference(p) ≈ other(p + flow(p)). Above ``FLOW_MAX_PIXELS`` the flow is estimated
    on downscaled images and upsampled, which bounds time and memory on 24 MP brackets.
    """
    h, w = reference_gray.shape
    if h * w > FLOW_MAX_PIXELS:
        scale = (FLOW_MAX_PIXELS / (h * w)) ** 0.5
        size = (max(16, int(w * scale)), max(16, int(h * scale)))
        small = _estimate_flow(cv2.resize(reference_gray, size, interpolation=cv2.INTER_AREA),
                               cv2.resize(other_gray, size, interpolation=cv2.INTER_AREA), method)
        flow = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= w / size[0]
        flow[..., 1] *= h / size[1]
        return flow
    return _estimate_flow(reference_gray, other_gray, method)


def _estimate_flow(reference_gray: np.ndarray, other_gray: np.ndarray, method: str) -> np.ndarray:
    if method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(reference_gray, other_gray, None, pyr_scale=0.5, levels=5,
                                            winsize=15, iterations=3, poly_n=5, poly_sigma=1.1, flags=0)
        return flow.astype(np.float32)
    presets = {"dis-medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, "dis-fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "dis-ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "dis-fine": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
    if method not in presets:
        raise UsageError(f"unknown flow method {method!r}; choose one of {', '.join(FLOW_METHODS)}")
    dis = cv2.DISOpticalFlow_create(presets[method])
    if method == "dis-fine":  # denser patches and more refinement: slower, steadier on noise
        dis.setPatchStride(2)
        dis.setVariationalRefinementIterations(10)
    return dis.calc(reference_gray, other_gray, None).astype(np.float32)


def warp(image: np.ndarray, flow: np.ndarray, interpolation: str = "cubic") -> tuple[np.ndarray, np.ndarray]:
    """Sample ``image`` at p + flow(p) (SPEC §2.3).

    Parameters
    ----------
    image : ndarray, float32 (H, W, 3) in [0, 1]
    flow : ndarray, float32 (H, W, 2), pixels
    interpolation : ``"cubic"`` or ``"linear"``

    Returns
    -------
    warped : ndarray, float32 (H, W, 3), clipped to [0, 1]
    outside : ndarray, bool (H, W), where p + flow(p) falls outside the frame.
    """
    h, w = flow.shape[:2]
    map_x = flow[..., 0] + np.arange(w, dtype=np.float32)[None, :]
    map_y = flow[..., 1] + np.arange(h, dtype=np.float32)[:, None]
    modes = {"cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR}
    if interpolation not in modes:
        raise UsageError(f"unknown warp interpolation {interpolation!r}; use {' or '.join(modes)}")
    mode = modes[interpolation]
    warped = cv2.remap(image, map_x, map_y, mode, borderMode=cv2.BORDER_REPLICATE)
    outside = (map_x < 0) | (map_x > w - 1) | (map_y < 0) | (map_y > h - 1)
    return np.clip(warped, 0.0, 1.0), outside


def align_to_reference(other: np.ndarray, reference: np.ndarray, t_other: float, t_reference: float,
                       response: CameraResponse, config: AlignConfig = AlignConfig()) -> np.ndarray:
    """Warp ``other`` onto the reference's geometry (SPEC §2.1–2.3).

    Flow is estimated between exposure-matched images (the darker raised to the
    brighter's exposure); pixels that map outside the frame take the reference
    re-exposed to ``t_other``.

    Parameters
    ----------
    other, reference : ndarray, float32 (H, W, 3), LDR in [0, 1]
    t_other, t_reference : float
        Their exposure times, any one unit.

    Returns
    -------
    ndarray, float32 (H, W, 3) in [0, 1]: ``other`` as the reference's camera saw it.
    """
    if t_other < t_reference:
        ref_matched, other_matched = reference, exposure_match(other, t_other, t_reference, response)
    else:
        ref_matched, other_matched = exposure_match(reference, t_reference, t_other, response), other
    flow = estimate_flow(to_gray_u8(ref_matched), to_gray_u8(other_matched), config.flow)
    del ref_matched, other_matched  # full-size temporaries: free them before warping large images
    warped, outside = warp(other, flow, config.interpolation)
    del flow
    if outside.any():  # only the outside pixels: a full-frame re-exposure would cost two more frames of memory
        warped[outside] = exposure_match(reference[outside], t_reference, t_other, response)
    return warped


def align_bracket(frames: list[np.ndarray], times: np.ndarray, reference: int, response: CameraResponse,
                  config: AlignConfig = AlignConfig()) -> list[np.ndarray]:
    """Every frame aligned to ``frames[reference]`` (SPEC §2.1–2.3).

    ``frames`` are float32 (H, W, 3) LDR in [0, 1] in exposure order with ``times``
    (any one unit). Returns a list of the same length; the reference is returned as is.
    """
    ref = frames[reference]
    return [ref if k == reference else align_to_reference(f, ref, float(times[k]), float(times[reference]),
                                                          response, config)
            for k, f in enumerate(frames)]
