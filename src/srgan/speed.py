"""Faster forms of the training computation that compute the same function.

Profiled on the CPU (``benchmarks/profile_step.py``), the eager SRResNet step spent about a third
of its time outside the residual body's convolutions, mostly in three places that this module
replaces with exact equivalents; ``tests/test_speed.py`` shows that 20 training steps of either
form end with the same loss and weights to within 1e-4 (float rounding only):

- **PReLU's backward.** PyTorch's ``_prelu_kernel_backward`` is a slow generic kernel on
  channels-last tensors: 77 ms in the step for the 16x256x48x48 tensor before the last
  PixelShuffle, where an elementwise pass over it takes about 7. :func:`prelu` computes the same
  gradients from two vectorised kernels, ``threshold_backward`` and ``lerp``, and one channel sum.
- **The 9x9 tail behind the last PixelShuffle.** A convolution with 3 output channels leaves the
  GEMM inside oneDNN 3 columns wide (64 GFLOP/s where the body's 64->64 convs reach about 300),
  and the PixelShuffle before it copies the step's largest tensor both ways. A stride-1
  convolution of an r-times upsampled image equals a convolution of the coarse image itself with
  r^2 times as many outputs, followed by a PixelShuffle of that small output
  (:func:`conv_after_upsample`): 12 outputs at 48x48 for the paper's tail, 2.3 times faster
  forward and backward, and no big shuffle.
- **The generator's layout.** oneDNN's fastest kernels differ by instruction set: channels_last
  where the CPU has AVX-512, NCHW where it has only AVX2 (:func:`generator_memory_format`).
- **Adam.** torch's default Adam on the CPU updates each of the generator's 159 tensors with about
  ten separate ops (4.9 ms a step, on a 2-core Xeon); its fused kernel does the same update in one
  pass per tensor (1.6 ms): :func:`adam`.
- **Page faults.** glibc hands blocks over 32 MiB back to the kernel when they are freed, so every
  step page-faulted its largest activations afresh (an elementwise op writing 38 MB took 9 ms
  instead of 2); :func:`keep_freed_memory` keeps them.

:func:`training_forward` puts the first two together for :class:`srgan.models.SRResNet`; the
module, its parameters and its state dict are unchanged, and evaluation uses the module itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from srgan.models import ResidualBlock, SRResNet, SubPixelUpsample

__all__ = ["prelu", "upsampled_conv_weight", "conv_after_upsample", "training_forward",
           "generator_memory_format", "adam", "keep_freed_memory"]


class _PReLU(torch.autograd.Function):
    """F.prelu with a backward of vectorised kernels (the values are PReLU's own)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return F.prelu(x, weight)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, weight = ctx.saved_tensors
        slope = weight.to(grad.dtype).view(1, -1, *([1] * (x.dim() - 2)))
        positive = torch.ops.aten.threshold_backward(grad, x, 0)  # grad where x > 0, else 0
        grad_x = torch.lerp(positive, grad, slope)  # x > 0: grad exactly; else slope * grad
        dims = [d for d in range(x.dim()) if d != 1]
        grad_weight = ((grad - positive) * x).sum(dims)  # sum of grad * x where x <= 0
        if weight.numel() == 1:
            grad_weight = grad_weight.sum().view(1)
        return grad_x, grad_weight.to(weight.dtype)


def prelu(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``F.prelu(x, weight)``; ``weight`` has one slope per channel of ``x`` (dim 1), or one."""
    return _PReLU.apply(x, weight)


UPSAMPLE_MODES = ("pixelshuffle", "nearest")


def _coarse_reach(k: int, r: int) -> int:
    """Coarse taps on each side of the centre that a k x k kernel behind an r-times upsampling
    reaches: t = ceil((k // 2) / r), so the coarse kernel is (2t + 1) x (2t + 1)."""
    return math.ceil((k // 2) / r)


@functools.lru_cache(maxsize=16)
def _tap_map(k: int, r: int, mode: str) -> torch.Tensor:
    """The 0/1 (counts, for ``nearest``) matrix taking a k x k kernel's taps to the coarse
    kernel's: (k k, r^2 r^2 taps^2) for ``pixelshuffle``, (k k, r^2 taps^2) for ``nearest``."""
    pad = k // 2
    t = _coarse_reach(k, r)
    taps = 2 * t + 1
    phase, u = torch.arange(r), torch.arange(taps)
    fine = r * (u.view(1, 1, taps) - t) + phase.view(1, r, 1) - phase.view(r, 1, 1) + pad  # (p, q, u)
    rows = fine.view(r, 1, r, 1, taps, 1).expand(r, r, r, r, taps, taps)  # (py, px, qy, qx, u, v)
    cols = fine.view(1, r, 1, r, 1, taps).expand(r, r, r, r, taps, taps)
    valid = (rows >= 0) & (rows < k) & (cols >= 0) & (cols < k)
    out_index = torch.arange(rows.numel()).view(rows.shape)
    if mode == "nearest":  # the input phases (qy, qx) read the same coarse pixel: their taps add up
        out_index = (torch.arange(r * r).view(r, r, 1, 1, 1, 1) * taps * taps
                     + torch.arange(taps * taps).view(1, 1, 1, 1, taps, taps)).expand(rows.shape)
    tap_map = torch.zeros(k * k, int(out_index.max()) + 1, dtype=torch.float64)
    tap_map.index_put_((rows[valid] * k + cols[valid], out_index[valid]),
                       torch.ones(int(valid.sum()), dtype=torch.float64), accumulate=True)
    return tap_map


def upsampled_conv_weight(weight: torch.Tensor, r: int, mode: str,
                          tap_map: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """The kernel and padding that give, on the coarse grid, a 'same' stride-1 convolution
    (odd k x k, padding k // 2) applied after an r-times upsampling.

    Output phase (py, px) of output channel o becomes coarse output channel o r^2 + py r + px (the
    order PixelShuffle(r) reads). The fine tap i of output phase p reads input phase q at coarse
    offset u - t, with i = r (u - t) + q - p + k // 2, so each dimension needs 2t + 1 coarse taps,
    t = ceil((k // 2) / r); taps outside the original kernel are zero. For ``pixelshuffle`` input
    channel c r^2 + qy r + qx holds the phases of channel c; for ``nearest`` every phase is the
    same coarse pixel, so the phases' taps are summed. A matrix product with a constant tap map,
    so that its gradient is a matrix product too: deterministic, unlike an indexed gather's
    (whose backward adds duplicates with atomics, in whatever order the threads run). ``tap_map``
    is that map already on ``weight``'s device and dtype (:func:`training_forward` makes it once,
    so that no step copies it to the GPU, which would also keep CUDA graphs from capturing it).
    """
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"mode must be one of {UPSAMPLE_MODES}, got {mode!r}")
    out_ch, in_ch, k, k2 = weight.shape
    if k != k2 or k % 2 == 0:
        raise ValueError(f"needs an odd square kernel, got {k}x{k2}")
    t = _coarse_reach(k, r)
    taps = 2 * t + 1
    if tap_map is None:
        tap_map = _tap_map(k, r, mode).to(weight.device, weight.dtype)
    kernel = weight.reshape(out_ch * in_ch, k * k) @ tap_map
    if mode == "nearest":
        kernel = kernel.view(out_ch, in_ch, r, r, taps, taps).permute(0, 2, 3, 1, 4, 5)
        return kernel.reshape(out_ch * r * r, in_ch, taps, taps), t
    kernel = kernel.view(out_ch, in_ch, r, r, r, r, taps, taps).permute(0, 2, 3, 1, 4, 5, 6, 7)
    return kernel.reshape(out_ch * r * r, in_ch * r * r, taps, taps), t


def conv_after_upsample(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, r: int,
                        mode: str, tap_map: torch.Tensor | None = None) -> torch.Tensor:
    """``F.conv2d(up(x), weight, bias, padding=k // 2)`` for ``up`` = PixelShuffle(r)
    (``mode="pixelshuffle"``, x has r^2 C channels) or nearest Upsample(r) (``"nearest"``), computed
    on x's grid: (B, *, h, w) -> (B, O, r h, r w)."""
    kernel, padding = upsampled_conv_weight(weight, r, mode, tap_map)
    coarse_bias = None if bias is None else bias.repeat_interleave(r * r)
    return F.pixel_shuffle(F.conv2d(x, kernel, coarse_bias, padding=padding), r)


def _residual_block(block: ResidualBlock, x: torch.Tensor) -> torch.Tensor:
    conv1, bn1, act, conv2, bn2 = block.body
    return x + bn2(conv2(prelu(bn1(conv1(x)), act.weight)))


def _upsample(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    conv, up, act = block
    if isinstance(block, SubPixelUpsample):
        return prelu(up(conv(x)), act.weight)
    return up(prelu(conv(x), act.weight))  # nearest copies pixels: PReLU first, on a quarter of them


def _tail_upsampling(block: nn.Module) -> tuple[int, str]:
    """The factor and kind of the upsampling that the tail convolution follows."""
    if isinstance(block, SubPixelUpsample):
        return block[1].upscale_factor, "pixelshuffle"
    return int(block[1].scale_factor), "nearest"


def _last_upsample_and_tail(block: nn.Module, tail: nn.Conv2d, x: torch.Tensor, r: int, mode: str,
                            tap_map: torch.Tensor) -> torch.Tensor:
    conv, _, act = block
    slope = act.weight
    if mode == "pixelshuffle":  # PReLU(C) after the shuffle = PReLU with each slope r^2 times before it
        slope = slope.repeat_interleave(r * r)
    return conv_after_upsample(prelu(conv(x), slope), tail.weight, tail.bias, r, mode, tap_map)


def generator_memory_format(device: torch.device) -> torch.memory_format:
    """The layout the generator trains in: channels_last on accelerators and on CPUs with AVX-512,
    NCHW (torch's default) on other CPUs.

    oneDNN's convolution kernels differ by instruction set, and so does the faster layout. fp32,
    batch 16, measured with ``benchmarks/train_throughput.py``: on a 2-core AVX-512/AMX Xeon the
    body convolution ran at 315 GFLOP/s in channels_last against 265 in NCHW; on a 2-core AVX2
    EPYC the whole SRResNet step took 1526 ms in NCHW against 1603 in channels_last, most of the
    difference in the 64->256 convolution at 48x48 (313 against 361 ms). The layout changes the
    order of floating-point sums, never the function. D and VGG stay channels_last: on the EPYC
    the SRGAN step with every network in NCHW measured no faster (7744 against 7449 ms).
    """
    if device.type == "cpu" and torch.backends.cpu.get_cpu_capability() != "AVX512":
        return torch.contiguous_format
    return torch.channels_last


def _memory_format_of(conv: nn.Conv2d) -> torch.memory_format:
    channels_last = conv.weight.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if channels_last and not conv.weight.is_contiguous() else torch.contiguous_format


def training_forward(generator: SRResNet) -> Callable[[torch.Tensor], torch.Tensor]:
    """``generator``'s forward pass as the training steps run it: the same function of the same
    parameters and batch-norm statistics, with :func:`prelu` and the tail on the coarse grid.
    Made after the generator is on its device, in its dtype and in its layout (the tail's tap map
    is made here). The batch is put in the generator's layout first: a convolution runs
    channels_last when its input is, whatever its weights' layout, so a channels_last batch
    would otherwise run an NCHW generator in channels_last throughout."""
    if not isinstance(generator, SRResNet):
        raise TypeError(f"training_forward needs an SRResNet, got {type(generator).__name__}")
    head_conv, head_act = generator.head
    *blocks, trunk_conv, trunk_bn = generator.trunk
    *upsamples, last = generator.upsample
    r, mode = _tail_upsampling(last)
    tail = generator.tail
    tap_map = _tap_map(tail.kernel_size[0], r, mode).to(tail.weight.device, tail.weight.dtype)
    memory_format = _memory_format_of(head_conv)

    def forward(lr: torch.Tensor) -> torch.Tensor:
        lr = lr.contiguous(memory_format=memory_format)
        head = prelu(head_conv(lr), head_act.weight)  # (B, C, h, w)
        x = head
        for block in blocks:
            x = _residual_block(block, x)
        x = head + trunk_bn(trunk_conv(x))  # long skip
        for block in upsamples:
            x = _upsample(block, x)
        return torch.tanh(_last_upsample_and_tail(last, tail, x, r, mode, tap_map))

    return forward


FUSED_ADAM_DEVICES = ("cpu", "cuda")


def adam(parameters: Iterable[nn.Parameter], *, lr: float, device: torch.device) -> torch.optim.Adam:
    """The paper's Adam (betas 0.9, 0.999), with torch's fused kernel where ``device`` has one.

    The fused kernel computes the same update as the default per-op loop (20 float64 steps agree
    to 1e-14) in one pass per tensor instead of about ten kernel launches: on the CPU the step's
    update falls from 4.9 to 1.6 ms, and on the GPU, where the paper's batch of 16 leaves the step
    launch-bound, it removes most of the update's launches. A checkpoint's optimizer state is the
    same either way, so resuming works across the two.
    """
    fused = True if device.type in FUSED_ADAM_DEVICES else None
    return torch.optim.Adam(parameters, lr=lr, betas=(0.9, 0.999), fused=fused)


M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc <malloc.h>
DEFAULT_MMAP_MAX, DEFAULT_TRIM_THRESHOLD = 65536, 128 * 1024


def keep_freed_memory(keep: bool = True) -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the kernel.

    glibc serves blocks above its mmap threshold (at most 32 MiB) with fresh mmaps and unmaps
    them on free, and trims the heap's top, so a training step that frees and reallocates the
    same activations every iteration pays a page fault per 4 KiB of each: an elementwise op that
    writes 38 MB took 9 ms instead of 2. With ``keep`` the process holds its peak memory (the
    step's working set) for its lifetime. ``keep=False`` restores glibc's defaults. Returns False where
    the C library has no ``mallopt`` (macOS, musl), which changes nothing.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mmap_max, trim = (0, 2**31 - 1) if keep else (DEFAULT_MMAP_MAX, DEFAULT_TRIM_THRESHOLD)
    return bool(mallopt(M_MMAP_MAX, mmap_max)) and bool(mallopt(M_TRIM_THRESHOLD, trim))
