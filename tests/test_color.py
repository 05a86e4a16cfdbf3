"""The fixed-weight merge (SPEC §2.4), the Debevec baseline and the response curves."""

from __future__ import annotations

import numpy as np
import pytest

from selfhdr_cli.errors import UsageError
from selfhdr_cli.merge.align import exposure_match
from selfhdr_cli.merge.bracket import bracket_from_arrays
from selfhdr_cli.merge.color import merge_triangle
from selfhdr_cli.merge.debevec import merge_debevec
from selfhdr_cli.radiometry.response import CameraResponse, parse_response
from selfhdr_cli.radiometry.weighting import triangle_weights
from conftest import color_config


def test_triangle_weights_match_spec():
    x = np.array([0.0, 0.25, 0.5, 0.75, 1.0], np.float32)
    ws, wr, wl = triangle_weights(x)
    np.testing.assert_allclose(ws, [0, 0, 0, 0.5, 1])
    np.testing.assert_allclose(wr, [0, 0.5, 1, 0.5, 0])
    np.testing.assert_allclose(wl, [1, 0.5, 0, 0, 0])
    np.testing.assert_allclose(ws + wr + wl, 1)


def test_merge_of_consistent_frames_returns_the_radiance():
    g = CameraResponse("gamma")
    radiance = np.linspace(0.001, 0.9, 300, dtype=np.float32).reshape(10, 10, 3)
    frames = [g.from_linear(radiance * t) for t in (1, 4, 16)]
    for merged in (merge_triangle(frames, np.array([1, 4, 16.0]), 1, g),
                   merge_debevec(frames, np.array([1, 4, 16.0]), g)):
        np.testing.assert_allclose(merged, radiance, rtol=2e-5, atol=1e-7)


def test_bright_reference_takes_short_frame_dark_takes_long():
    g = CameraResponse("gamma")
    short, ref, long = (np.full((1, 1, 3), v, np.float32) for v in (0.3, 1.0, 1.0))
    assert merge_triangle([short, ref, long], np.array([1, 4, 16.0]), 1, g)[0, 0, 0] == pytest.approx(0.3 ** 2.2)
    short, ref, long = (np.full((1, 1, 3), v, np.float32) for v in (0.0, 0.0, 0.2))
    assert merge_triangle([short, ref, long], np.array([1, 4, 16.0]), 1, g)[0, 0, 0] == pytest.approx(0.2 ** 2.2 / 16)


def test_exposure_match_follows_spec_formula():
    g = CameraResponse("gamma")
    dark = np.array([[[0.2, 0.5, 0.9]]], np.float32)
    np.testing.assert_allclose(exposure_match(dark, 1, 4, g), np.clip(dark ** 2.2 * 4, 0, 1) ** (1 / 2.2), rtol=1e-6)


@pytest.mark.parametrize("text", ["gamma:2.2", "srgb", "linear", "gamma:1.8"])
def test_response_round_trip(text):
    g = parse_response(text)
    x = np.linspace(0, 1, 101, dtype=np.float32)
    np.testing.assert_allclose(g.from_linear(g.to_linear(x)), x, atol=1e-5)
    assert np.all(np.diff(g.to_linear(x)) >= 0)


def test_bad_response():
    for bad in ("gamma:0", "log", "gamma:abc"):
        with pytest.raises(UsageError):
            parse_response(bad)


def test_bracket_sorts_by_exposure():
    a, b, c = (np.full((2, 2, 3), v, np.float32) for v in (0.1, 0.2, 0.3))
    br = bracket_from_arrays([c, a, b], [16, 1, 4])
    assert [f[0, 0, 0] for f in br.frames] == pytest.approx([0.1, 0.2, 0.3])
    np.testing.assert_allclose(br.relative_times, [1, 4, 16])


def test_unknown_flow_or_interpolation_is_refused_not_replaced():
    from selfhdr_cli.merge.align import AlignConfig, warp

    with pytest.raises(UsageError, match="interpolation"):
        AlignConfig(interpolation="lanczos")
    with pytest.raises(UsageError, match="flow"):
        AlignConfig(flow="deepflow")
    with pytest.raises(UsageError, match="interpolation"):
        warp(np.zeros((16, 16, 3), np.float32), np.zeros((16, 16, 2), np.float32), "nearest")


def _static_bracket(ev, seed=0, shot=2e-4, read=1e-3):
    from conftest import procedural_radiance
    from selfhdr_cli.evaluation.synth import SensorConfig, render_bracket

    canvas = np.clip(procedural_radiance(96, 128, seed) * 0.5, 0, 1)
    sensor = SensorConfig(shot=shot, read=read)
    frames, gt, _ = render_bracket(canvas, (96, 128), [], list(ev), len(ev) // 2, sensor,
                                   np.random.default_rng(seed))
    return frames, np.power(2.0, np.asarray(ev) - ev[0]), gt


def _psnr_mu(x, gt):
    from selfhdr_cli.radiometry.mulaw import mu_law

    return 10 * np.log10(1 / np.mean((mu_law(x) - mu_law(gt)) ** 2))


def test_snr_merge_of_a_noisy_static_bracket_beats_the_fixed_weights():
    """With the noise model matching the camera (here the default, the synthetic camera's)."""
    from selfhdr_cli.merge.snr import merge_snr

    frames, t, gt = _static_bracket([0.0, 2.0, 4.0])
    g = CameraResponse("gamma")
    snr, triangle = merge_snr(frames, t, 1, g), merge_triangle(frames, t, 1, g)
    debevec = merge_debevec(frames, t, g)
    assert _psnr_mu(snr, gt) > max(_psnr_mu(triangle, gt), _psnr_mu(debevec, gt)) + 0.5


def test_snr_merge_uses_every_frame_of_a_five_frame_bracket():
    """The triangle merge sees 3 of 5 frames; the SNR merge measurably gains from the other two."""
    from selfhdr_cli.merge.snr import merge_snr

    frames, t, gt = _static_bracket([0.0, 1.0, 2.0, 3.0, 4.0], seed=1)
    g = CameraResponse("gamma")
    five = merge_snr(frames, t, 2, g)
    three = merge_snr([frames[0], frames[2], frames[4]], t[[0, 2, 4]], 1, g)
    assert _psnr_mu(five, gt) > _psnr_mu(three, gt) + 0.5


def test_snr_merge_rejects_what_disagrees_with_the_reference():
    """A long frame with an object the flow did not align: rejection keeps the reference there."""
    from selfhdr_cli.merge.snr import SNRMergeConfig, merge_snr

    frames, t, gt = _static_bracket([0.0, 2.0, 4.0], seed=2)
    ghosted = [f.copy() for f in frames]
    ghosted[2][30:60, 40:80] = 0.05  # a dark object only the long frame saw
    g = CameraResponse("gamma")
    region = (slice(30, 60), slice(40, 80))
    with_rejection = merge_snr(ghosted, t, 1, g)
    without = merge_snr(ghosted, t, 1, g, SNRMergeConfig(reject_sigma=0))
    assert _psnr_mu(with_rejection[region], gt[region]) > _psnr_mu(without[region], gt[region]) + 10
    assert _psnr_mu(with_rejection, gt) > _psnr_mu(merge_triangle(ghosted, t, 1, g), gt)
    from selfhdr_cli.merge.snr import agreement

    agree = agreement(ghosted, t, 1, g)
    assert agree[region].mean() < 0.2 and agree[70:, 90:].mean() > 0.95  # motion seen there, and only there


@pytest.mark.parametrize("shot, read", [(2e-4, 1e-3), (1e-3, 3e-3), (5e-5, 5e-4)])
def test_noise_estimated_from_the_bracket_matches_the_camera(shot, read):
    """The fit recovers the synthetic camera's own noise, and with it the SNR merge of a camera noisier
    than the default guess still beats the fixed triangle merge."""
    from selfhdr_cli.merge.snr import SNRMergeConfig, estimate_noise, merge_snr

    frames, t, gt = _static_bracket([0.0, 2.0, 4.0], shot=shot, read=read)
    g = CameraResponse("gamma")
    noise = estimate_noise(frames, t, g)
    assert noise.shot == pytest.approx(shot, rel=0.2) and noise.read == pytest.approx(read, rel=0.3)
    merged = merge_snr(frames, t, 1, g, SNRMergeConfig(noise=noise))
    assert _psnr_mu(merged, gt) > _psnr_mu(merge_triangle(frames, t, 1, g), gt) + 0.3


def _moved(dx: float, dy: float, rot: float = 0.0) -> np.ndarray:
    c, s = np.cos(rot), np.sin(rot)
    return np.array([[c, -s, dx], [s, c, dy]], float)


def test_rigid_motion_of_a_handheld_frame_is_recovered():
    """A 24 px shift with a small rotation: the homography maps every pixel to within 1.5 px of where the
    camera put it; a 1 px shift is left to the dense flow (None)."""
    from conftest import procedural_radiance
    from selfhdr_cli.evaluation.synth import SensorConfig, render_bracket
    from selfhdr_cli.merge.align import estimate_rigid_motion, to_gray_u8

    h, w = 192, 256
    canvas = procedural_radiance(h + 80, w + 80, 3)
    affine = _moved(-24, 7, 0.01)
    frames, _, _ = render_bracket(canvas, (h, w), [], [2.0, 2.0], 0, SensorConfig(), np.random.default_rng(0),
                                  camera=[None, affine])
    found = estimate_rigid_motion(to_gray_u8(frames[0]), to_gray_u8(frames[1]))
    assert found is not None
    # the truth: synth moves the camera about the canvas centre, then crops the centre
    big_h, big_w = canvas.shape[:2]
    centre = np.array([[1, 0, big_w / 2], [0, 1, big_h / 2], [0, 0, 1]])
    crop = np.array([[1, 0, -(big_w - w) // 2], [0, 1, -(big_h - h) // 2], [0, 0, 1]])
    truth = crop @ centre @ np.vstack([affine, [0, 0, 1]]) @ np.linalg.inv(centre) @ np.linalg.inv(crop)
    ys, xs = np.mgrid[16:h - 16:8, 16:w - 16:8]
    points = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])

    def apply(m):
        q = m @ points
        return q[:2] / q[2]

    # cv2.warpAffine samples the canvas at the inverse of the camera motion, so the reference pixel p
    # shows in frame 1 at truth·p: the same direction as ours (reference → frame 1)
    err = np.linalg.norm(apply(truth) - apply(found), axis=0)
    assert err.max() < 1.5, err.max()
    small, _, _ = render_bracket(canvas, (h, w), [], [2.0, 2.0], 0, SensorConfig(), np.random.default_rng(0),
                                 camera=[None, _moved(1, 0.5)])
    assert estimate_rigid_motion(to_gray_u8(small[0]), to_gray_u8(small[1])) is None


def test_out_of_frame_fill_gets_no_weight():
    """Where a frame did not see the scene (coverage False) its values cannot change the SNR merge."""
    from selfhdr_cli.merge.snr import merge_snr

    frames, t, gt = _static_bracket([0.0, 2.0, 4.0], seed=3)
    g = CameraResponse("gamma")
    covered = [np.ones(frames[0].shape[:2], bool) for _ in frames]
    covered[2][:, :20] = False
    poisoned = [f.copy() for f in frames]
    poisoned[2][:, :20] = exposure_match(frames[1], t[1], t[2], g)[:, :20]  # what align's fill puts there
    clean = merge_snr(frames, t, 1, g, covered=covered)
    np.testing.assert_array_equal(merge_snr(poisoned, t, 1, g, covered=covered)[:, :20], clean[:, :20])
    assert not np.array_equal(merge_snr(poisoned, t, 1, g)[:, :20], clean[:, :20])  # without coverage it would


def test_static_gate_opens_where_frames_agree_and_closes_on_motion():
    from selfhdr_cli.merge.snr import static_gate

    frames, t, _ = _static_bracket([0.0, 2.0, 4.0], seed=2)
    g = CameraResponse("gamma")
    gate = static_gate(frames, t, 1, g)
    assert gate.dtype == np.float32 and gate.shape == frames[0].shape[:2]
    unclipped = frames[1].max(axis=-1) < 0.9
    assert gate[unclipped].mean() > 0.9 and gate[frames[1].max(axis=-1) >= 0.98].max(initial=0) < 0.5
    ghosted = [f.copy() for f in frames]
    ghosted[2][30:60, 40:80] = 0.05
    assert static_gate(ghosted, t, 1, g)[35:55, 45:75].max() < 0.05


def test_colour_component_in_strips_equals_one_piece(monkeypatch):
    """The SNR merge and the gate run in row strips (bounded memory): the seams must not show."""
    from selfhdr_cli.merge import color
    from selfhdr_cli.merge.color import ColorConfig, color_and_gate

    frames, t, _ = _static_bracket([0.0, 2.0, 4.0], seed=4)
    frames[2][40:70, 30:60] = 0.05  # something to reject across a strip boundary
    whole_y, whole_g = color_and_gate(frames, t, 1, color_config())
    monkeypatch.setattr(color, "STRIP_ROWS", 24)
    strip_y, strip_g = color_and_gate(frames, t, 1, color_config())
    np.testing.assert_array_equal(strip_y, whole_y)
    np.testing.assert_allclose(strip_g, whole_g, atol=1e-6)


def test_threaded_pieces_equal_one_thread(monkeypatch):
    """Strips, noise pairs and frames run in threads when cores allow: the result is the serial one."""
    import cv2

    from selfhdr_cli.merge import color
    from selfhdr_cli.merge.align import align_bracket_with_coverage
    from selfhdr_cli.merge.color import ColorConfig, color_and_gate

    frames, t, _ = _static_bracket([0.0, 2.0, 4.0], seed=5)
    frames[2][40:70, 30:60] = 0.05
    frames[0] = np.roll(frames[0], 3, axis=1)
    monkeypatch.setattr(color, "STRIP_ROWS", 24)
    threads = cv2.getNumThreads()
    results = []
    try:
        for n in (1, 2):
            cv2.setNumThreads(n)
            aligned, covered = align_bracket_with_coverage(frames, t, 1, CameraResponse("gamma"))
            results.append((aligned, color_and_gate(aligned, t, 1, color_config(), covered=covered)))
    finally:
        cv2.setNumThreads(threads)
    (a1, (y1, g1)), (a2, (y2, g2)) = results
    for x1, x2 in zip(a1, a2):
        np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1, g2)


def test_map_pieces_keeps_order_and_the_memory_budget(monkeypatch):
    import threading

    from selfhdr_cli.merge import device

    seen = set()

    def work(k):
        seen.add(threading.get_ident())
        return k * k

    monkeypatch.setattr(device.cv2, "getNumThreads", lambda: 4)
    assert device.map_pieces(work, range(8), 1) == [k * k for k in range(8)]
    seen.clear()
    assert device.map_pieces(work, range(8), device.PARALLEL_PIXEL_BUDGET) == [k * k for k in range(8)]
    assert seen == {threading.get_ident()}  # a piece as large as the budget: one at a time, here



def test_code_bits_and_black_level():
    from selfhdr_cli.merge.snr import black_level, code_bits

    frames, _, _ = _static_bracket([0.0, 2.0, 4.0], seed=5)
    assert code_bits(frames) == 16 and black_level(16) < 0
    eight = [(np.round(f * 255) / 255).astype(np.float32) for f in frames]
    assert code_bits(eight) == 8 and 0 < black_level(8) < 0.02


def test_a_region_black_in_every_frame_takes_the_longest_frame():
    """8-bit frames leave their darkest codes out; where every frame is that dark the longest one
    (which saw the most light) stands, not the shortest (which reads 0)."""
    from selfhdr_cli.merge.snr import SNRMergeConfig, black_level, merge_snr

    g = CameraResponse("gamma")
    frames = [np.full((8, 8, 3), v / 255, np.float32) for v in (0, 1, 2)]  # all at or below 2/255
    frames[0][:, 4:] = 0.5 ** (1 / 2.2)  # and a bright half, measured normally
    frames[1][:, 4:] = min(1.0, (0.5 * 4) ** (1 / 2.2))
    frames[2][:, 4:] = 1.0
    t = np.asarray([1.0, 4.0, 16.0])
    merged = merge_snr(frames, t, 1, g, SNRMergeConfig(black=black_level(8), reject_sigma=0))
    np.testing.assert_allclose(merged[:, :4], g.to_linear(np.float32(2 / 255)) / 16, rtol=1e-5)
    np.testing.assert_allclose(merged[:, 4:], 0.5, rtol=1e-3)


def test_a_known_rigid_motion_is_used_as_given():
    """The response fit's rigid motions (Bracket.rigid_motions) stand in for the alignment's own estimate:
    the same motion gives the same frame, and None means no global motion, as when none is found."""
    from conftest import procedural_radiance
    from selfhdr_cli.evaluation.synth import SensorConfig, render_bracket
    from selfhdr_cli.merge.align import align_with_coverage, rigid_motion_between

    h, w = 192, 256
    canvas = procedural_radiance(h + 80, w + 80, 4)
    frames, _, _ = render_bracket(canvas, (h, w), [], [0.0, 2.0], 1, SensorConfig(), np.random.default_rng(1),
                                  camera=[_moved(-20, 6, 0.01), None])
    g = CameraResponse("gamma")
    known = rigid_motion_between(frames[1], frames[0], 4.0, 1.0, g)
    assert known is not None
    estimated, _ = align_with_coverage(frames[0], frames[1], 1.0, 4.0, g)
    given, _ = align_with_coverage(frames[0], frames[1], 1.0, 4.0, g, motion=known)
    assert _psnr(given, estimated) > 40
    without, _ = align_with_coverage(frames[0], frames[1], 1.0, 4.0, g, motion=None)
    assert not np.array_equal(without, given)  # None is "no global motion", not "estimate it"


def test_frames_over_a_megapixel_are_aligned_on_reduced_copies(monkeypatch):
    """Above MOTION_MAX_PIXELS the motion is found at half size and its flow upsampled: a translated
    frame still lands on the reference, as with the motion found at full size."""
    from conftest import procedural_radiance
    from selfhdr_cli.evaluation.synth import SensorConfig, render_bracket
    from selfhdr_cli.merge import align

    h, w = 240, 320
    canvas = procedural_radiance(h + 80, w + 80, 5)
    frames, _, _ = render_bracket(canvas, (h, w), [], [2.0, 2.0], 1, SensorConfig(), np.random.default_rng(2),
                                  camera=[_moved(-17, 9), None])
    g = CameraResponse("gamma")
    inner = (slice(30, h - 30), slice(30, w - 30))
    before = _psnr(frames[0][inner], frames[1][inner])
    results = {}
    for limit in (h * w - 1, float("inf")):  # reduced, then full size
        monkeypatch.setattr(align, "MOTION_MAX_PIXELS", limit)
        aligned, _ = align.align_with_coverage(frames[0], frames[1], 1.0, 1.0, g)
        results[limit] = _psnr(aligned[inner], frames[1][inner])
    assert results[h * w - 1] > before + 10, (before, results)
    assert results[h * w - 1] > results[float("inf")] - 3, results


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    """PSNR (dB) of two LDR images in [0, 1]."""
    return float(10 * np.log10(1.0 / max(float(np.mean((x - y) ** 2)), 1e-12)))

