"""PSNR and SSIM under two named evaluation protocols.

- ``"standard"``: what modern SR tables use (EDSR / BasicSR): the Y channel of BT.601 YCbCr
  (MATLAB ``rgb2ycbcr``), ``scale`` pixels cropped from each border; PSNR in float64; SSIM of
  Wang et al. 2004 (11x11 Gaussian, sigma 1.5, valid area only, as their ``ssim_index.m``).
- ``"report"``: the student report's (Vinh, Lam and Bao): PSNR over all three RGB channels
  and SSIM as the mean of the per-channel SSIMs of R, G and B, with no border crop.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["PROTOCOLS", "rgb_to_y", "psnr", "ssim"]

PROTOCOLS = ("standard", "report")

_DATA_RANGE = 255.0
_C1 = (0.01 * _DATA_RANGE) ** 2
_C2 = (0.03 * _DATA_RANGE) ** 2
_WIN = 11  # Gaussian window side, as MATLAB fspecial('gaussian', 11, 1.5)
_SIGMA = 1.5


def _check_rgb_uint8(image: np.ndarray, name: str) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        got = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{name} must be a uint8 numpy array, got {got}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be HxWx3 RGB, got shape {image.shape}")


def rgb_to_y(image: np.ndarray, *, rounded: bool = True) -> np.ndarray:
    """Luma Y of BT.601 YCbCr, as MATLAB ``rgb2ycbcr``.

    Parameters
    ----------
    image : np.ndarray
        uint8 HxWx3 RGB in [0, 255].
    rounded : bool
        True (default): round half away from zero, as MATLAB ``rgb2ycbcr`` does on uint8
        input (it returns uint8). False: the unrounded float Y of BasicSR's ``rgb2ycbcr``.

    Returns
    -------
    np.ndarray
        float64 HxW, Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, in [16, 235].
    """
    _check_rgb_uint8(image, "image")
    rgb = image.astype(np.float64)
    y = rgb @ (np.array([65.481, 128.553, 24.966]) / 255.0) + 16.0  # (H, W)
    return np.floor(y + 0.5) if rounded else y  # y > 0, so floor(y + 0.5) rounds half away


def _gaussian_window() -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', 11, 1.5)`` (the 2-D window is its outer product)."""
    x = np.arange(_WIN, dtype=np.float64) - (_WIN - 1) / 2
    g = np.exp(-(x**2) / (2 * _SIGMA**2))
    return g / g.sum()


def _filter_valid(image: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 2-D correlation with ``g`` x ``g``, valid area only (MATLAB ``filter2 'valid'``)."""
    k = len(g)
    out = sliding_window_view(image, k, axis=0) @ g  # (H - k + 1, W)
    return sliding_window_view(out, k, axis=1) @ g  # (H - k + 1, W - k + 1)


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM map of two float64 HxW images in [0, 255] (Wang et al. 2004, ``ssim_index.m``)."""
    if min(a.shape) < _WIN:
        raise ValueError(f"SSIM needs images of at least {_WIN}x{_WIN} after cropping, got {a.shape}")
    g = _gaussian_window()
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a**2
    var_b = _filter_valid(b * b, g) - mu_b**2
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    num = (2 * mu_a * mu_b + _C1) * (2 * cov + _C2)
    den = (mu_a**2 + mu_b**2 + _C1) * (var_a + var_b + _C2)
    return float(np.mean(num / den, dtype=np.float64))


def _prepare(sr: np.ndarray, hr: np.ndarray, *, scale: int, protocol: str,
             round_y: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Validate the inputs and return the float64 (sr, hr) channel pairs the protocol scores."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    _check_rgb_uint8(sr, "sr")
    _check_rgb_uint8(hr, "hr")
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr must have the same shape, got {sr.shape} and {hr.shape}")
    if protocol == "report":
        return [(sr[..., c].astype(np.float64), hr[..., c].astype(np.float64)) for c in range(3)]
    if isinstance(scale, bool) or int(scale) != scale or scale < 0:
        raise ValueError(f"scale (the border crop) must be a non-negative int, got {scale!r}")
    h, w = sr.shape[:2]
    if h <= 2 * scale or w <= 2 * scale:
        raise ValueError(f"images of {h}x{w} are too small for a {scale}-pixel border crop")
    crop = (slice(scale, h - scale), slice(scale, w - scale))
    return [(rgb_to_y(sr, rounded=round_y)[crop], rgb_to_y(hr, rounded=round_y)[crop])]


def psnr(sr: np.ndarray, hr: np.ndarray, *, scale: int = 4, protocol: str = "standard",
         round_y: bool = True) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(255^2 / MSE), MSE in float64.

    Parameters
    ----------
    sr, hr : np.ndarray
        uint8 HxWx3 RGB in [0, 255], same shape.
    scale : int
        Border crop in pixels for ``"standard"`` (the SR factor); unused by ``"report"``.
    protocol : {"standard", "report"}
        ``"standard"``: Y channel (see `rgb_to_y`), ``scale`` px cropped from each border.
        ``"report"``: all three RGB channels, no crop.
    round_y : bool
        Round Y as MATLAB ``rgb2ycbcr`` on uint8 (True) or not, as BasicSR (False).
        Only used by ``"standard"``.

    Returns
    -------
    float
        PSNR in dB; ``inf`` when the images are identical (MSE = 0).
    """
    pairs = _prepare(sr, hr, scale=scale, protocol=protocol, round_y=round_y)
    mse = float(np.mean([np.mean((a - b) ** 2, dtype=np.float64) for a, b in pairs]))
    return math.inf if mse == 0 else 10.0 * math.log10(_DATA_RANGE**2 / mse)


def ssim(sr: np.ndarray, hr: np.ndarray, *, scale: int = 4, protocol: str = "standard",
         round_y: bool = True) -> float:
    """Structural similarity of Wang et al. 2004, mean of the map over the valid area.

    11x11 Gaussian window with sigma 1.5, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, as
    their ``ssim_index.m`` (MATLAB ``filter2(..., 'valid')``, no downsampling), in float64.

    Parameters
    ----------
    sr, hr : np.ndarray
        uint8 HxWx3 RGB in [0, 255], same shape.
    scale : int
        Border crop in pixels for ``"standard"`` (the SR factor); unused by ``"report"``.
    protocol : {"standard", "report"}
        ``"standard"``: SSIM of the Y channel, ``scale`` px cropped from each border.
        ``"report"``: mean of the SSIMs of R, G and B, no crop.
    round_y : bool
        As in `psnr`; only used by ``"standard"``.

    Returns
    -------
    float
        SSIM in [-1, 1]; 1.0 for identical images.
    """
    pairs = _prepare(sr, hr, scale=scale, protocol=protocol, round_y=round_y)
    return float(np.mean([_ssim_channel(a, b) for a, b in pairs]))
