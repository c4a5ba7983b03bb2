"""Image and file I/O: RGB loading, and atomic writes so that no step leaves a half-written file.

Every output of the pipeline is first written beside its destination under a temporary name and
then renamed into place (``os.replace`` is atomic on POSIX). A job that is killed, or a disk that
fills up, leaves at most a stray ``.tmp-*`` file, never a truncated result that a later step would
trust.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp")
EXIF_ORIENTATION = 0x0112
# Largest image (in pixels) decoded from a user's files unless the config says otherwise: 16x
# DIV2K's largest (2040x2040) and above any benchmark image, yet far below what exhausts memory
# (a 400-megapixel RGB image needs 1.2 GB as uint8 and about 10 GB in our float steps).
# Pillow's own guard (DecompressionBombError at 179 MP) names no file and no setting.
MAX_PIXELS_DEFAULT = 64_000_000

# Pillow's global bomb check is replaced by ours (per call, with the file and the config key).
Image.MAX_IMAGE_PIXELS = None


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the body succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; others read it as for any tool
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def to_rgb(image: Image.Image, *, name: str = "image") -> Image.Image:
    """Convert grayscale, palette, RGBA and 16-bit images to 8-bit RGB, logging what changed.

    Set14's ``bridge`` is 8-bit grayscale; benchmark tables treat every image as RGB.
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 65535 -> 255 by the fixed factor 257, as MATLAB's im2uint8 does: never stretched to the
        # image's own maximum, which would change its brightness.
        array = np.asarray(image, dtype=np.float64)
        log.info("%s: 16-bit mode %s divided by 257 to 8 bits", name, image.mode)
        image = Image.fromarray(np.clip(np.round(array / 257), 0, 255).astype(np.uint8))
    log.info("%s: converting mode %s to RGB", name, image.mode)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Composite on white, as image viewers show transparent pixels, instead of dropping alpha.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def upright(image: Image.Image, *, name: str = "image") -> Image.Image:
    """The image as it is meant to be seen: its EXIF orientation applied (cameras store many
    photos sideways with orientation 6 or 8), with a log line; others are returned as they are."""
    orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    if orientation in (None, 1):
        return image
    log.info("%s: EXIF orientation %s applied", name, orientation)
    return ImageOps.exif_transpose(image)


@contextlib.contextmanager
def open_image(path: str | os.PathLike, *, max_pixels: int | None = MAX_PIXELS_DEFAULT,
               name: str | None = None) -> Iterator[Image.Image]:
    """Open an image file (header only; the body decodes it), turning every fault, in the header
    or while the body decodes, into a ValueError naming the file (``name``, when the file is a
    temporary copy, e.g. an archive's entry): missing, empty, not an image, truncated or corrupt,
    and images of more than ``max_pixels`` pixels (checked from the header, before any pixel is
    decoded; None: no limit, for the pipeline's own files)."""
    path = Path(path)
    shown = name or str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError as error:
        raise ValueError(f"cannot read image {shown}: no such file") from error
    try:
        if path.is_dir():
            raise ValueError(f"cannot read image {shown}: it is a folder")
        if size == 0:
            raise ValueError(f"cannot read image {shown}: the file is empty (0 bytes)")
        with Image.open(path) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise ValueError(
                    f"image {shown} is {width}x{height} = {width * height:,} pixels, more than the "
                    f"limit of {max_pixels:,} (config key max_image_pixels, which guards against "
                    f"decompression bombs); raise it if you trust this image")
            yield image
    except UnidentifiedImageError as error:
        raise ValueError(f"cannot read image {shown}: not an image file Pillow can decode "
                         f"({', '.join(IMAGE_SUFFIXES)})") from error
    except (OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise ValueError(f"cannot read image {shown}: truncated or corrupt ({error})") from error


def load_rgb(path: str | os.PathLike, *, max_pixels: int | None = MAX_PIXELS_DEFAULT,
             name: str | None = None) -> np.ndarray:
    """Load an image file as uint8 HxWx3 RGB: EXIF orientation applied, then ``to_rgb``.
    Faults raise ValueError naming the file, as ``open_image`` lists."""
    with open_image(path, max_pixels=max_pixels, name=name) as image:
        image.load()
        return np.asarray(to_rgb(upright(image, name=Path(path).name), name=Path(path).name),
                          dtype=np.uint8).copy()


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Save a uint8 HxWx3 (or HxW) array as PNG, atomically."""
    if image.dtype != np.uint8:
        raise ValueError(f"save_png expects uint8, got {image.dtype}")
    with atomic_path(path) as tmp:
        # Level 1: lossless all the same, and several times faster to write than the default 6
        # (it matters for Urban100's 1024-pixel images, written three times per method).
        Image.fromarray(image).save(tmp, format="PNG", compress_level=1)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def find_images(folder: str | os.PathLike, *, exclude: str | os.PathLike | None = None) -> list[Path]:
    """Image files anywhere under ``folder``, sorted; none under ``exclude`` (an output folder
    inside the input folder, whose results are not inputs)."""
    excluded = Path(exclude).resolve() if exclude is not None else None
    return sorted(path for path in Path(folder).rglob("*")
                  if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
                  and (excluded is None or excluded not in path.resolve().parents))


def file_hash(path: str | os.PathLike, algorithm: str = "sha256", *,
              chunk_size: int = 1 << 20) -> str:
    """Hex digest of a file (any ``hashlib`` algorithm; sha256 by default), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only if the body succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}.", dir=path.parent))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def remove_stale_temporaries(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Remove the ``.tmp-<name>.*`` files and folders that a killed run left beside each of
    ``paths`` (what :func:`atomic_path` and :func:`atomic_dir` write before their rename).

    Only this job's own temporaries match, so jobs that write into the same folder at the same
    time never remove each other's.
    """
    removed = []
    for path in map(Path, paths):
        if not path.parent.is_dir():
            continue
        for stale in path.parent.glob(f".tmp-{glob.escape(path.name)}.*"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink(missing_ok=True)
            removed.append(stale)
    for stale in removed:
        log.info("removed %s, left by an interrupted run", stale)
    return removed


def start_rule(log_path: str | os.PathLike, outputs: Iterable[str | os.PathLike]) -> None:
    """What every rule's script does first: log to the rule's log, and clear the temporaries
    that an interrupted run of the same job left beside its outputs."""
    log_to(log_path)
    remove_stale_temporaries(outputs)


def log_to(path: str | os.PathLike) -> None:
    """Send everything a rule's process prints to the rule's log file: logging, stderr (tqdm
    progress bars, warnings, tracebacks) and stdout (torch hub's download messages, print calls),
    both Python's streams and the file descriptors 1 and 2 beneath them, so that C libraries and
    child processes write there too. For the script of one job, which runs in its own process."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    for fd, name in ((1, "stdout"), (2, "stderr")):
        getattr(sys, name).flush()
        os.dup2(stream.fileno(), fd)
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
