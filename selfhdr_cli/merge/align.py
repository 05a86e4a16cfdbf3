"""Aligning a frame onto the reference: exposure matching, global motion, dense flow, warp, fill
(SPEC §2.1–2.3).

Images are float32 (H, W, 3) RGB in [0, 1]; flows are float32 (H, W, 2) in pixels,
(dx, dy), defined on the reference grid: reference(p) ≈ other(p + flow(p)). Homographies are
float (3, 3) from reference to other pixel coordinates: reference(p) ≈ other(H·p).

The robust recipe adds a rigid global motion (ECC) before the flow, for handheld brackets, and the
coverage of each aligned frame (where it saw the scene), so that merges can give the
out-of-frame fill no weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from selfhdr_cli.errors import UsageError
from selfhdr_cli.merge.device import map_pieces
from selfhdr_cli.radiometry.luma import rec709_luma
from selfhdr_cli.radiometry.mulaw import mu_law
from selfhdr_cli.radiometry.response import CameraResponse

FLOW_METHODS = ("dis-medium", "dis-fast", "dis-ultrafast", "dis-fine", "farneback")
DEFAULT_FLOW = "dis-fine"  # chosen on the validation split: benchmarks/flow_choice.py
INTERPOLATIONS = ("cubic", "linear")
RIGID_MOTIONS = ("rigid", "none")
FLOW_MAX_PIXELS = 4_000_000  # larger images get their flow at reduced size, then upsampled
ECC_MAX_SIDE = 640           # px: the homography is fitted on a reduced copy (time bounded on 24 MP)
ECC_SMOOTHING = 1.5          # px (Gaussian σ at that size): noise off before fitting ...
ECC_BACKGROUND = 12.0        # px: ... and shading (vignetting) off
GLOBAL_MIN_SHIFT = 2.0       # px: below, a fitted homography is mostly noise (chosen on the validation split)
# The rigid fit is dropped only when the flow alone leaves the frames clearly more alike: a wrong lock
# (repetitive texture) costs far more than this, while a near tie is noise that flipped between OpenCV
# 5.0 and 5.1 (0.00377 vs 0.00379 on a translated bracket; 4 % with the fast DIS presets, whose merge
# then lost 16 dB). The simpler model wins the ties. Validation split (benchmarks/rigid_margin_choice.py,
# OpenCV 5.1): dynamic PSNR-μ 37.985 at 1.0, 37.972 at 1.03, 1.1 and 1.25; static 42.292 at all.
GLOBAL_KEEP_MARGIN = 1.1
CLAMP_CUBIC = True
DECIDE_MAX_PIXELS = 1_000_000  # larger frames decide rigid-or-not on half-size copies (one full-size flow, not two)
# Larger frames get their whole motion (rigid-or-not and the dense flow) on half-size copies (at most
# FLOW_MAX_PIXELS), the flow then upsampled: the flow of a 2 MP frame was half the merge's time, and the
# choice's flows are the answer's. Chosen on the real brackets over 1 MP and a 1920×1080 validation group
# (benchmarks/seamless_ablation.py, row "all with full-res flow"). float("inf"): the flow at full resolution.
MOTION_MAX_PIXELS = 1_000_000


@dataclass(frozen=True)
class AlignConfig:
    """How frames are aligned: flow method, warp interpolation and ``rigid_motion``: ``rigid``
    (the robust recipe's alignment: a global rigid motion, rotation and translation, fitted before
    the flow when the camera moved, and no flow where the frame needs none, ``static_prior``) or
    ``none`` (SPEC §2: the dense flow alone)."""

    flow: str = DEFAULT_FLOW
    interpolation: str = "cubic"
    rigid_motion: str = "rigid"

    def __post_init__(self) -> None:
        if self.flow not in FLOW_METHODS:
            raise UsageError(f"unknown flow method {self.flow!r}; choose one of {', '.join(FLOW_METHODS)}")
        if self.interpolation not in INTERPOLATIONS:
            raise UsageError(f"unknown warp interpolation {self.interpolation!r}; use {' or '.join(INTERPOLATIONS)}")
        if self.rigid_motion not in RIGID_MOTIONS:
            raise UsageError(f"unknown rigid motion {self.rigid_motion!r}; use {' or '.join(RIGID_MOTIONS)}")


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


def ecc_size(height: int, width: int) -> tuple[int, int]:
    """(width, height) of the reduced copies ``estimate_rigid_motion`` fits on, for frames of (height, width)."""
    scale = min(1.0, ECC_MAX_SIDE / max(height, width))
    return max(8, round(width * scale)), max(8, round(height * scale))


def rigid_motion_between(reference: np.ndarray, other: np.ndarray, t_reference: float, t_other: float,
                         response: CameraResponse) -> np.ndarray | None:
    """``estimate_rigid_motion`` between two frames (float32 (H, W, 3) LDR in [0, 1], their exposure
    times in any one unit), exposure-matched under ``response`` on copies reduced to ``ecc_size``
    first: the full-size frames are never re-exposed. Returns H (3, 3) in full-size pixels, or None."""
    height, width = reference.shape[:2]
    size = ecc_size(height, width)
    ref, oth = (cv2.resize(x, size, interpolation=cv2.INTER_AREA) for x in (reference, other))
    if t_other < t_reference:
        oth = exposure_match(oth, t_other, t_reference, response)
    else:
        ref = exposure_match(ref, t_reference, t_other, response)
    return estimate_rigid_motion(to_gray_u8(ref), to_gray_u8(oth), frame_shape=(height, width))


def estimate_rigid_motion(reference_gray: np.ndarray, other_gray: np.ndarray,
                          frame_shape: tuple[int, int] | None = None) -> np.ndarray | None:
    """The global rigid motion (rotation, translation) between two exposure-matched lumas, as a 3×3 matrix.

    Three first guesses — no motion, the translation by phase correlation, ORB features
    matched under RANSAC as a similarity — are each refined by ECC (Evangelidis & Psarakis
    2008) as a rigid motion; the candidate (guess or refined) that leaves the frames most
    alike wins. A full 8-parameter fit was tried and dropped: on noisy frames it bent towards
    shears that were not there. All on copies reduced to
    ``ECC_MAX_SIDE`` px. ``reference_gray``, ``other_gray``: uint8 (H, W) (``to_gray_u8``), or
    copies of them already reduced to ``ecc_size`` when ``frame_shape`` gives the frames' (H, W).
    Returns H, float64 (3, 3), reference → other pixel coordinates, or None when no candidate
    is plausible (scale beyond 0.9–1.1, strong perspective) and makes the frames clearly more
    alike than no motion (a large moving object can pull a fit off the background; the dense
    flow alone is the safer answer then), or when no corner moves ``GLOBAL_MIN_SHIFT`` px:
    small motion is the flow's.
    """
    h, w = reference_gray.shape if frame_shape is None else frame_shape
    scale = min(1.0, ECC_MAX_SIDE / max(h, w))
    size = ecc_size(h, w)
    ref_u8, oth_u8 = (x if x.shape[::-1] == size else cv2.resize(x, size, interpolation=cv2.INTER_AREA)
                      for x in (reference_gray, other_gray))
    # band-passed: noise (any fractional warp that averages it looks like a better fit) and the
    # lens's vignetting (it stays with the sensor while the scene moves) both bias the fit
    ref, oth = (_band_pass(x) for x in (ref_u8, oth_u8))
    (dx, dy), _ = cv2.phaseCorrelate(ref, oth, cv2.createHanningWindow(size, cv2.CV_32F))
    guesses = [np.eye(3, dtype=np.float32), np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float32)]
    similarity = _feature_similarity(ref_u8, oth_u8)
    if similarity is not None:
        guesses.append(similarity)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 60, 1e-6)

    def refine(start: np.ndarray) -> np.ndarray | None:
        try:
            _, fitted = cv2.findTransformECC(ref, oth, start[:2].copy(), cv2.MOTION_EUCLIDEAN, criteria, None, 1)
        except cv2.error:
            return None  # ECC did not converge from here: the other candidates stand
        return np.vstack([fitted, [0, 0, 1]]).astype(np.float32)

    def plausible(estimate: np.ndarray) -> bool:
        det = float(np.linalg.det(estimate[:2, :2]))
        return 0.81 < det < 1.21 and np.abs(estimate[2, :2]).max() * max(size) < 0.1

    scored = []
    for guess in guesses:
        for estimate in (guess, refine(guess)):
            if estimate is not None and plausible(estimate):
                scored.append((_misfit(ref, oth, estimate, size), estimate))
    if not scored:
        return None
    scored.sort(key=lambda item: item[0])
    best_misfit, best = scored[0]
    if not best_misfit < 0.9 * _misfit(ref, oth, np.eye(3, dtype=np.float32), size):
        return None
    to_full = np.diag([scale, scale, 1.0])
    full = np.linalg.inv(to_full) @ best.astype(np.float64) @ to_full
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], np.float64).T
    moved = full @ corners
    if np.abs(moved[:2] / moved[2] - corners[:2]).max() < GLOBAL_MIN_SHIFT:
        return None
    return full


def _band_pass(gray_u8: np.ndarray) -> np.ndarray:
    x = gray_u8.astype(np.float32) / 255
    return cv2.GaussianBlur(x, (0, 0), ECC_SMOOTHING) - cv2.GaussianBlur(x, (0, 0), ECC_BACKGROUND)


def _feature_similarity(ref_u8: np.ndarray, oth_u8: np.ndarray) -> np.ndarray | None:
    orb = cv2.ORB_create(1500)
    kr, dr = orb.detectAndCompute(ref_u8, None)
    ko, do = orb.detectAndCompute(oth_u8, None)
    if dr is None or do is None or len(kr) < 20 or len(ko) < 20:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(dr, do)
    if len(matches) < 20:
        return None
    src = np.float32([kr[m.queryIdx].pt for m in matches])
    dst = np.float32([ko[m.trainIdx].pt for m in matches])
    estimate, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0)
    if estimate is None or inliers is None or int(inliers.sum()) < 12:
        return None
    return np.vstack([estimate, [0, 0, 1]]).astype(np.float32)


def _misfit(ref: np.ndarray, oth: np.ndarray, estimate: np.ndarray, size: tuple[int, int]) -> float:
    """Mean |reference − other∘H| over the central 80 % (borders see the fill of either)."""
    warped = cv2.warpPerspective(oth, estimate, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REPLICATE)
    mh, mw = size[1] // 10, size[0] // 10
    return float(np.abs(warped - ref)[mh:size[1] - mh, mw:size[0] - mw].mean())


STATIC_WINDOW = 9        # px: the neighbourhood over which "the flow does not help here" is judged
STATIC_TOLERANCE = 1.05  # a local mismatch without the flow up to this × the one with it ...
STATIC_SLACK = 1e-3      # ... plus this much (μ-law) is noise, not motion (both chosen on the validation split)


def static_prior(reference_tone: np.ndarray, other_tone: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Where the dense flow should be dropped: float32 (H, W) in [0, 1], 1 = keep the frame as it is.

    On noise, dense flow jitters by up to a pixel where nothing moved, and warping by it
    misplaces detail (3–5 dB PSNR-μ on a noisy static bracket). ``reference_tone``,
    ``other_tone``: float32 (H, W), μ-law of the exposure-matched linear lumas. Where their
    local mean absolute difference without the flow is within ``STATIC_TOLERANCE``×
    (+ ``STATIC_SLACK``) of the one with it, nothing moved that the merge would notice.
    Feathered over half a window.
    """
    followed = cv2.remap(other_tone, *_sampling_maps(flow), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    box = (STATIC_WINDOW, STATIC_WINDOW)
    with_flow = cv2.blur(np.abs(followed - reference_tone), box)
    without = cv2.blur(np.abs(other_tone - reference_tone), box)
    keep = (without <= STATIC_TOLERANCE * with_flow + STATIC_SLACK).astype(np.float32)
    return cv2.blur(keep, (STATIC_WINDOW // 2 + 1, STATIC_WINDOW // 2 + 1))


def _sampling_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap's maps for sampling at p + flow(p): x and y, float32 (H, W)."""
    h, w = flow.shape[:2]
    return (flow[..., 0] + np.arange(w, dtype=np.float32)[None, :],
            flow[..., 1] + np.arange(h, dtype=np.float32)[:, None])


def warp(image: np.ndarray, flow: np.ndarray, interpolation: str = "cubic",
         homography: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``image`` at p + flow(p), or at H·(p + flow(p)) with a homography (SPEC §2.3).

    Parameters
    ----------
    image : ndarray, float32 (H, W, 3) in [0, 1]
    flow : ndarray, float32 (H, W, 2), pixels
    interpolation : ``"cubic"`` or ``"linear"``
    homography : ndarray (3, 3), optional: reference → ``image`` coordinates, applied after the flow

    Returns
    -------
    warped : ndarray, float32 (H, W, 3), clipped to [0, 1]
    outside : ndarray, bool (H, W), where the sampling point falls outside the frame.
    """
    h, w = flow.shape[:2]
    map_x, map_y = _sampling_maps(flow)
    if homography is not None:
        m = homography.astype(np.float32)
        den = m[2, 0] * map_x + m[2, 1] * map_y + m[2, 2]
        map_x, map_y = ((m[0, 0] * map_x + m[0, 1] * map_y + m[0, 2]) / den,
                        (m[1, 0] * map_x + m[1, 1] * map_y + m[1, 2]) / den)
    modes = {"cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR}
    if interpolation not in modes:
        raise UsageError(f"unknown warp interpolation {interpolation!r}; use {' or '.join(modes)}")
    mode = modes[interpolation]
    warped = cv2.remap(image, map_x, map_y, mode, borderMode=cv2.BORDER_REPLICATE)
    if mode == cv2.INTER_CUBIC and CLAMP_CUBIC:
        # cubic overshoots next to an edge: a 1-px dark or bright contour the scene does not hold;
        # held within the values around the sampling point, it keeps its sharpness and loses the ring
        box = np.ones((3, 3), np.uint8)
        low = cv2.remap(cv2.erode(image, box), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        np.maximum(warped, low, out=warped)
        del low
        high = cv2.remap(cv2.dilate(image, box), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        np.minimum(warped, high, out=warped)
        del high
    outside = (map_x < 0) | (map_x > w - 1) | (map_y < 0) | (map_y > h - 1)
    return np.clip(warped, 0.0, 1.0), outside


def align_to_reference(other: np.ndarray, reference: np.ndarray, t_other: float, t_reference: float,
                       response: CameraResponse, config: AlignConfig = AlignConfig()) -> np.ndarray:
    """Warp ``other`` onto the reference's geometry (SPEC §2.1–2.3); ``align_with_coverage``
    without the coverage. Same contract."""
    return align_with_coverage(other, reference, t_other, t_reference, response, config)[0]


ESTIMATE = "estimate"  # align_with_coverage's ``motion``: not known yet, estimate it here


def align_with_coverage(other: np.ndarray, reference: np.ndarray, t_other: float, t_reference: float,
                        response: CameraResponse, config: AlignConfig = AlignConfig(),
                        motion: np.ndarray | None | str = ESTIMATE) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``other`` onto the reference's geometry, and say where it saw the scene.

    Motion is estimated between exposure-matched images (the darker raised to the
    brighter's exposure): with ``config.rigid_motion="rigid"``, a global rigid motion
    first (kept unless the flow alone leaves the frames clearly more alike), then dense flow on what remains,
    dropped where the frame needs none (``static_prior``); with ``none``, dense flow alone. Pixels that map outside the frame take the reference re-exposed
    to ``t_other`` (SPEC §2.3), so the frame looks whole; ``covered`` is False there.

    Parameters
    ----------
    other, reference : ndarray, float32 (H, W, 3), LDR in [0, 1]
    t_other, t_reference : float
        Their exposure times, any one unit.
    motion : ndarray (3, 3) or None, optional
        The global rigid motion reference → ``other`` when it is already known
        (``rigid_motion_between``; None: no global motion); by default it is estimated here.

    Returns
    -------
    aligned : ndarray, float32 (H, W, 3) in [0, 1]: ``other`` as the reference's camera saw it.
    covered : ndarray, bool (H, W): where ``other`` saw the scene (False: the fill).
    """
    robust = config.rigid_motion == "rigid"
    height, width = reference.shape[:2]
    motion_size = _motion_size(height, width) if robust else None
    if motion_size is not None:  # the motion is found on reduced copies: nothing full-size is re-exposed for it
        reference_m, other_m = (cv2.resize(x, motion_size, interpolation=cv2.INTER_AREA) for x in (reference, other))
    else:
        reference_m, other_m = reference, other
    if t_other < t_reference:
        ref_matched, other_matched = reference_m, exposure_match(other_m, t_other, t_reference, response)
    else:
        ref_matched, other_matched = exposure_match(reference_m, t_reference, t_other, response), other_m
    del reference_m, other_m
    ref_gray, other_gray = to_gray_u8(ref_matched), to_gray_u8(other_matched)
    if robust:  # the static prior judges in μ-law, where the merge's darks weigh as much as its lights
        ref_tone, other_tone = (mu_law(rec709_luma(response.to_linear(x))) for x in (ref_matched, other_matched))
    del ref_matched, other_matched  # full-size temporaries: free them before warping large images
    if not robust:
        homography = None
    elif isinstance(motion, str):
        homography = estimate_rigid_motion(ref_gray, other_gray, frame_shape=(height, width))
    else:
        homography = motion
    if not robust:
        flow = estimate_flow(ref_gray, other_gray, config.flow)
    elif motion_size is None and homography is not None and ref_gray.size > DECIDE_MAX_PIXELS:
        # only with MOTION_MAX_PIXELS raised (the ablation's full-res flow): the choice judged on
        # half-size copies, then one full-size flow
        halves = [cv2.resize(x, (x.shape[1] // 2, x.shape[0] // 2), interpolation=cv2.INTER_AREA)
                  for x in (ref_gray, other_gray, ref_tone, other_tone)]
        half_h = np.diag([0.5, 0.5, 1.0]) @ homography @ np.diag([2.0, 2.0, 1.0])
        misfit = _local_motion(*halves, None, config)[1]
        misfit_h = _local_motion(*halves, half_h, config)[1]
        if not misfit_h < misfit * GLOBAL_KEEP_MARGIN:
            homography = None
        flow = _local_motion(ref_gray, other_gray, ref_tone, other_tone, homography, config)[0]
    else:
        flow, homography = _chosen_motion(ref_gray, other_gray, ref_tone, other_tone, homography, config,
                                          (height, width))
    del ref_gray, other_gray
    if robust:
        del ref_tone, other_tone
    warped, outside = warp(other, flow, config.interpolation, homography)
    del flow
    if outside.any():  # only the outside pixels: a full-frame re-exposure would cost two more frames of memory
        warped[outside] = exposure_match(reference[outside], t_reference, t_other, response)
    return warped, ~outside


def _motion_size(height: int, width: int) -> tuple[int, int] | None:
    """(width, height) of the copies the robust alignment finds the motion on: half size (at most
    ``FLOW_MAX_PIXELS``) above ``MOTION_MAX_PIXELS``, else None (full size). ``_chosen_motion``
    takes either."""
    if height * width <= MOTION_MAX_PIXELS:
        return None
    scale = min(0.5, (FLOW_MAX_PIXELS / (height * width)) ** 0.5)
    return max(16, round(width * scale)), max(16, round(height * scale))


def _chosen_motion(ref_gray: np.ndarray, other_gray: np.ndarray, ref_tone: np.ndarray, other_tone: np.ndarray,
                   homography: np.ndarray | None, config: AlignConfig, full_shape: tuple[int, int]
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """(flow at ``full_shape``, the homography (full-size pixels) kept or None): the dense flow
    alone, and after the homography when there is one (``_local_motion``), on the lumas and tones
    given (full size, or copies reduced to ``_motion_size``: the winner's flow is upsampled).
    A global fit can lock onto a wrong peak (repetitive texture, little contrast): it is kept only
    when, with the flow after it, the frames end up more alike than with the flow alone."""
    h, w = full_shape
    sx, sy = ref_gray.shape[1] / w, ref_gray.shape[0] / h
    flow, misfit = _local_motion(ref_gray, other_gray, ref_tone, other_tone, None, config)
    if homography is not None:
        scaled = homography if (sx, sy) == (1.0, 1.0) else np.diag([sx, sy, 1.0]) @ homography @ np.diag([1 / sx, 1 / sy, 1.0])
        flow_h, misfit_h = _local_motion(ref_gray, other_gray, ref_tone, other_tone, scaled, config)
        if misfit_h < misfit * GLOBAL_KEEP_MARGIN:
            flow = flow_h
        else:
            homography = None
        del flow_h
    if flow.shape[:2] == (h, w):
        return flow, homography
    full = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    full[..., 0] *= np.float32(1 / sx)
    full[..., 1] *= np.float32(1 / sy)
    return full, homography


def _local_motion(ref_gray: np.ndarray, other_gray: np.ndarray, ref_tone: np.ndarray, other_tone: np.ndarray,
                  homography: np.ndarray | None, config: AlignConfig) -> tuple[np.ndarray, float]:
    """Dense flow after ``homography`` (or none), dropped where the frame needs none
    (``static_prior``), and how unlike the frames stay after both: the mean absolute μ-law
    difference over the central 80 %."""
    if homography is not None:
        h, w = ref_gray.shape
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        other_gray = cv2.warpPerspective(other_gray, homography, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        other_tone = cv2.warpPerspective(other_tone, homography, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    flow = estimate_flow(ref_gray, other_gray, config.flow)
    flow *= 1.0 - static_prior(ref_tone, other_tone, flow)[..., None]
    followed = cv2.remap(other_tone, *_sampling_maps(flow), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    h, w = flow.shape[:2]
    mh, mw = h // 10, w // 10
    return flow, float(np.abs(followed - ref_tone)[mh:h - mh, mw:w - mw].mean())


def align_bracket(frames: list[np.ndarray], times: np.ndarray, reference: int, response: CameraResponse,
                  config: AlignConfig = AlignConfig()) -> list[np.ndarray]:
    """Every frame aligned to ``frames[reference]`` (SPEC §2.1–2.3).

    ``frames`` are float32 (H, W, 3) LDR in [0, 1] in exposure order with ``times``
    (any one unit). Returns a list of the same length; the reference is returned as is.
    """
    return align_bracket_with_coverage(frames, times, reference, response, config)[0]


def align_bracket_with_coverage(frames: list[np.ndarray], times: np.ndarray, reference: int,
                                response: CameraResponse, config: AlignConfig = AlignConfig(),
                                motions: Sequence[np.ndarray | None] | None = None
                                ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``align_bracket`` and each aligned frame's coverage (bool (H, W), ``align_with_coverage``).
    ``motions``: each frame's global rigid motion onto the reference when already known
    (``Bracket.rigid_motions``); by default estimated here."""
    ref = frames[reference]

    def one(k: int) -> tuple[np.ndarray, np.ndarray]:
        if k == reference:
            return ref, np.ones(ref.shape[:2], bool)
        return align_with_coverage(frames[k], ref, float(times[k]), float(times[reference]), response, config,
                                   ESTIMATE if motions is None else motions[k])

    done = map_pieces(one, range(len(frames)), ref.shape[0] * ref.shape[1])
    return [a for a, _ in done], [c for _, c in done]
