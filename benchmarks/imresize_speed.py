"""Speed of srgan.imresize against a plain numpy MATLAB-bicubic, on the same images, same run.

The reference is written here, independently, the way BasicSR's numpy ``imresize`` works: MATLAB's
``contributions`` weights, then one Python loop iteration per output row / column with a weighted
sum over the taps (float64, uint8 rounding after each pass so that the outputs are equal). Both
downscale every image by 1/4; the outputs are checked pixel-equal before timing counts.

    python benchmarks/imresize_speed.py [--images DIR] [--repeat 3] [--threads 2]

Prints a Markdown table; the last line is ``ratio: N.NN`` (how many times faster srgan is).
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


def reference_imresize(image: np.ndarray, scale: float) -> np.ndarray:
    """uint8 HxWx3 -> uint8, vertical pass first, a Python loop over output rows and columns."""
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
        assert np.array_equal(imresize(image, 0.25), reference_imresize(image, 0.25)), "outputs differ"
    pixels = sum(im.shape[0] * im.shape[1] for im in images)
    ours = best_time(lambda: [imresize(im, 0.25) for im in images], args.repeat)
    ref = best_time(lambda: [reference_imresize(im, 0.25) for im in images], args.repeat)
    print(f"imresize x1/4, {len(images)} images from {source}, {pixels / 1e6:.2f} MPixel, "
          f"{args.threads} threads, best of {args.repeat}; outputs pixel-equal\n")
    print("| implementation | seconds | MPixel/s |")
    print("|---|---|---|")
    print(f"| numpy reference (loop per output row/column) | {ref:.3f} | {pixels / 1e6 / ref:.1f} |")
    print(f"| srgan.imresize (torch, batched taps) | {ours:.3f} | {pixels / 1e6 / ours:.1f} |")
    print(f"\nratio: {ref / ours:.2f}")


if __name__ == "__main__":
    main()
