"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric"): AlexNet backbone, linear layers of version 0.1, lower is better.

SRGAN trades PSNR for perceptual quality; PSNR and SSIM alone show it as simply worse than
SRResNet. LPIPS is what the field reports beside them for GAN-based super-resolution.

The implementation is torchmetrics' ``LearnedPerceptualImagePatchSimilarity``: maintained, it
works with our torch/torchvision pins, ships the v0.1 linear layers inside the package, and takes
its AlexNet backbone through torchvision's weights API, exactly as our VGG19 does (the ``lpips``
package is the reference code but unmaintained since 2021; pyiqa downloads its weights from GitHub
releases, outside the torchvision cache). Without the AlexNet ImageNet weights (offline, nothing
cached) LPIPS cannot be computed: the default config reports "n/a" with the reason, and every
other config is stopped at plan time (``srgan.config``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet_Weights.IMAGENET1K_V1
ALEXNET_URL = f"https://download.pytorch.org/models/{ALEXNET_FILE}"
DOWNLOAD_TIMEOUT_S = 20.0  # so that an offline run learns quickly that it cannot download


@contextlib.contextmanager
def _hub_with(weights_path: str | None) -> Iterator[None]:
    """torchvision reads weights from ``<hub dir>/checkpoints/<file>``: for a file given by the
    config, point the hub at a temporary folder that links to it (for this call only)."""
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    previous_hub = torch.hub.get_dir()
    try:
        if weights_path is None:
            yield
            return
        if not Path(weights_path).is_file():
            raise FileNotFoundError(f"lpips.weights_path {weights_path} does not exist")
        with tempfile.TemporaryDirectory(prefix="srgan-hub-") as hub:
            (Path(hub) / "checkpoints").mkdir()
            os.symlink(Path(weights_path).resolve(), Path(hub) / "checkpoints" / ALEXNET_FILE)
            torch.hub.set_dir(hub)
            yield
    finally:
        torch.hub.set_dir(previous_hub)
        socket.setdefaulttimeout(previous_timeout)


def load_lpips(*, weights_path: str | None, allow_unavailable: bool) -> tuple[torch.nn.Module | None, str]:
    """(the LPIPS module, where its backbone came from) or, when the AlexNet ImageNet weights
    cannot be had and ``allow_unavailable`` is set, (None, the reason), with a loud warning.
    Without ``allow_unavailable`` that is a RuntimeError saying how to supply the file."""
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    try:
        with _hub_with(weights_path):
            metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)
    except Exception as error:  # offline, a missing or wrong file, a hash mismatch
        reason = f"AlexNet ImageNet weights unavailable ({type(error).__name__}: {error})"
        how = (f"download {ALEXNET_URL} into {torch.hub.get_dir()}/checkpoints/ (or run `srgan "
               f"fetch-weights`), or set lpips.weights_path to a copy of it")
        if not allow_unavailable:
            raise RuntimeError(f"cannot compute LPIPS: {reason}; {how}") from error
        log.warning("!!! LPIPS is n/a: %s; the tables and figures say so. To compute it, %s !!!",
                    reason, how)
        return None, reason
    source = "imagenet" if weights_path is None else f"file:{weights_path}"
    log.info("LPIPS (AlexNet, v0.1) loaded, backbone from %s", source)
    return metric.eval(), source


def to_lpips_input(image: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 RGB -> (1, 3, H, W) float32 RGB in [0, 1]: the range that torchmetrics'
    LPIPS documents for ``normalize=True`` (it maps [0, 1] to the [-1, 1] of the original)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"LPIPS takes uint8 HxWx3 RGB, got {image.dtype} {image.shape}")
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255


@torch.inference_mode()
def lpips_distance(metric: torch.nn.Module, sr: np.ndarray, hr: np.ndarray, *, border: int = 0) -> float:
    """LPIPS between two uint8 RGB images, ``border`` pixels cropped from each side (the
    standard protocol crops ``scale`` pixels, as for PSNR, and as BasicSR's LPIPS script does)."""
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr must have the same shape, got {sr.shape} and {hr.shape}")
    if border:
        sr, hr = sr[border:-border, border:-border], hr[border:-border, border:-border]
    metric.reset()
    return float(metric(to_lpips_input(sr), to_lpips_input(hr)))


def fetch_weights() -> Path:
    """Download the AlexNet ImageNet weights into torchvision's cache (for machines with network;
    compute nodes without it then find them there). Returns the cached file."""
    from torchvision.models import AlexNet_Weights

    AlexNet_Weights.IMAGENET1K_V1.get_state_dict(progress=True, check_hash=True)
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE
