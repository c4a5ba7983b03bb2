"""Tests for srgan.metrics: Y conversion, PSNR and SSIM under the named protocols."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.data import astronaut
from skimage.metrics import structural_similarity

from srgan.imresize import imresize
from srgan.metrics import PROTOCOLS, psnr, rgb_to_y, ssim

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """(sr, hr): skimage's astronaut (512x512x3 uint8) and its x4 bicubic down-up round trip."""
    hr = astronaut()
    return imresize(imresize(hr, 0.25), 4), hr


def _gray(value: int, shape=(24, 24)) -> np.ndarray:
    return np.full((*shape, 3), value, dtype=np.uint8)


def _skimage_ssim(a: np.ndarray, b: np.ndarray, **kwargs) -> float:
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=255, **kwargs)


# --- rgb_to_y -------------------------------------------------------------------------------

def test_rgb_to_y_hand_values():
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [100, 150, 200]]], dtype=np.uint8)
    # 16 + (65.481 R + 128.553 G + 24.966 B) / 255
    expected = [16.0, 235.0, 16 + 65.481, 16 + (6548.1 + 19282.95 + 4993.2) / 255]
    y = rgb_to_y(rgb, rounded=False)
    assert y.dtype == np.float64 and y.shape == (1, 4)
    np.testing.assert_allclose(y[0], expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(rgb_to_y(rgb)[0], [16, 235, 81, 137])  # 81.481, 136.879


def test_rgb_to_y_rounding_is_the_only_difference():
    image = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    rounded, exact = rgb_to_y(image), rgb_to_y(image, rounded=False)
    np.testing.assert_array_equal(rounded, np.floor(exact + 0.5))
    assert 0 < np.abs(rounded - exact).max() <= 0.5
    assert rounded.min() >= 16 and rounded.max() <= 235


# --- PSNR -----------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_identical_images(pair, protocol):
    _, hr = pair
    assert psnr(hr, hr, protocol=protocol) == math.inf
    assert ssim(hr, hr, protocol=protocol) == pytest.approx(1.0, abs=1e-12)


def test_psnr_hand_computed():
    # Black vs white: Y is 16 vs 235 (exact), so MSE = 219^2 and PSNR = 20 log10(255 / 219).
    assert psnr(_gray(255), _gray(0)) == pytest.approx(20 * math.log10(255 / 219), abs=1e-12)
    # Report protocol, RGB: a uniform error of 10 gives MSE = 100.
    assert psnr(_gray(110), _gray(100), protocol="report") == pytest.approx(
        10 * math.log10(255**2 / 100), abs=1e-12)
    # One channel off by 30 on every pixel: MSE = 900 / 3 = 300.
    sr = _gray(100)
    sr[..., 1] = 130
    assert psnr(sr, _gray(100), protocol="report") == pytest.approx(
        10 * math.log10(255**2 / 300), abs=1e-12)


def test_standard_crops_scale_pixels_of_border():
    hr = _gray(100)
    sr = hr.copy()
    sr[:4] = 200
    sr[:, -4:] = 0
    assert psnr(sr, hr, scale=4) == math.inf
    assert psnr(sr, hr, scale=3) < 30
    assert psnr(sr, hr, protocol="report") < 30


def test_psnr_round_y(pair):
    sr, hr = pair
    exact = psnr(sr, hr, round_y=False)
    ys, yh = rgb_to_y(sr, rounded=False)[4:-4, 4:-4], rgb_to_y(hr, rounded=False)[4:-4, 4:-4]
    assert exact == pytest.approx(10 * math.log10(255**2 / np.mean((ys - yh) ** 2)), abs=1e-12)
    assert abs(psnr(sr, hr) - exact) < 0.05  # rounding Y moves PSNR by a few hundredths of a dB


# --- SSIM -----------------------------------------------------------------------------------

def test_ssim_constant_images_hand_computed():
    # Flat images: mu = Y, sigma = 0, so SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1).
    expected = (2 * 16 * 235 + C1) / (16**2 + 235**2 + C1)
    assert ssim(_gray(0), _gray(255)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("round_y", [True, False])
def test_ssim_matches_skimage(pair, round_y):
    # skimage filters the whole image and then drops (win_size - 1) // 2 = 5 px per side,
    # which for the 11x11 window is exactly the valid area: only float round-off differs.
    sr, hr = pair
    ys = rgb_to_y(sr, rounded=round_y)[4:-4, 4:-4]
    yh = rgb_to_y(hr, rounded=round_y)[4:-4, 4:-4]
    ours = ssim(sr, hr, round_y=round_y)
    assert 0.8 < ours < 0.9
    assert ours == pytest.approx(_skimage_ssim(ys, yh), abs=1e-10)


def test_report_ssim_is_mean_of_rgb_channels(pair):
    sr, hr = pair
    per_channel = [_skimage_ssim(sr[..., c].astype(np.float64), hr[..., c].astype(np.float64))
                   for c in range(3)]
    ours = ssim(sr, hr, protocol="report")
    assert ours == pytest.approx(np.mean(per_channel), abs=1e-10)
    assert ours == pytest.approx(_skimage_ssim(sr.astype(np.float64), hr.astype(np.float64),
                                               channel_axis=-1), abs=1e-10)


def test_report_psnr_is_rgb_mse(pair):
    sr, hr = pair
    mse = np.mean((sr.astype(np.float64) - hr) ** 2)
    assert psnr(sr, hr, protocol="report") == pytest.approx(10 * math.log10(255**2 / mse),
                                                            abs=1e-12)


def test_ssim_is_symmetric_and_below_one(pair):
    sr, hr = pair
    assert ssim(sr, hr) == pytest.approx(ssim(hr, sr), abs=1e-12)
    assert ssim(sr, hr) < 1


# --- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", [psnr, ssim])
def test_rejects_unknown_protocol(metric):
    with pytest.raises(ValueError, match=r"one of \('standard', 'report'\), got 'rgb'"):
        metric(_gray(0), _gray(0), protocol="rgb")


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_rejects_bad_inputs(metric):
    with pytest.raises(ValueError, match=r"same shape, got \(24, 24, 3\) and \(24, 20, 3\)"):
        metric(_gray(0), _gray(0, shape=(24, 20)))
    with pytest.raises(ValueError, match="sr must be a uint8 numpy array, got float64"):
        metric(_gray(0).astype(np.float64), _gray(0))
    with pytest.raises(ValueError, match=r"hr must be HxWx3 RGB, got shape \(24, 24\)"):
        metric(_gray(0), _gray(0)[..., 0])
    with pytest.raises(ValueError, match="non-negative int, got -1"):
        metric(_gray(0), _gray(0), scale=-1)
    with pytest.raises(ValueError, match="too small for a 12-pixel border crop"):
        metric(_gray(0), _gray(0), scale=12)


def test_rgb_to_y_rejects_bad_input():
    with pytest.raises(ValueError, match="image must be a uint8 numpy array, got float32"):
        rgb_to_y(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"HxWx3 RGB, got shape \(4, 4, 4\)"):
        rgb_to_y(np.zeros((4, 4, 4), dtype=np.uint8))


def test_ssim_rejects_images_smaller_than_window():
    with pytest.raises(ValueError, match=r"at least 11x11 after cropping, got \(8, 8\)"):
        ssim(_gray(0, shape=(16, 16)), _gray(0, shape=(16, 16)), scale=4)
