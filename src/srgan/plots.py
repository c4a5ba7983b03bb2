"""Figures: metric curves over the epochs of both stages, and LR | bicubic | SRResNet | SRGAN | HR.

Images are drawn with ``interpolation="nearest"`` so that matplotlib never resamples them: what
looks sharp or blurry in a panel is what the method produced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from srgan.io import atomic_path  # noqa: E402

STAGE_STYLE = {"srresnet": ("SRResNet (MSE)", "tab:blue"), "srgan": ("SRGAN", "tab:red")}


def metric_column(val_set: str, metric: str, protocol: str) -> str:
    """History column of a metric: the standard protocol is ``<set>_psnr``, the report's ``..._rgb``."""
    return f"{val_set}_{metric}" + ("_rgb" if protocol == "report" else "")


def save_figure(fig: plt.Figure, path: Path, *, dpi: int) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_curves(histories: Mapping[str, pd.DataFrame], val_sets: Sequence[str], *, protocol: str,
                out: Path, dpi: int, bicubic: Mapping[str, tuple[float, float]] | None = None) -> None:
    """PSNR and SSIM against epoch for every validation set; SRGAN epochs continue SRResNet's."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    offset = 0
    for stage, history in histories.items():
        label, colour = STAGE_STYLE[stage]
        epochs = history["epoch"].to_numpy() + offset
        for ax, metric in zip(axes, ("psnr", "ssim")):
            for k, val_set in enumerate(val_sets):
                ax.plot(epochs, history[metric_column(val_set, metric, protocol)], marker="o",
                        markersize=3, color=colour, linestyle=("-", "--", ":", "-.")[k % 4],
                        label=f"{label}, {val_set}")
        offset = int(epochs.max())
        for ax in axes:
            ax.axvline(offset + 0.5, color="grey", linewidth=0.8, alpha=0.5)
    for ax, metric in zip(axes, ("psnr", "ssim")):
        for k, (val_set, values) in enumerate((bicubic or {}).items()):
            ax.axhline(values[0 if metric == "psnr" else 1], color="black", linewidth=1,
                       linestyle=("-", "--", ":", "-.")[k % 4], alpha=0.6, label=f"bicubic, {val_set}")
        ax.set_xlabel("epoch (SRResNet, then SRGAN)")
        ax.set_ylabel("PSNR (dB)" if metric == "psnr" else "SSIM")
        ax.set_title(f"{metric.upper()} per epoch ({protocol} protocol)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="best")
    save_figure(fig, out, dpi=dpi)


def nearest_upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Pixel replication, to show an LR image at HR size without inventing detail."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    height, width = image.shape[:2]
    top, left = max((height - size) // 2, 0), max((width - size) // 2, 0)
    return image[top:top + size, left:left + size]


def plot_comparison(panels: Sequence[tuple[str, np.ndarray]], *, title: str, out: Path, dpi: int,
                    crop: int = 256) -> None:
    """One row of equally sized panels (label, uint8 HxWx3), centre-cropped to ``crop`` pixels."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.8), constrained_layout=True)
    for ax, (label, image) in zip(np.atleast_1d(axes), panels):
        ax.imshow(center_crop(image, crop), interpolation="nearest")
        ax.set_title(label, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=11)
    save_figure(fig, out, dpi=dpi)
