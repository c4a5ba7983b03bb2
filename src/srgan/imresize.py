"""MATLAB-exact ``imresize(A, scale, 'bicubic')`` as a batched torch op.

Follows MATLAB's ``imresize.m`` (``contributions`` / ``resizeAlongDim``): Keys cubic with
a = -0.5; on downscale the antialiased kernel h(x) = s * W(s * x) of width 4 / s; symmetric
(mirror) index folding at the borders; separable passes, the dimension with the smaller scale
first (rows first on ties). On uint8 input every pass is computed in float64 and rounded half
away from zero and clipped to uint8, as MATLAB does; this reproduces the EDSR benchmark's
MATLAB LR images (``../shared/data/Set5/LR_x4``) with 0 differing pixels. BasicSR's
``imresize`` is float throughout and so is off by 1-2 grey levels on ~10% of pixels.

On the CPU each pass is one compiled loop (:mod:`srgan._imresize_cpu`, numba): about 13x
BasicSR's numpy loop on 2 cores, and 12x the torch op (``benchmarks/imresize_speed.py``). On
other devices it is that torch op, tap by tap. Both sum in float64 in MATLAB's order, so they
give the same bits.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

__all__ = ["imresize", "modcrop"]


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys (1981) cubic convolution kernel with a = -0.5, support [-2, 2]."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (
        -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    ) * ((ax > 1) & (ax <= 2))


@functools.lru_cache(maxsize=64)
def _contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Taps of one 1-D resize, as MATLAB ``contributions``.

    Returns 0-based source indices and float64 weights, both (out_len, taps), C-contiguous
    and read-only (they are cached); each row of weights sums to 1.
    """
    antialias = scale < 1
    width = 4.0 / scale if antialias else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)  # 1-based output coordinates
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # matching input coordinates (1-based)
    left = np.floor(u - width / 2.0)
    taps = math.ceil(width) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # (out_len, taps), 1-based
    dist = u[:, None] - idx
    weights = scale * _cubic(scale * dist) if antialias else _cubic(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])  # mirror, 0-based
    idx = aux[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)  # drop all-zero tap columns
    idx, weights = np.ascontiguousarray(idx[:, keep]), np.ascontiguousarray(weights[:, keep])
    idx.flags.writeable = weights.flags.writeable = False
    return idx, weights


def _round_half_away_to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Round half away from zero and clip to [0, 255], exactly (no ``x + 0.5`` error)."""
    floor = torch.floor(x)
    rounded = floor + (x - floor >= 0.5).to(x.dtype)  # negatives are clipped to 0 anyway
    return rounded.clamp_(0, 255)


def _resize_dim(x: torch.Tensor, dim: int, out_len: int, scale: float) -> torch.Tensor:
    """One separable pass of ``x`` (N, C, H, W) along ``dim`` (2 = rows, 3 = columns)."""
    idx, w = _contributions(x.shape[dim], out_len, scale)
    idx_t = torch.tensor(idx, device=x.device)  # (out_len, taps); a copy: idx is read-only
    w_t = torch.tensor(w, device=x.device, dtype=x.dtype)
    view = (1, 1, out_len, 1) if dim == 2 else (1, 1, 1, out_len)
    out = None
    for k in range(idx.shape[1]):  # accumulate tap by tap: no (out_len, taps, ...) tensor
        term = x.index_select(dim, idx_t[:, k]) * w_t[:, k].view(view)  # (N, C, out_len, W)
        out = term if out is None else out.add_(term)
    return out


def _resize_nchw(x: torch.Tensor, out_hw: tuple[int, int], scales: tuple[float, float], *,
                 quantize: bool) -> torch.Tensor:
    """Resize float ``x`` (N, C, H, W) in MATLAB's pass order; quantize after each pass."""
    order = (2, 3) if scales[0] <= scales[1] else (3, 2)  # smaller scale first, rows on ties
    for dim in order:
        x = _resize_dim(x, dim, out_hw[dim - 2], scales[dim - 2])
        if quantize:
            x = _round_half_away_to_uint8(x)
    return x


def _pass_transposed_cpu(x: np.ndarray, out_len: int, scale: float, *,
                         quantize: bool) -> np.ndarray:
    """Resize ``x`` (L, K, B) along axis 0 and return it transposed: (K, out_len, B)."""
    from srgan import _imresize_cpu

    length, k, b = x.shape
    rows = x.reshape(length, k * b)  # a view when rows are contiguous (a mod-crop is)
    if rows.strides[1] != rows.itemsize:
        rows = np.ascontiguousarray(rows)
    idx, w = _contributions(length, out_len, scale)
    out = np.empty((k, out_len * b), dtype=np.uint8 if quantize else np.float64)
    _imresize_cpu.resize_rows_transposed(rows, idx, w, channels=b, quantize=quantize, out=out,
                                         threads=torch.get_num_threads())
    return out.reshape(k, out_len, b)


def _resize_hwb_cpu(x: np.ndarray, out_hw: tuple[int, int], scales: tuple[float, float], *,
                    quantize: bool) -> np.ndarray:
    """Resize ``x`` (H, W, B) in MATLAB's pass order on the CPU -> (H', W', B)."""
    if scales[0] <= scales[1]:  # smaller scale first, rows on ties: no copy at all
        x = _pass_transposed_cpu(x, out_hw[0], scales[0], quantize=quantize)  # (W, H', B)
        return _pass_transposed_cpu(x, out_hw[1], scales[1], quantize=quantize)
    # (W, H, B): its rows are not contiguous, so the pass makes the one copy it needs.
    x = _pass_transposed_cpu(x.transpose(1, 0, 2), out_hw[1], scales[1], quantize=quantize)
    return _pass_transposed_cpu(x, out_hw[0], scales[0], quantize=quantize).transpose(1, 0, 2)


def _output_geometry(in_hw: tuple[int, int], scale: float | None,
                     output_shape: tuple[int, int] | None) -> tuple[tuple[int, int], tuple[float, float]]:
    """Output (H, W) and per-dimension scale, as MATLAB's scale or [numrows numcols] forms."""
    if output_shape is not None:
        if (len(output_shape) != 2 or any(int(s) != s or s < 1 for s in output_shape)):
            raise ValueError(f"output_shape must be two positive ints (H, W), got {output_shape!r}")
        out_hw = (int(output_shape[0]), int(output_shape[1]))
        return out_hw, (out_hw[0] / in_hw[0], out_hw[1] / in_hw[1])
    if scale is None or not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    return (math.ceil(in_hw[0] * scale), math.ceil(in_hw[1] * scale)), (scale, scale)


def imresize(image: np.ndarray | torch.Tensor, scale: float | None, *,
             output_shape: tuple[int, int] | None = None) -> np.ndarray | torch.Tensor:
    """Bicubic resize, bit-exact to MATLAB ``imresize(image, scale, 'bicubic')`` on uint8.

    Parameters
    ----------
    image : np.ndarray or torch.Tensor
        numpy: HxW or HxWxC; torch: CxHxW or NxCxHxW on any device. dtype uint8 in [0, 255]
        or floating point (any range; not clipped).
    scale : float or None
        Resize factor, e.g. 0.25 for 4x downscaling or 4 for upscaling. The output is
        ceil(in * scale) per dimension. May be None when ``output_shape`` is given.
    output_shape : (int, int), optional
        Output (H, W). As MATLAB ``imresize(A, [M N])``, the per-dimension scale is then
        out / in and ``scale`` is not used.

    Returns
    -------
    np.ndarray or torch.Tensor
        Same type, dtype, layout and device as ``image``. uint8 inputs are computed in
        float64 and rounded half away from zero and clipped to uint8 after each pass, as
        MATLAB. Float inputs are not rounded. On the CPU every input is computed in float64;
        on other devices float64 and uint8 tensors are, other float tensors in float32.
        Tensors that require grad take the (differentiable) torch path on any device.
    """
    is_numpy = isinstance(image, np.ndarray)
    if not is_numpy and not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a numpy array or torch tensor, got {type(image).__name__}")
    ok_dtype = (image.dtype == np.uint8 or np.issubdtype(image.dtype, np.floating) if is_numpy
                else image.dtype == torch.uint8 or image.dtype.is_floating_point)
    if not ok_dtype:
        raise ValueError(f"image dtype must be uint8 or floating point, got {image.dtype}")
    allowed_ndim = (2, 3) if is_numpy else (3, 4)
    if image.ndim not in allowed_ndim:
        layouts = "HxW or HxWxC" if is_numpy else "CxHxW or NxCxHxW"
        raise ValueError(f"image must be {layouts}, got shape {tuple(image.shape)}")
    in_hw = tuple(image.shape[:2]) if is_numpy else tuple(image.shape[-2:])
    if min(in_hw) < 1:
        raise ValueError(f"image must have non-empty H and W, got shape {tuple(image.shape)}")
    out_hw, scales = _output_geometry(in_hw, scale, output_shape)
    quantize = image.dtype == (np.uint8 if is_numpy else torch.uint8)

    if is_numpy:
        hwb = image[..., None] if image.ndim == 2 else image
        if hwb.dtype not in (np.uint8, np.float32, np.float64):
            hwb = hwb.astype(np.float64)  # float16 etc.: the loop is compiled for these three
        y = _resize_hwb_cpu(hwb, out_hw, scales, quantize=quantize)
        return np.ascontiguousarray(y[..., 0] if image.ndim == 2 else y, dtype=image.dtype)

    x = image
    x4 = x[None] if x.ndim == 3 else x
    if x.device.type == "cpu" and not x.requires_grad:  # (N, C, H, W) -> (H, W, N*C)
        n, c = x4.shape[:2]
        hwb = x4.permute(2, 3, 0, 1).reshape(*in_hw, n * c)
        if hwb.dtype not in (torch.uint8, torch.float32, torch.float64):
            hwb = hwb.float()
        y = _resize_hwb_cpu(hwb.numpy(), out_hw, scales, quantize=quantize)
        y = torch.from_numpy(np.ascontiguousarray(y)).view(*out_hw, n, c).permute(2, 3, 0, 1)
    else:
        work = torch.float64 if quantize or x.dtype == torch.float64 else torch.float32
        y = _resize_nchw(x4.to(work), out_hw, scales, quantize=quantize)
    y = y.to(x.dtype).contiguous()
    return y[0] if x.ndim == 3 else y


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Top-left crop so that H and W are multiples of ``scale`` (``image[:H - H % s, :W - W % s]``).

    ``image`` is HxW or HxWxC of any dtype; returns a view of it.
    """
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be HxW or HxWxC, got shape {image.shape}")
    h, w = image.shape[:2]
    if h < scale or w < scale:
        raise ValueError(f"image {h}x{w} is smaller than scale {scale}")
    return image[: h - h % scale, : w - w % scale]
