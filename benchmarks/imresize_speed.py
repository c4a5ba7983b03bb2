"""Speed of srgan.imresize against a plain numpy MATLAB-bicubic, on the same images, same run.

Two numpy references are written here, independently of srgan: MATLAB's ``contributions``
weights, then BasicSR's loop (one weighted sum per output row / column and per channel; the
``ratio`` line), and a stronger variant vectorised over channels and width (shown beside it).
Both are float64 with the uint8 rounding after each pass, so that all outputs are equal; every
image is downscaled by 1/4, and the outputs are checked pixel-equal before timing counts. For
information, the table also times srgan's torch path (the one other devices use) on the CPU.

Timings are interleaved (one round runs every implementation once) and the best round counts,
so that a noisy neighbour on a shared machine slows all of them alike.

    python benchmarks/imresize_speed.py [--images DIR] [--repeat 7] [--threads 2]

Prints a Markdown table; the last line is ``ratio: N.NN``, how many times faster srgan is than
BasicSR's loop.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from srgan.imresize import _output_geometry, _resize_nchw, imresize, modcrop
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


def torch_path(image: np.ndarray, scale: float) -> np.ndarray:
    """srgan's device path (torch, one index_select per tap, float64) run on the CPU."""
    out_hw, scales = _output_geometry(image.shape[:2], scale, None)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].double()
    y = _resize_nchw(x, out_hw, scales, quantize=True)
    return y[0].permute(1, 2, 0).to(torch.uint8).numpy()


def best_times(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each function over ``repeat`` rounds; each round runs them all once."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--repeat", type=int, default=7)
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
        assert np.array_equal(ours_out, torch_path(image, 0.25)), "outputs differ"
    pixels = sum(im.shape[0] * im.shape[1] for im in images)
    best = best_times({
        "ours": lambda: [imresize(im, 0.25) for im in images],
        "torch": lambda: [torch_path(im, 0.25) for im in images],
        "vectorised": lambda: [reference_imresize(im, 0.25) for im in images],
        "plain": lambda: [basicsr_style_imresize(im, 0.25) for im in images],
    }, args.repeat)
    ours, plain = best["ours"], best["plain"]
    print(f"imresize x1/4, {len(images)} images from {source}, {pixels / 1e6:.2f} MPixel, "
          f"{args.threads} threads, best of {args.repeat} interleaved rounds; "
          "all outputs pixel-equal\n")
    print("| implementation | seconds | MPixel/s | srgan is faster by |")
    print("|---|---|---|---|")
    rows = [("numpy, BasicSR's loop (per output row/column and channel)", plain),
            ("numpy, vectorised over channels and width (per output row/column)",
             best["vectorised"]),
            ("srgan's torch path, as on GPUs (one index_select per tap, float64)", best["torch"]),
            ("srgan.imresize on the CPU (compiled loop, numba)", ours)]
    for label, seconds in rows:
        print(f"| {label} | {seconds:.3f} | {pixels / 1e6 / seconds:.1f} | "
              f"{seconds / ours:.2f}x |")
    print(f"\nratio: {plain / ours:.2f}")


if __name__ == "__main__":
    main()
