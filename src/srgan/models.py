"""SRResNet generator, SRGAN discriminator and the frozen VGG19 feature extractor.

References:
1) Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative
   Adversarial Network", CVPR, arXiv:1609.04802v5 -- Fig. 4 (G and D), Sec. 2.2 (VGG loss).
2) Vinh, Lam and Bao, "Enhance image resolution using a GAN" (student report): the Keras
   variant with nearest-neighbour upsampling, ``upsample="nearest"`` below.
3) Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution Using an Efficient
   Sub-Pixel Convolutional Neural Network" -- the PixelShuffle upsampler of the paper's G.
4) torchvision ``models/vgg.py`` -- VGG19 (config "E") and its ImageNet weights.

Parameter counts (``count_parameters``, BN running statistics included, as Keras reports them):
paper G 1,554,883; report G 2,044,291; D at 96x96 23,569,217; VGG19 up to block3_conv4
2,325,568. ``tests/test_models.py`` pins them with the layer-by-layer arithmetic.

Initialisation: PyTorch's defaults throughout (Kaiming-uniform convs and linears, PReLU slope
0.25, BN weight 1 / bias 0); the paper does not state one. BN uses PyTorch's defaults
(momentum 0.1, eps 1e-5), not Keras' (0.99 / 1e-3). The random VGG19 uses torchvision's own
init (Kaiming-normal, fan_out), so it is what ``torchvision.models.vgg19(weights=None)`` gives.
"""

from __future__ import annotations

import logging
import math
import socket
from fractions import Fraction
from pathlib import Path

import torch
import torch.nn as nn
from torchvision.models import VGG19_Weights
from torchvision.models.vgg import cfgs as _VGG_CFGS
from torchvision.models.vgg import make_layers as _vgg_make_layers

__all__ = [
    "SRResNet",
    "receptive_radius",
    "Discriminator",
    "VGGFeatures",
    "VGG19_LAYERS",
    "load_content_network",
    "count_parameters",
]

logger = logging.getLogger(__name__)  # "srgan.models"

VGG19_URL = VGG19_Weights.IMAGENET1K_V1.url  # .../models/vgg19-dcbb9e9d.pth
VGG19_BYTES = 574_673_361
DOWNLOAD_TIMEOUT_S = 20.0  # socket timeout for the VGG19 download, so offline runs fail fast

# -----------------------------------------------------------------------------
# generator


class ResidualBlock(nn.Module):
    """[conv3x3, BN, PReLU, conv3x3, BN] + identity skip; Ledig et al. 2017 Fig. 4."""

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # (B, C, h, w)


class SubPixelUpsample(nn.Sequential):
    """x2, the paper's: conv3x3 in->4C, PixelShuffle(2), PReLU(C). Output has C channels."""

    def __init__(self, *, in_channels: int, channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, 4 * channels, 3, padding=1),  # (B, 4C, h, w)
            nn.PixelShuffle(2),  # (B, C, 2h, 2w)
            nn.PReLU(channels),
        )
        self.out_channels = channels


class NearestUpsample(nn.Sequential):
    """x2, the report's Keras block: conv3x3 in->4C, UpSampling2D(2) nearest, PReLU(4C).

    Output keeps 4C channels, so the second block is conv 256->256 and the final conv reads
    256 channels. The PReLU slope is per channel (Keras ``shared_axes=[1, 2]``).
    """

    def __init__(self, *, in_channels: int, channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, 4 * channels, 3, padding=1),  # (B, 4C, h, w)
            nn.Upsample(scale_factor=2, mode="nearest"),  # (B, 4C, 2h, 2w)
            nn.PReLU(4 * channels),
        )
        self.out_channels = 4 * channels


UPSAMPLE_BLOCKS = {"pixelshuffle": SubPixelUpsample, "nearest": NearestUpsample}


class SRResNet(nn.Module):
    """The SRResNet / SRGAN generator G; Ledig et al. 2017 Fig. 4 (top).

    conv9x9 3->C + PReLU; ``num_blocks`` residual blocks; conv3x3 + BN + long skip from the
    first PReLU; log2(scale) x2-upsample blocks (``UPSAMPLE_BLOCKS[upsample]``); conv9x9 ->3;
    tanh. ``upsample="pixelshuffle"`` is the paper's, ``"nearest"`` the student report's.

    Input: LR float (B, 3, h, w) RGB in [0, 1]. Output: SR (B, 3, scale*h, scale*w) in [-1, 1].
    """

    def __init__(
        self,
        *,
        num_blocks: int = 16,
        channels: int = 64,
        upsample: str = "pixelshuffle",
        scale: int = 4,
    ) -> None:
        super().__init__()
        if upsample not in UPSAMPLE_BLOCKS:
            raise ValueError(f"upsample must be one of {sorted(UPSAMPLE_BLOCKS)}, got {upsample!r}")
        if not isinstance(scale, int) or scale < 2 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of 2 (2, 4, 8, ...), got {scale!r}")
        if num_blocks < 0:
            raise ValueError(f"num_blocks must be >= 0, got {num_blocks}")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU(channels))
        self.trunk = nn.Sequential(
            *[ResidualBlock(channels=channels) for _ in range(num_blocks)],
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
        )
        blocks, in_ch = [], channels
        for _ in range(int(math.log2(scale))):
            blocks.append(UPSAMPLE_BLOCKS[upsample](in_channels=in_ch, channels=channels))
            in_ch = blocks[-1].out_channels
        self.upsample = nn.Sequential(*blocks)
        self.tail = nn.Conv2d(in_ch, 3, 9, padding=4)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(self.features(lr))

    def features(self, lr: torch.Tensor) -> torch.Tensor:
        """The LR-resolution part: head, residual trunk and long skip. (B, 3, h, w) -> (B, C, h, w).

        Split from ``reconstruct`` because the two differ in memory by an order of magnitude
        (C floats per LR pixel here, 16 C or more after upsampling), which the tiler exploits.
        """
        head = self.head(lr)  # (B, C, h, w)
        return head + self.trunk(head)  # (B, C, h, w), long skip

    def reconstruct(self, features: torch.Tensor) -> torch.Tensor:
        """Upsampling and the 9x9 tail: (B, C, h, w) -> SR (B, 3, scale*h, scale*w) in [-1, 1]."""
        x = self.upsample(features)  # (B, C or 4C, scale*h, scale*w)
        return torch.tanh(self.tail(x))


def receptive_radius(generator: nn.Module) -> int:
    """Receptive-field radius of a fully convolutional generator, in LR pixels (rounded up).

    An SR pixel inside LR pixel (y, x) depends only on LR pixels within this Chebyshev distance of
    (y, x), so LR tiles extended by it on every side give exactly the whole-image SR in their
    centre (``srgan.evaluate.super_resolve``). Computed from the model, so it follows
    ``num_blocks``, ``upsample`` and ``scale``: the modules are walked in registration order, which
    for ``SRResNet`` is forward order; each Conv2d adds ``dilation * (k - 1) / 2`` divided by the
    upsampling factor reached so far, and PixelShuffle(r) / Upsample(scale_factor=r) multiply that
    factor by r. Skips (residual and long) only add shorter paths, and BN (eval), PReLU and tanh
    are pointwise, so they add nothing. SRResNet with B blocks at x4, either variant:
    4 + 2B + 1 + 1 + 1/2 + 9x9 tail 4/4 = 2B + 7.5 -> 2B + 8 (40 for B = 16).

    Raises ValueError for a layer that would make this walk wrong (a strided conv, an Upsample by
    size or by an uneven factor), e.g. the Discriminator.
    """
    radius, factor = Fraction(0), Fraction(1)
    for name, module in generator.named_modules():
        if isinstance(module, nn.Conv2d):
            if any(s != 1 for s in module.stride):
                raise ValueError(f"receptive_radius needs stride-1 convs, got stride {module.stride} "
                                 f"at {name!r}")
            reach = max(d * (k - 1) for d, k in zip(module.dilation, module.kernel_size))
            radius += Fraction(reach, 2) / factor
        elif isinstance(module, nn.PixelShuffle):
            factor *= module.upscale_factor
        elif isinstance(module, nn.Upsample):
            r = module.scale_factor
            if isinstance(r, tuple) and len(set(r)) == 1:
                r = r[0]
            if not isinstance(r, (int, float)) or r != int(r) or r < 1:
                raise ValueError(f"receptive_radius needs Upsample(scale_factor=<int>), got "
                                 f"scale_factor={module.scale_factor!r}, size={module.size!r} at {name!r}")
            factor *= int(r)
    return math.ceil(radius)


# -----------------------------------------------------------------------------
# discriminator


class Discriminator(nn.Module):
    """The SRGAN discriminator D; Ledig et al. 2017 Fig. 4 (bottom).

    len(channels) conv3x3 layers with strides 1, 2, 1, 2, ...; BN on all but the first;
    LeakyReLU(0.2); Flatten -> Linear(1024) -> LeakyReLU(0.2) -> Linear(1).

    Input: HR or SR images (B, 3, input_size, input_size) in [-1, 1]. Returns LOGITS (B, 1);
    D's probability is ``sigmoid(logits)``. The paper's final sigmoid is folded into the
    BCE-with-logits losses in ``srgan.losses`` for numerical stability.
    """

    def __init__(
        self,
        *,
        input_size: int = 96,
        channels: tuple[int, ...] = (64, 64, 128, 128, 256, 256, 512, 512),
    ) -> None:
        super().__init__()
        if len(channels) == 0:
            raise ValueError(f"channels must be a non-empty tuple of ints, got {channels!r}")
        factor = 2 ** (len(channels) // 2)  # one stride-2 conv per pair of layers
        if input_size <= 0 or input_size % factor:
            raise ValueError(
                f"input_size must be a positive multiple of {factor} for {len(channels)} conv "
                f"layers, got {input_size}"
            )
        self.input_size = input_size
        layers, in_ch = [], 3
        for i, out_ch in enumerate(channels):
            layers.append(nn.Conv2d(in_ch, out_ch, 3, stride=1 + i % 2, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.LeakyReLU(0.2))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        side = input_size // factor
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_ch * side * side, 1024),
            nn.LeakyReLU(0.2),
            nn.Linear(1024, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(
                f"Discriminator(input_size={self.input_size}) needs (B, 3, {self.input_size}, "
                f"{self.input_size}) input, got {tuple(x.shape)}"
            )
        x = self.features(x)  # (B, 512, input_size/16, input_size/16)
        return self.classifier(x)  # (B, 1) logits


# -----------------------------------------------------------------------------
# VGG19 content network


def _vgg19_layer_names() -> dict[str, int]:
    """Keras-style ``block{i}_conv{j}`` -> index of the ReLU after that conv in vgg19().features."""
    names, block, conv, idx = {}, 1, 0, 0
    for v in _VGG_CFGS["E"]:
        if v == "M":
            block, conv, idx = block + 1, 0, idx + 1
        else:
            conv += 1
            names[f"block{block}_conv{conv}"] = idx + 1  # conv at idx, its ReLU at idx + 1
            idx += 2
    return names


VGG19_LAYERS = _vgg19_layer_names()  # {"block1_conv1": 1, ..., "block5_conv4": 35}


def _check_layer(layer: str) -> None:
    if layer not in VGG19_LAYERS:
        raise ValueError(f"layer must be one of {list(VGG19_LAYERS)}, got {layer!r}")


def _load_vgg19_state_dict(weights_path: str | None) -> dict[str, torch.Tensor]:
    """A torchvision vgg19 state dict: from ``weights_path``, else via torchvision's weights API.

    The download goes through urllib, which has no timeout of its own, so the process-wide
    socket default timeout is set to ``DOWNLOAD_TIMEOUT_S`` for the attempt and then restored.
    """
    if weights_path is not None:
        return torch.load(weights_path, map_location="cpu", weights_only=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:  # cached under $TORCH_HOME/hub/checkpoints, else downloaded and hash-checked
        return VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False, check_hash=True)
    finally:
        socket.setdefaulttimeout(previous)


def fetch_vgg19_weights() -> Path:
    """Download the VGG19 ImageNet weights into torchvision's cache; returns the cached file."""
    VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=True, check_hash=True)
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(VGG19_URL).name


class VGGFeatures(nn.Module):
    """Frozen VGG19 features phi_{i,j}: torchvision's vgg19 cut after the ReLU of conv ``layer``.

    ``layer`` is Keras-style ``block{i}_conv{j}`` = the paper's phi_{i,j}: ``block5_conv4`` is
    phi_5,4 (after its ReLU, before pool5), ``block2_conv2`` is phi_2,2, and the student report
    uses ``block3_conv4``. Valid names: ``VGG19_LAYERS``.

    ``weights="imagenet"`` loads ``VGG19_Weights.IMAGENET1K_V1`` (cached under $TORCH_HOME, else
    downloaded), or the torchvision vgg19 state dict at ``weights_path`` if given;
    ``weights="random"`` keeps torchvision's random init. All parameters are frozen and the module
    stays in eval mode (``train()`` is a no-op); gradients still flow to the input.

    Input: (B, 3, H, W) RGB in [0, 1]; ImageNet-normalized inside. Output: (B, C_ij, H/2^(i-1),
    W/2^(i-1)) non-negative features, e.g. (B, 256, H/4, W/4) at block3_conv4.
    """

    def __init__(
        self,
        *,
        layer: str = "block5_conv4",
        weights: str = "imagenet",
        weights_path: str | None = None,
    ) -> None:
        super().__init__()
        _check_layer(layer)
        if weights not in ("imagenet", "random"):
            raise ValueError(f"weights must be 'imagenet' or 'random', got {weights!r}")
        self.layer = layer
        end = VGG19_LAYERS[layer] + 1
        self.features = _vgg_make_layers(_VGG_CFGS["E"])[:end]  # keys "0".."end-1", as torchvision
        for m in self.features.modules():
            if isinstance(m, nn.Conv2d):  # torchvision VGG's init
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        if weights == "imagenet":
            state = _load_vgg19_state_dict(weights_path)
            prefix = "features."  # torchvision vgg19 keys; the classifier's are dropped
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            state = {k: v for k, v in state.items() if int(k.split(".")[0]) < end}  # up to `layer`
            self.features.load_state_dict(state)  # strict: a missing or misshapen key raises
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> VGGFeatures:
        """Stay in eval mode whatever ``mode`` is: the content network is frozen."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std  # (B, 3, H, W) ImageNet-normalized
        return self.features(x)  # (B, C_ij, H_ij, W_ij)


def load_content_network(
    *, layer: str, weights_path: str | None, allow_random_fallback: bool
) -> tuple[VGGFeatures, str]:
    """VGGFeatures at ``layer`` with ImageNet weights, and where the weights came from.

    The source string is one of:
      - ``"imagenet"``: torchvision's VGG19_Weights.IMAGENET1K_V1 (from the cache or downloaded);
      - ``"file:<weights_path>"``: the state dict at ``weights_path``;
      - ``"random-fallback"``: loading failed and ``allow_random_fallback`` is set; the content
        loss then uses RANDOM weights and a loud warning is logged.
    With ``allow_random_fallback=False`` a failure raises RuntimeError saying how to supply the
    weights. A bad ``layer`` always raises ValueError.
    """
    _check_layer(layer)
    try:
        net = VGGFeatures(layer=layer, weights="imagenet", weights_path=weights_path)
    except Exception as exc:  # network error, missing file, hash mismatch, bad state dict, ...
        what = f"{type(exc).__name__}: {exc}"
        if not allow_random_fallback:
            raise RuntimeError(
                f"Could not load ImageNet VGG19 weights for the content loss ({what}). To supply "
                f"them, download {VGG19_URL} ({VGG19_BYTES:,} bytes) and either place it in "
                f"{torch.hub.get_dir()}/checkpoints/ or pass its path as the config key "
                f"vgg.weights_path."
            ) from exc
        logger.warning(
            "!!! The content loss uses RANDOM VGG19 weights: loading ImageNet weights failed "
            "(%s). Results are NOT comparable to the paper's. Download %s into %s/checkpoints/ "
            "or set vgg.weights_path. !!!",
            what,
            VGG19_URL,
            torch.hub.get_dir(),
        )
        return VGGFeatures(layer=layer, weights="random"), "random-fallback"
    source = "imagenet" if weights_path is None else f"file:{weights_path}"
    logger.info("content network %s loaded from %s", layer, source)
    return net, source


# -----------------------------------------------------------------------------


def count_parameters(model: nn.Module, *, include_bn_stats: bool = True) -> int:
    """Number of parameters, plus BN ``running_mean`` / ``running_var`` when asked.

    Keras counts BN moving statistics as (non-trainable) parameters, so ``include_bn_stats=True``
    matches a Keras ``model.summary()``; ``num_batches_tracked`` is never counted.
    """
    n = sum(p.numel() for p in model.parameters())
    if include_bn_stats:
        n += sum(
            b.numel()
            for name, b in model.named_buffers()
            if name.rsplit(".", 1)[-1] in ("running_mean", "running_var")
        )
    return n
