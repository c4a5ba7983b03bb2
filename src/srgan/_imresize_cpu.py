"""Compiled CPU loop of :mod:`srgan.imresize`: one separable pass, float64, in MATLAB's order.

Composed torch ops could not make a pass fast on the CPU: each op is one more trip through
memory. The best composition measured 5.4x BasicSR's numpy loop on 2 cores (MKL's sparse
product in float32, near-ties recomputed in float64), and sketches without that fix-up 9x.
One loop per output row keeps the row in L1, reads the input in place (a mod-cropped view is
not copied) and writes the output transposed, so that the next pass reads rows again and no
transposing copy is ever made. It sums tap by tap, multiplying then adding in float64 (numba does not fuse them
into an FMA without ``fastmath``): MATLAB's ``imresizemex`` arithmetic, and the same bits as
the torch path on other devices. Imported lazily: importing numba takes about half a second.

Threads are plain Python threads over a GIL-free loop, not numba's ``prange``: numba's OpenMP
layer aborts a process that forks after using it (a DataLoader worker, say), and its fallback
layer aborts on concurrent calls. The pool is forgotten in a forked child.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

_pool: ThreadPoolExecutor | None = None


@numba.njit(cache=True, inline="always")
def _round_half_away_clip(value: float) -> float:
    """Round half away from zero, then clip to [0, 255] (MATLAB's cast to uint8)."""
    floor = np.floor(value)
    if value - floor >= 0.5:
        floor += 1.0
    return min(max(floor, 0.0), 255.0)


@numba.njit(cache=True)
def _weighted_row(x: np.ndarray, taps: np.ndarray, weights: np.ndarray,
                  acc: np.ndarray) -> None:
    """acc = sum_k weights[k] * x[taps[k]], accumulated in tap order.

    A function of its own so that LLVM vectorises the inner loops (written inline in a
    parallel loop's body they ran at half the speed).
    """
    source, weight = x[taps[0]], weights[0]
    for j in range(acc.size):
        acc[j] = source[j] * weight
    for k in range(1, taps.size):
        source, weight = x[taps[k]], weights[k]
        for j in range(acc.size):
            acc[j] = acc[j] + source[j] * weight


@numba.njit(cache=True)
def _store_transposed(acc: np.ndarray, o: int, channels: int, quantize: bool,
                      out: np.ndarray) -> None:
    """out[j, o * channels + c] = acc[j * channels + c], rounded to uint8 if ``quantize``."""
    if quantize:
        for j in range(acc.size):  # a loop of its own: it vectorises, the scatter does not
            acc[j] = _round_half_away_clip(acc[j])
    for j in range(out.shape[0]):
        for c in range(channels):
            out[j, o * channels + c] = acc[j * channels + c]


@numba.njit(nogil=True, cache=True)
def _resize_rows_transposed(x: np.ndarray, taps: np.ndarray, weights: np.ndarray, first: int,
                            channels: int, quantize: bool, out: np.ndarray) -> None:
    """Output rows ``first`` .. ``first + len(taps) - 1`` of :func:`resize_rows_transposed`."""
    acc = np.empty(x.shape[1])
    for i in range(taps.shape[0]):
        _weighted_row(x, taps[i], weights[i], acc)
        _store_transposed(acc, first + i, channels, quantize, out)


def _forget_pool() -> None:
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


def resize_rows_transposed(x: np.ndarray, taps: np.ndarray, weights: np.ndarray, *,
                           channels: int, quantize: bool, out: np.ndarray, threads: int) -> None:
    """One pass along axis 0 of ``x`` (L, K * channels), written as ``out`` (K, n * channels).

    out[j, o * channels + c] = sum_k weights[o, k] * x[taps[o, k], j * channels + c]; rows of
    ``x`` must be contiguous, its row stride may be anything. Output rows o are split into
    ``threads`` blocks, one per thread (this one included).
    """
    global _pool
    n = taps.shape[0]
    threads = max(1, min(threads, n // 8))  # a block of under 8 rows is not worth a thread
    bounds = [n * i // threads for i in range(threads + 1)]
    futures = []
    if threads > 1:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                       thread_name_prefix="srgan-imresize")
        futures = [_pool.submit(_resize_rows_transposed, x, taps[a:b], weights[a:b], a,
                                channels, quantize, out)
                   for a, b in zip(bounds[1:-1], bounds[2:])]
    _resize_rows_transposed(x, taps[:bounds[1]], weights[:bounds[1]], 0, channels, quantize,
                            out)
    for future in futures:
        future.result()
