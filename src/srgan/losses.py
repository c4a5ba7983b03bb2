"""SRGAN losses: pixel MSE, VGG content loss, and the adversarial losses.

Reference: Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", arXiv:1609.04802v5, Sec. 2.2: the perceptual loss
l_SR = l_X (content) + 1e-3 * l_Gen (adversarial), Eqs. (3)-(6).

Ranges: SR (generator output, tanh) and HR tensors are (B, 3, H, W) in [-1, 1]; the paper's MSE
is computed in that range. The VGG loss maps them to [0, 1] before ``VGGFeatures``, which
ImageNet-normalizes internally, and rescales the features by 1/12.75 (paper, Sec. 3.2).
D returns logits, so the adversarial losses are BCE-with-logits (the paper's sigmoid folded in).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from srgan.models import VGGFeatures

__all__ = [
    "ADVERSARIAL_WEIGHT",
    "ContentLoss",
    "pixel_mse",
    "generator_adversarial_loss",
    "discriminator_loss",
]

ADVERSARIAL_WEIGHT = 1e-3  # weight of l_Gen in l_SR; Ledig et al. 2017 Eq. (3)

CONTENT_KINDS = ("mse", "vgg")


def _check_same_shape(sr: torch.Tensor, hr: torch.Tensor) -> None:
    if sr.shape != hr.shape:
        raise ValueError(
            f"sr and hr must have the same shape, got {tuple(sr.shape)} and {tuple(hr.shape)}"
        )


def pixel_mse(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all pixels, Eq. (4). sr, hr: (B, 3, H, W) in [-1, 1]."""
    _check_same_shape(sr, hr)
    return F.mse_loss(sr, hr)


class ContentLoss(nn.Module):
    """Content loss l_X: pixel MSE (``kind="mse"``, Eq. 4) or VGG loss (``kind="vgg"``, Eq. 5).

    VGG loss: MSE between ``vgg((sr + 1) / 2) * feature_scale`` and the same for hr, where
    ``vgg`` is a frozen ``VGGFeatures`` (phi_5,4 for SRGAN-VGG54, phi_2,2 for SRGAN-VGG22) and
    ``feature_scale`` = 1/12.75 is the paper's rescaling. The HR branch runs under
    ``torch.no_grad()``: it needs no gradient. ``vgg`` is required for "vgg" and ignored (not
    registered) for "mse".

    forward(sr, hr): (B, 3, H, W) in [-1, 1] -> scalar.
    """

    def __init__(
        self,
        *,
        kind: str,
        vgg: VGGFeatures | None = None,
        feature_scale: float = 1 / 12.75,
    ) -> None:
        super().__init__()
        if kind not in CONTENT_KINDS:
            raise ValueError(f"kind must be one of {CONTENT_KINDS}, got {kind!r}")
        if kind == "vgg" and vgg is None:
            raise ValueError("kind='vgg' needs a VGGFeatures network, got vgg=None")
        self.kind = kind
        self.vgg = vgg if kind == "vgg" else None
        self.feature_scale = feature_scale

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if self.kind == "mse":
            return pixel_mse(sr, hr)
        _check_same_shape(sr, hr)
        sr_feat = self.vgg((sr + 1) / 2) * self.feature_scale  # (B, C_ij, H_ij, W_ij)
        with torch.no_grad():
            hr_feat = self.vgg((hr + 1) / 2) * self.feature_scale  # (B, C_ij, H_ij, W_ij)
        return F.mse_loss(sr_feat, hr_feat)


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """l_Gen = -log D(G(LR)), Eq. (6), as BCE-with-logits against 1.

    fake_logits: D's logits (B, 1) on SR images. The paper writes a sum over the N training
    images; we average over the batch. The 1e-3 weight (``ADVERSARIAL_WEIGHT``) is applied by
    the caller.
    """
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's loss -log D(HR) - log(1 - D(G(LR))), Eq. (2), each term averaged over the batch.

    real_logits, fake_logits: D's logits (B, 1) on HR and on (detached) SR images.
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


@torch.no_grad()
def calibrated_feature_scale(vgg: VGGFeatures, sr: torch.Tensor, hr: torch.Tensor) -> float:
    """The VGG feature rescaling that makes the VGG loss equal the pixel MSE on one batch.

    The paper chose 1/12.75 "to obtain VGG losses of a scale that is comparable to the MSE loss"
    (sec. 2.2.1), for ImageNet weights. Random VGG19 weights (the offline fallback) give features
    orders of magnitude smaller, so 1/12.75 would leave the adversarial term alone in charge and
    wreck the generator; this applies the paper's own criterion to those weights instead.
    sr, hr: (B, 3, H, W) in [-1, 1].
    """
    raw = F.mse_loss(vgg((sr + 1) / 2), vgg((hr + 1) / 2)).item()
    mse = pixel_mse(sr, hr).item()
    if raw <= 0 or mse <= 0:
        return 1 / 12.75
    return math.sqrt(mse / raw)
