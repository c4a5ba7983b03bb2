"""Image sources: put every dataset in one layout, ``<root>/HR/*.png`` plus a MANIFEST.

Sources:
- ``skimage``: photographs that ship inside scikit-image (``skimage.data``), so the default run
  needs no network. Grayscale ones are replicated to RGB.
- ``folder``: a local folder of HR images (Set5, DIV2K, your own photographs).

Every image is stored as 8-bit RGB PNG, and the MANIFEST records the sha256 of each, so a later
step can tell exactly which pixels it was given.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from srgan.io import atomic_dir, list_images, load_rgb, sha256_file, write_text

log = logging.getLogger(__name__)

SOURCES = ("skimage", "folder")


def skimage_image(name: str) -> np.ndarray:
    """One ``skimage.data`` image as uint8 HxWx3 RGB (grayscale replicated, alpha dropped)."""
    import skimage.data

    loader = getattr(skimage.data, name, None)
    if loader is None or not callable(loader):
        raise ValueError(f"skimage.data has no image {name!r}")
    image = np.asarray(loader())
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.dtype != np.uint8:
        raise ValueError(f"skimage.data.{name} is {image.dtype}, expected uint8")
    if image.ndim == 2:
        log.info("skimage %s: grayscale, replicated to RGB", name)
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:
        log.info("skimage %s: RGBA, alpha dropped", name)
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def _png_mode(path: Path) -> str:
    """The PIL mode of a PNG, or "" when it cannot be read (load_rgb then names the problem)."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.mode
    except (OSError, SyntaxError):
        return ""


def write_manifest(hr_dir: Path, manifest: Path) -> None:
    """Write ``name<TAB>width<TAB>height<TAB>sha256`` for every image of ``hr_dir``."""
    rows = ["name\twidth\theight\tsha256"]
    for path in list_images(hr_dir):
        with Image.open(path) as image:
            width, height = image.size
        rows.append(f"{path.name}\t{width}\t{height}\t{sha256_file(path)}")
    write_text(manifest, "\n".join(rows) + "\n")


def prepare_dataset(*, source: str, out_dir: Path, manifest: Path,
                    images: list[str] | None = None, path: str | None = None) -> int:
    """Materialise a dataset as ``out_dir/*.png`` (uint8 RGB) and its MANIFEST; return the count."""
    if source not in SOURCES:
        raise ValueError(f"unknown dataset source {source!r}; expected one of {SOURCES}")
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        if source == "skimage":
            if not images:
                raise ValueError("source 'skimage' needs a non-empty list of image names")
            for name in images:
                Image.fromarray(skimage_image(name)).save(tmp / f"{name}.png")
        else:
            files = list_images(Path(path))
            if not files:
                raise ValueError(f"folder {path} holds no images ({', '.join(('png', 'jpg', 'bmp', 'tif'))})")
            for file in files:
                target = tmp / f"{file.stem}.png"
                if file.suffix.lower() == ".png" and _png_mode(file) == "RGB":
                    shutil.copyfile(file, target)  # already what we store: keep the bytes
                else:
                    Image.fromarray(load_rgb(file)).save(target)
        count = len(list_images(tmp))
    write_manifest(out_dir, Path(manifest))
    log.info("dataset ready: %d images in %s", count, out_dir)
    return count
