"""Run a generator (or bicubic) over an evaluation set: per-image PSNR/SSIM and the SR images.

Images are uint8 HxWx3 RGB throughout; the generator takes LR in [0, 1] and returns SR in [-1, 1]
(tanh), which is mapped back to uint8 by rounding, as a saved PNG would be.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from srgan import metrics
from srgan.imresize import imresize
from srgan.io import atomic_path, save_png
from srgan.models import SRResNet

EvalPair = tuple[str, np.ndarray, np.ndarray]  # (name, LR uint8 HxWx3, HR uint8 HxWx3)


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit name must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA GPU; use device: auto or cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device 'mps' was asked for, but it is not available; use device: auto or cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; expected auto, cpu, cuda or mps")
    return torch.device(name)


def sr_to_uint8(sr: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) tensor in [-1, 1] -> uint8 HxWx3, rounded to nearest."""
    image = ((sr[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # (3, H, W)
    return image.permute(1, 2, 0).cpu().numpy()


@torch.inference_mode()
def super_resolve(generator: nn.Module, lr: np.ndarray, *, device: torch.device) -> np.ndarray:
    """SR of one uint8 HxWx3 LR image with ``generator`` in eval mode (BN running statistics)."""
    was_training = generator.training
    generator.eval()
    x = torch.from_numpy(lr).to(device).permute(2, 0, 1)[None].float() / 255  # (1, 3, h, w)
    sr = sr_to_uint8(generator(x.contiguous(memory_format=torch.channels_last)))
    generator.train(was_training)
    return sr


def evaluate_pairs(pairs: Sequence[EvalPair], predict: Callable[[np.ndarray], np.ndarray], *,
                   scale: int, protocol: str, round_y: bool = True,
                   image_dir: Path | None = None) -> pd.DataFrame:
    """Per-image PSNR/SSIM of ``predict(LR)`` against HR; saves the SR PNGs to ``image_dir``."""
    rows = []
    for name, lr, hr in pairs:
        sr = predict(lr)
        if sr.shape != hr.shape:
            raise ValueError(f"{name}: SR shape {sr.shape} differs from HR shape {hr.shape}")
        rows.append({"image": name,
                     "psnr": metrics.psnr(sr, hr, scale=scale, protocol=protocol, round_y=round_y),
                     "ssim": metrics.ssim(sr, hr, scale=scale, protocol=protocol, round_y=round_y)})
        if image_dir is not None:
            save_png(Path(image_dir) / f"{name}.png", sr)
    return pd.DataFrame(rows, columns=["image", "psnr", "ssim"])


def bicubic_predictor(scale: int) -> Callable[[np.ndarray], np.ndarray]:
    """MATLAB-bicubic upscaling, the baseline row of every table."""
    return lambda lr: imresize(lr, scale)


def generator_predictor(generator: nn.Module, device: torch.device) -> Callable[[np.ndarray], np.ndarray]:
    return lambda lr: super_resolve(generator, lr, device=device)


def load_generator(checkpoint: Path, *, device: torch.device) -> SRResNet:
    """Rebuild the generator from a self-describing checkpoint (``model_args`` + ``generator``)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    generator = SRResNet(**state["model_args"])
    generator.load_state_dict(state["generator"])
    return generator.to(device).to(memory_format=torch.channels_last).eval()


def write_metrics_csv(frame: pd.DataFrame, path: Path) -> None:
    """Per-image metrics plus a final ``mean`` row, written atomically."""
    mean = pd.DataFrame([{"image": "mean", "psnr": frame["psnr"].mean(), "ssim": frame["ssim"].mean()}])
    with atomic_path(path) as tmp:
        pd.concat([frame, mean], ignore_index=True).to_csv(tmp, index=False, float_format="%.6f")
