"""Training patches and evaluation pairs, made once so that no PNG is decoded while training.

Training patches: N random HR crops per image, with the LR crop cut from the MATLAB-bicubic
downscale of the whole (mod-cropped) image at the matching position. Downscaling the whole image
once, rather than each crop, makes the LR crops identical to the interior of the evaluation LR
images; crops are aligned to the scale grid for that reason. Both arrays are uint8 NxHxWx3
``.npy`` files that training opens memory-mapped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from srgan.imresize import imresize, modcrop
from srgan.io import atomic_dir, atomic_path, list_images, load_rgb, save_png

log = logging.getLogger(__name__)


def random_crops(hr: np.ndarray, lr: np.ndarray, *, hr_size: int, count: int, scale: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` aligned crops: HR (count, hr_size, hr_size, 3) and LR (count, hr_size/scale, ...)."""
    lr_size = hr_size // scale
    ys = rng.integers(0, lr.shape[0] - lr_size + 1, size=count)
    xs = rng.integers(0, lr.shape[1] - lr_size + 1, size=count)
    hr_crops = np.stack([hr[y * scale:(y + lr_size) * scale, x * scale:(x + lr_size) * scale]
                         for y, x in zip(ys, xs)])
    lr_crops = np.stack([lr[y:y + lr_size, x:x + lr_size] for y, x in zip(ys, xs)])
    return hr_crops, lr_crops


def extract_patches(hr_paths: list[Path], *, hr_size: int, per_image: int, scale: int, seed: int,
                    hr_out: Path, lr_out: Path) -> int:
    """Write ``per_image`` random crops of every image to hr_out / lr_out (uint8 .npy); return N.

    Images smaller than ``hr_size`` are skipped with one warning that counts them.
    """
    if hr_size % scale:
        raise ValueError(f"hr_size {hr_size} is not a multiple of scale {scale}")
    rng = np.random.default_rng(seed)
    usable, skipped = [], []
    for path in hr_paths:
        image = modcrop(load_rgb(path), scale)
        (usable if min(image.shape[:2]) >= hr_size else skipped).append((path, image))
    if skipped:
        log.warning("skipped %d of %d images smaller than the %dx%d crop: %s", len(skipped),
                    len(hr_paths), hr_size, hr_size, ", ".join(p.name for p, _ in skipped[:10]))
    if not usable:
        raise ValueError(f"no training image is at least {hr_size}x{hr_size} pixels")
    total, lr_size = len(usable) * per_image, hr_size // scale
    with atomic_path(hr_out) as hr_tmp, atomic_path(lr_out) as lr_tmp:
        hr_arr = np.lib.format.open_memmap(hr_tmp, mode="w+", dtype=np.uint8,
                                           shape=(total, hr_size, hr_size, 3))
        lr_arr = np.lib.format.open_memmap(lr_tmp, mode="w+", dtype=np.uint8,
                                           shape=(total, lr_size, lr_size, 3))
        for index, (path, image) in enumerate(usable):
            lr_image = imresize(image, 1 / scale)
            hr_crops, lr_crops = random_crops(image, lr_image, hr_size=hr_size, count=per_image,
                                              scale=scale, rng=rng)
            hr_arr[index * per_image:(index + 1) * per_image] = hr_crops
            lr_arr[index * per_image:(index + 1) * per_image] = lr_crops
        hr_arr.flush()
        lr_arr.flush()
        del hr_arr, lr_arr
    log.info("wrote %d patch pairs (%dx%d HR, %dx%d LR) from %d images", total, hr_size, hr_size,
             lr_size, lr_size, len(usable))
    return total


def prepare_eval_set(hr_dir: Path, out_dir: Path, *, scale: int) -> int:
    """Write ``out_dir/HR`` (mod-cropped) and ``out_dir/LR`` (MATLAB bicubic 1/scale) PNG pairs."""
    files = list_images(hr_dir)
    if not files:
        raise ValueError(f"evaluation folder {hr_dir} holds no images")
    with atomic_dir(out_dir) as tmp:
        for path in files:
            hr = modcrop(load_rgb(path), scale)
            save_png(tmp / "HR" / f"{path.stem}.png", hr)
            save_png(tmp / "LR" / f"{path.stem}.png", imresize(hr, 1 / scale))
    return len(files)


def load_eval_set(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, LR, HR) uint8 RGB triples of a folder written by :func:`prepare_eval_set`."""
    folder = Path(folder)
    return [(path.stem, load_rgb(folder / "LR" / path.name), load_rgb(path))
            for path in list_images(folder / "HR")]
