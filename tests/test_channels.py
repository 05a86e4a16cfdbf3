"""radiometry.channels: the per-pixel channel reductions equal numpy's, on any layout."""

import numpy as np
import pytest

from selfhdr_cli.radiometry.channels import channel_max, channel_mean, channel_sum
from selfhdr_cli.radiometry.luma import REC709_RGB, rec709_luma


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_reductions_equal_numpys(dtype):
    rgb = np.random.default_rng(0).random((37, 53, 3)).astype(dtype)
    for image in (rgb, rgb[:, ::2], rgb[::3, 5:40]):  # contiguous and strided views
        assert channel_max(image).dtype == dtype
        np.testing.assert_array_equal(channel_max(image), image.max(axis=-1))
        np.testing.assert_allclose(channel_sum(image), image.sum(axis=-1), rtol=1e-6)
        np.testing.assert_allclose(channel_mean(image), image.mean(axis=-1), rtol=1e-6)
    before = rgb.copy()
    channel_mean(rgb)
    np.testing.assert_array_equal(rgb, before)  # the input is left as it is


def test_luma_is_the_rec709_sum_on_every_layout():
    rgb = np.random.default_rng(1).random((40, 30, 3)).astype(np.float32)
    r, g, b = REC709_RGB
    for image in (rgb, rgb[:, ::2], rgb.astype(np.float64), rgb[0]):  # (H, W, 3) fast path and the rest
        expected = image[..., 0] * r + image[..., 1] * g + image[..., 2] * b
        got = rec709_luma(image)
        assert got.shape == image.shape[:-1] and got.dtype == image.dtype
        np.testing.assert_allclose(got, expected, atol=1e-6)
