"""Image sources: put every dataset in one layout, ``<root>/HR/*.png`` plus a MANIFEST.

Sources:
- ``skimage``: photographs that ship inside scikit-image (``skimage.data``), so the default run
  needs no network. Grayscale ones are replicated to RGB.
- ``folder``: a local folder of HR images (Set5, DIV2K, your own photographs).
- ``registry``: a named download from ``srgan.registry.REGISTRY`` (DIV2K, the EDSR benchmark
  tar), fetched by :mod:`srgan.download` and unpacked by :mod:`srgan.archive`.

Every image is stored as 8-bit RGB PNG, and the MANIFEST records the sha256 of each, so a later
step can tell exactly which pixels it was given.
"""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from srgan.archive import safe_extract, same_stem
from srgan.download import download
from srgan.io import (EXIF_ORIENTATION, MAX_PIXELS_DEFAULT, atomic_dir, file_hash, list_images,
                      load_rgb, write_text)
from srgan.registry import ARCHIVES, REGISTRY, Archive, DatasetEntry, lookup

log = logging.getLogger(__name__)

SOURCES = ("skimage", "folder", "registry")


# --- storing one image ---------------------------------------------------------------------------

def _png_mode(path: Path, *, max_pixels: int | None) -> tuple[str, int | None]:
    """The PIL mode and EXIF orientation of a PNG, or ("", None) when it cannot be read or has
    more than ``max_pixels`` pixels (load_rgb then names the problem, the size from the header,
    so an oversized PNG is never decoded here)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                return "", None
            image.load()
            return image.mode, image.getexif().get(EXIF_ORIENTATION, 1)
    except (OSError, SyntaxError):
        return "", None


def store_rgb_png(source: Path, target: Path, *, max_pixels: int | None = MAX_PIXELS_DEFAULT,
                  name: str | None = None) -> None:
    """Store one image as 8-bit RGB PNG: RGB PNGs keep their bytes, others are converted.

    The one definition of how a dataset image is stored, for folders and archives alike. Every
    image, the byte-copied ones too, is held to ``max_pixels`` (None: no limit) from its header
    before any pixel is decoded; errors name it as ``name`` (an archive's entry) or ``source``.
    """
    if source.suffix.lower() == ".png" and _png_mode(source, max_pixels=max_pixels) == ("RGB", 1):
        shutil.copyfile(source, target)  # already what we store: keep the bytes
    else:
        Image.fromarray(load_rgb(source, max_pixels=max_pixels, name=name)).save(target)


def write_manifest(hr_dir: Path, manifest: Path) -> None:
    """Write ``name<TAB>width<TAB>height<TAB>sha256`` for every image of ``hr_dir``."""
    rows = ["name\twidth\theight\tsha256"]
    for path in list_images(hr_dir):
        with Image.open(path) as image:
            width, height = image.size
        rows.append(f"{path.name}\t{width}\t{height}\t{file_hash(path)}")
    write_text(manifest, "\n".join(rows) + "\n")


# --- the sources ---------------------------------------------------------------------------------

# skimage.data functions that return no single photograph (paths, sets, stereo pairs, volumes).
SKIMAGE_NOT_IMAGES = {"data_dir", "download_all", "file_hash", "lbp_frontal_face_cascade_filename",
                      "lfw_subset", "stereo_motorcycle", "cells3d", "binary_blobs", "kidney",
                      "nickel_solidification", "protein_transport", "brain", "vortex"}


def skimage_image_names() -> set[str]:
    """The names that source ``skimage`` accepts: the photographs among ``skimage.data``'s
    functions (imported only here: scikit-image takes a second to import)."""
    import skimage.data

    return {name for name in skimage.data.__all__ if name not in SKIMAGE_NOT_IMAGES
            and callable(getattr(skimage.data, name, None))}


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


def fetch_dataset(name: str, *, out_dir: Path, manifest: Path, download_dir: Path,
                  registry: Mapping[str, DatasetEntry] = REGISTRY,
                  archives: Mapping[str, Archive] = ARCHIVES, progress: bool = True,
                  max_pixels: int | None = MAX_PIXELS_DEFAULT) -> int:
    """Download (once per archive, into ``download_dir``), verify, extract a registry dataset.

    Writes ``out_dir/*.png`` and its MANIFEST and returns the image count. An archive fetched by
    hand and saved in ``download_dir`` under its URL's file name is verified and reused. An image
    of more than ``max_pixels`` pixels is an error naming the archive and the entry.
    """
    entry, archive = lookup(name, registry=registry, archives=archives)
    path = download(archive.url, Path(download_dir) / archive.filename, sha256=archive.sha256,
                    md5=archive.md5, size=archive.size, progress=progress)
    count = safe_extract(path, entry.member, Path(out_dir), kind=archive.kind,
                         store=functools.partial(store_rgb_png, max_pixels=max_pixels))
    write_manifest(Path(out_dir), Path(manifest))
    log.info("dataset %s ready: %d images in %s", name, count, out_dir)
    return count


def prepare_dataset(*, source: str, out_dir: Path, manifest: Path,
                    images: list[str] | None = None, path: str | None = None,
                    name: str | None = None,
                    download_dir: Path = Path("resources/downloads"),
                    max_pixels: int | None = MAX_PIXELS_DEFAULT) -> int:
    """Materialise a dataset as ``out_dir/*.png`` (uint8 RGB) and its MANIFEST; return the count.

    ``images`` is for source skimage, ``path`` for folder, ``name`` (a REGISTRY key) and
    ``download_dir`` (archives, shared by the datasets of one archive) for registry.
    ``max_pixels`` (config key ``max_image_pixels``; None: no limit) bounds every image of a
    folder or an archive; a larger one is an error naming it, and nothing is written.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown dataset source {source!r}; expected one of {SOURCES}")
    out_dir = Path(out_dir)
    if source == "registry":
        if not name:
            raise ValueError(f"source 'registry' needs name=, one of {sorted(REGISTRY)}")
        return fetch_dataset(name, out_dir=out_dir, manifest=Path(manifest),
                             download_dir=Path(download_dir), max_pixels=max_pixels)
    with atomic_dir(out_dir) as tmp:
        if source == "skimage":
            if not images:
                raise ValueError("source 'skimage' needs a non-empty list of image names")
            for image_name in images:
                Image.fromarray(skimage_image(image_name)).save(tmp / f"{image_name}.png")
        else:
            files = list_images(Path(path))
            if not files:
                raise ValueError(f"folder {path} holds no images ({', '.join(('png', 'jpg', 'bmp', 'tif'))})")
            if pair := same_stem(files):
                raise ValueError(f"{pair[0]} and {pair[1]} would both be stored as {pair[0].stem}.png; "
                                 f"rename one of them (nothing was written)")
            others = sorted(p.name for p in Path(path).iterdir()
                            if p.is_file() and p not in files and not p.name.startswith("."))
            if others:  # a README or a .txt of labels is no image; say what was not used
                log.warning("folder %s: ignored %d files that are not images by their suffix: %s",
                            path, len(others), ", ".join(others[:10]))
            for file in files:
                store_rgb_png(file, tmp / f"{file.stem}.png", max_pixels=max_pixels)
        count = len(list_images(tmp))
    write_manifest(out_dir, Path(manifest))
    log.info("dataset ready: %d images in %s", count, out_dir)
    return count


def prepare_dataset_from_spec(spec: Mapping, *, out_dir: Path, manifest: Path, download_dir: Path,
                              max_pixels: int | None) -> int:
    """Rule prepare_dataset: :func:`prepare_dataset` of one entry of the config's ``datasets:``
    (``source`` and its ``images``, ``path`` or ``name``; the schema fills the others in)."""
    return prepare_dataset(source=spec["source"], images=spec.get("images"), path=spec.get("path"),
                           name=spec.get("name"), download_dir=Path(download_dir), out_dir=Path(out_dir),
                           manifest=Path(manifest), max_pixels=max_pixels)
