"""Speed of srgan.imresize against a plain numpy MATLAB-bicubic, on the same images, same run.

Two numpy references are written here, independently of srgan: MATLAB's ``contributions``
weights, then BasicSR's loop (one weighted sum per output row / column and per channel; the
``ratio`` line), and a stronger variant vectorised over channels and width (shown beside it).
Both are float64 with the uint8 rounding after each pass, so that all outputs are equal; every
image is downscaled by 1/4, and the outputs are checked pixel-equal before timing counts.

    python benchmarks/imresize_speed.py [--images DIR] [--repeat 3] [--threads 2]

Prints a Markdown table; the last line is ``ratio: N.NN``, how many times faster srgan is than
BasicSR's loop.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from srgan.imresize import imresize, modcrop
from srgan.io import list_images, load_rgb

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "Set14" / "HR"


def reference_weights(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    kernel_width = 4.0
    if scale < 1:
        kernel_width /= scale
    x = np.arange(1, out_len + 1)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    p = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(p)
    distance = u[:, None] - indices
    if scale < 1:
        distance = distance * scale
    absx = np.abs(distance)
    weights = ((1.5 * absx**3 - 2.5 * absx**2 + 1) * (absx <= 1)
               + (-0.5 * absx**3 + 2.5 * absx**2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2)))
    if scale < 1:
        weights = weights * scale
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    indices = mirror[(indices.astype(int) - 1) % (2 * in_len)]
    return indices, weights


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x) + (x - np.floor(x) >= 0.5), 0, 255)


def basicsr_style_imresize(image: np.ndarray, scale: float) -> np.ndarray:
    """uint8 HxWx3 -> uint8 as BasicSR's ``imresize`` loops (basicsr/utils/matlab_functions.py):
    one weights-times-slab dot per output row and per channel, vertical pass first; here with
    the uint8 rounding after each pass that MATLAB does, so that outputs can be compared."""
    h, w, c = image.shape
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    x = image.astype(np.float64)
    idx, wts = reference_weights(h, out_h, scale)
    rows = np.empty((out_h, w, c))
    for i in range(out_h):
        for j in range(c):
            rows[i, :, j] = x[idx[i], :, j].T @ wts[i]
    rows = to_uint8(rows)
    idx, wts = reference_weights(w, out_w, scale)
    out = np.empty((out_h, out_w, c))
    for i in range(out_w):
        for j in range(c):
            out[:, i, j] = rows[:, idx[i], j] @ wts[i]
    return to_uint8(out).astype(np.uint8)


def reference_imresize(image: np.ndarray, scale: float) -> np.ndarray:
    """uint8 HxWx3 -> uint8, vertical pass first, one vectorised dot per output row / column
    (all channels at once): a stronger numpy baseline than BasicSR's loop."""
    h, w, _ = image.shape
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    x = image.astype(np.float64)
    idx, wts = reference_weights(h, out_h, scale)
    rows = np.empty((out_h, w, 3))
    for i in range(out_h):
        rows[i] = np.tensordot(wts[i], x[idx[i]], axes=1)
    rows = to_uint8(rows)
    idx, wts = reference_weights(w, out_w, scale)
    out = np.empty((out_h, out_w, 3))
    for j in range(out_w):
        out[:, j] = np.tensordot(rows[:, idx[j]], wts[j], axes=([1], [0]))
    return to_uint8(out).astype(np.uint8)


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.images.is_dir():
        images = [modcrop(load_rgb(p), 4) for p in list_images(args.images)]
        source = str(args.images)
    else:
        import skimage.data
        images = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
        source = "skimage.data (astronaut, coffee, chelsea)"
    for image in images:
        ours_out = imresize(image, 0.25)
        assert np.array_equal(ours_out, reference_imresize(image, 0.25)), "outputs differ"
        assert np.array_equal(ours_out, basicsr_style_imresize(image, 0.25)), "outputs differ"
    pixels = sum(im.shape[0] * im.shape[1] for im in images)
    ours = best_time(lambda: [imresize(im, 0.25) for im in images], args.repeat)
    vectorised = best_time(lambda: [reference_imresize(im, 0.25) for im in images], args.repeat)
    plain = best_time(lambda: [basicsr_style_imresize(im, 0.25) for im in images], args.repeat)
    print(f"imresize x1/4, {len(images)} images from {source}, {pixels / 1e6:.2f} MPixel, "
          f"{args.threads} threads, best of {args.repeat}; all outputs pixel-equal\n")
    print("| implementation | seconds | MPixel/s | srgan is faster by |")
    print("|---|---|---|---|")
    print(f"| numpy, BasicSR's loop (per output row/column and channel) | {plain:.3f} | "
          f"{pixels / 1e6 / plain:.1f} | {plain / ours:.2f}x |")
    print(f"| numpy, vectorised over channels and width (per output row/column) | {vectorised:.3f} | "
          f"{pixels / 1e6 / vectorised:.1f} | {vectorised / ours:.2f}x |")
    print(f"| srgan.imresize (torch, batched taps) | {ours:.3f} | {pixels / 1e6 / ours:.1f} | 1.00x |")
    print(f"\nratio: {plain / ours:.2f}")


if __name__ == "__main__":
    main()
