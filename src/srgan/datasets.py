"""Image sources: put every dataset in one layout, ``<root>/HR/*.png`` plus a MANIFEST.

Sources:
- ``skimage``: photographs that ship inside scikit-image (``skimage.data``), so the default run
  needs no network. Grayscale ones are replicated to RGB.
- ``folder``: a local folder of HR images (Set5, DIV2K, your own photographs).
- ``registry``: a named download from ``REGISTRY`` (DIV2K, the EDSR benchmark tar). URLs and
  checksums are those of DESIGN.md section 4 (from TFDS, torchSR and HF LFS pointers).

Every image is stored as 8-bit RGB PNG, and the MANIFEST records the sha256 of each, so a later
step can tell exactly which pixels it was given.

The downloader is hand-written on ``urllib.request`` because pooch 1.9 (the fetcher
scikit-image uses) cannot resume: each try streams into a fresh temporary file opened ``w+b``
and never sends ``Range``, so a connection lost at 3 GB of DIV2K's 3.5 GB starts again from
zero. Its ``Untar`` also guards against ``../`` entries only on Python >= 3.12.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import re
import shutil
import ssl
import stat
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import IO

import numpy as np
from PIL import Image
from tqdm import tqdm

from srgan.io import EXIF_ORIENTATION, IMAGE_SUFFIXES, atomic_dir, file_hash, list_images, load_rgb, write_text

log = logging.getLogger(__name__)

SOURCES = ("skimage", "folder", "registry")
ARCHIVE_KINDS = ("zip", "tar", "tar.gz")
HASH_LENGTHS = {"sha256": 64, "md5": 32}  # hex digits

# Retry backoff: BACKOFF_BASE_S * 2**k seconds, at most BACKOFF_MAX_S. Tests set the base to 0.
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0
CHUNK_BYTES = 1 << 20
USER_AGENT = "srgan-reproduction (python urllib)"


def _expected_hash(*, sha256: str | None, md5: str | None) -> tuple[str, str]:
    """(algorithm, lowercase hex) from exactly one of sha256/md5; anything else is a ValueError."""
    given = {name: value for name, value in (("sha256", sha256), ("md5", md5)) if value is not None}
    if len(given) != 1:
        raise ValueError(f"give exactly one of sha256= or md5=; got {sorted(given) or 'neither'}")
    [(algorithm, value)] = given.items()
    if not re.fullmatch(f"[0-9a-fA-F]{{{HASH_LENGTHS[algorithm]}}}", value):
        raise ValueError(f"{algorithm} {value!r} is not {HASH_LENGTHS[algorithm]} hex digits")
    return algorithm, value.lower()


# --- registry ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Archive:
    """One downloadable archive; exactly one of ``sha256``/``md5`` (hex) pins its bytes."""

    url: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None  # bytes, when known: a wrong size fails before downloading
    kind: str = "zip"  # one of ARCHIVE_KINDS

    def __post_init__(self) -> None:
        _expected_hash(sha256=self.sha256, md5=self.md5)
        if self.kind not in ARCHIVE_KINDS:
            raise ValueError(f"archive kind {self.kind!r} of {self.url}; expected one of {ARCHIVE_KINDS}")

    @property
    def filename(self) -> str:
        """The URL's own file name, so an archive fetched by hand can be dropped in and reused."""
        return PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(self.url).path)).name


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset is the folder ``member`` (holding the HR images) inside archive ``archive``."""

    archive: str  # key of ARCHIVES
    member: str  # e.g. "benchmark/Set5/HR"


ARCHIVES: dict[str, Archive] = {
    "div2k_train_hr": Archive(
        url="https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip",
        sha256="9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
        size=3_530_603_713, kind="zip"),
    "div2k_valid_hr": Archive(
        url="https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",
        sha256="20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
        size=448_993_893, kind="zip"),
    # EDSR's benchmark: benchmark/<Set>/HR/*.png and LR_bicubic/X4/*x4.png for Set5, Set14, B100,
    # Urban100. Its size is not recorded in DESIGN §4.
    "benchmark": Archive(
        url="https://cv.snu.ac.kr/research/EDSR/benchmark.tar",
        md5="4ace41d33c2384b97e6b320cd0afd6ba", kind="tar"),
    # HuggingFace alternates (eugenesiow). Registered as archives only: the folder layout inside
    # them is not recorded anywhere we could check, so no DatasetEntry points at them yet.
    "set5_hr_hf": Archive(
        url="https://huggingface.co/datasets/eugenesiow/Set5/resolve/main/data/Set5_HR.tar.gz",
        sha256="260fc447296333f6c2716bcd65513968c33b666f21a905537ee3330c51a1945b", kind="tar.gz"),
    "bsd100_hr_hf": Archive(
        url="https://huggingface.co/datasets/eugenesiow/BSD100/resolve/main/data/BSD100_HR.tar.gz",
        sha256="333495ccded04a0db52b33361140821ea7e0d8af8dfb54b58df79a00010858d6", kind="tar.gz"),
}

# T91 is left out: no source with a verified checksum is known (../shared/data/T91 is offline only;
# use source "folder" for it).
REGISTRY: dict[str, DatasetEntry] = {
    "DIV2K_train": DatasetEntry("div2k_train_hr", "DIV2K_train_HR"),
    "DIV2K_valid": DatasetEntry("div2k_valid_hr", "DIV2K_valid_HR"),
    "Set5": DatasetEntry("benchmark", "benchmark/Set5/HR"),
    "Set14": DatasetEntry("benchmark", "benchmark/Set14/HR"),
    "B100": DatasetEntry("benchmark", "benchmark/B100/HR"),
    "Urban100": DatasetEntry("benchmark", "benchmark/Urban100/HR"),
}


# --- downloading ---------------------------------------------------------------------------------

class ChecksumError(ValueError):
    """A downloaded file's bytes are not the ones the registry pins."""


class DownloadError(RuntimeError):
    """A download that cannot succeed (HTTP 4xx) or that still fails after every retry."""


class _Transient(Exception):
    """A failure worth retrying: network errors, timeouts, short reads, HTTP 5xx and 429."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _check(path: Path, *, algorithm: str, expected: str, size: int | None, what: str) -> None:
    """Raise ChecksumError naming ``what``, the algorithm and both hashes unless ``path`` matches."""
    actual = file_hash(path, algorithm)
    actual_size = path.stat().st_size
    if actual != expected or (size is not None and actual_size != size):
        sizes = f"; size expected {size} B, got {actual_size} B" if size is not None else ""
        raise ChecksumError(f"{what}: {algorithm} expected {expected}, got {actual}{sizes}")


@contextlib.contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<dest>.lock``: parallel Snakemake jobs share one archive.

    Without it, Set5 and Set14 jobs would append to the same ``.part`` at once. The lock file is
    left in place (removing it would race with a waiting job). No lock where fcntl is missing.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(dest.with_name(dest.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) from ``bytes a-b/total`` or ``bytes */total``; None where absent."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _retry_after(headers: http.client.HTTPMessage | None) -> float | None:
    """Seconds from a numeric ``Retry-After`` header (429, 503), else None."""
    value = headers.get("Retry-After") if headers is not None else None
    return float(value) if value and value.strip().isdigit() else None


def _attempt(url: str, part: Path, *, size: int | None, timeout: float, bar: tqdm) -> None:
    """One GET that appends to (206) or rewrites (200) ``part``; returns once it is complete."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            _, total = _content_range(error.headers.get("Content-Range"))
            if total is None or total == offset:
                return  # the .part already holds every byte
            part.unlink()
            raise _Transient(f"HTTP 416: {part.name} has {offset} B but the file is {total} B; "
                             "restarting from zero") from None
        if error.code == 429 or error.code >= 500:
            raise _Transient(f"HTTP {error.code} {error.reason}",
                             retry_after=_retry_after(error.headers)) from None
        raise DownloadError(f"GET {url} failed: HTTP {error.code} {error.reason} (not retried; only "
                            "network errors, 5xx and 429 are)") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, ssl.SSLCertVerificationError):
            raise DownloadError(f"GET {url} failed: {error.reason}") from error
        raise _Transient(f"{error.reason}") from error
    except (OSError, http.client.HTTPException) as error:  # resets, timeouts, bad status lines
        raise _Transient(f"{type(error).__name__}: {error}") from error

    with response:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink()
                raise _Transient(f"asked for bytes from {offset}, got a range from {start}; "
                                 "restarting from zero")
            mode = "ab"
        elif response.status == 200:
            if offset:
                log.info("%s ignored the Range request; downloading from byte 0 again", url)
                offset = 0
            mode, total = "wb", length
        else:
            raise DownloadError(f"GET {url}: unexpected HTTP {response.status} {response.reason}")
        if total is None and length is not None:
            total = offset + length
        if size is not None and total is not None and total != size:
            raise DownloadError(f"{url} is {total} B, the registry expects {size} B; "
                                "the upstream file changed or the registry is wrong")
        bar.reset(total=total or size)
        bar.update(offset)
        received = 0
        with open(part, mode) as handle:
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as error:
                    raise _Transient(f"{type(error).__name__} after {received} B: {error}") from error
                if not chunk:
                    break
                handle.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    # http.client returns b"" at a premature close instead of raising, so count the bytes.
    if length is not None and received < length:
        raise _Transient(f"connection closed after {received} of {length} B")
    if size is not None and part.stat().st_size < size:
        raise _Transient(f"{part.name} has {part.stat().st_size} of {size} B")


def download(url: str, dest: Path, *, sha256: str | None = None, md5: str | None = None,
             size: int | None = None, retries: int = 5, timeout: float = 60,
             progress: bool = True) -> Path:
    """Download ``url`` to ``dest``, resumable and verified; return ``dest``.

    Bytes stream into ``<dest>.part``; a later call (or a retry) resumes it with ``Range``, so a
    3.5 GB DIV2K download survives dropped connections. Network errors, timeouts, short reads,
    HTTP 5xx and 429 are retried after ``BACKOFF_BASE_S * 2**k`` seconds; ``retries`` counts
    consecutive tries that added no bytes. Other 4xx fail at once (DownloadError). The complete
    file must match ``sha256`` or ``md5`` (exactly one) and ``size`` if given; otherwise the .part
    is deleted and ChecksumError raised. Only a verified file is renamed onto ``dest``, and a
    ``dest`` that already verifies is returned without any request.
    """
    algorithm, expected = _expected_hash(sha256=sha256, md5=md5)
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"download URL must be http(s), got {url!r}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with _locked(dest):
        if dest.exists():
            try:
                _check(dest, algorithm=algorithm, expected=expected, size=size, what=str(dest))
                log.info("%s already downloaded and verified (%s)", dest, algorithm)
                return dest
            except ChecksumError as error:
                log.warning("%s does not verify, downloading it again: %s", dest, error)
        failures = 0
        with tqdm(total=size, desc=dest.name, unit="B", unit_scale=True, unit_divisor=1024,
                  file=sys.stderr, disable=not progress, mininterval=1.0) as bar:
            while True:
                before = part.stat().st_size if part.exists() else 0
                try:
                    _attempt(url, part, size=size, timeout=timeout, bar=bar)
                    break
                except _Transient as error:
                    grew = part.exists() and part.stat().st_size > before
                    failures = 1 if grew else failures + 1
                    if failures > retries:
                        raise DownloadError(f"GET {url} still failing after {retries} retries: "
                                            f"{error}; run again to resume {part}") from error
                    delay = min(BACKOFF_BASE_S * 2 ** (failures - 1), BACKOFF_MAX_S)
                    delay = max(delay, min(error.retry_after or 0.0, BACKOFF_MAX_S))
                    log.warning("GET %s: %s; retry %d of %d in %.1f s", url, error, failures,
                                retries, delay)
                    time.sleep(delay)
        try:
            _check(part, algorithm=algorithm, expected=expected, size=size,
                   what=f"{dest.name} from {url} (deleted {part.name})")
        except ChecksumError:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, dest)
    log.info("downloaded and verified %s (%s %s)", dest, algorithm, expected)
    return dest


# --- extraction ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    name: str  # as stored in the archive
    type: str  # "file", "dir", or what else it is ("symlink", "hardlink", "device", ...)
    open: Callable[[], IO[bytes]]


def _tar_entries(archive: tarfile.TarFile) -> list[_Entry]:
    def type_of(info: tarfile.TarInfo) -> str:
        if info.isfile():
            return "file"
        if info.isdir():
            return "dir"
        return ("symlink" if info.issym() else "hardlink" if info.islnk() else
                "device" if info.isdev() else f"tar type {info.type!r}")
    return [_Entry(info.name, type_of(info), lambda info=info: archive.extractfile(info))
            for info in archive.getmembers()]


def _zip_entries(archive: zipfile.ZipFile) -> list[_Entry]:
    def type_of(info: zipfile.ZipInfo) -> str:
        mode = info.external_attr >> 16  # unix st_mode, 0 when the zip did not record one
        if stat.S_ISLNK(mode):
            return "symlink"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            return "device"
        return "dir" if info.is_dir() else "file"
    return [_Entry(info.filename, type_of(info), lambda info=info: archive.open(info))
            for info in archive.infolist()]


@contextlib.contextmanager
def _open_entries(archive: Path, kind: str) -> Iterator[list[_Entry]]:
    if kind == "zip":
        with zipfile.ZipFile(archive) as handle:
            yield _zip_entries(handle)
    else:
        with tarfile.open(archive, "r:gz" if kind == "tar.gz" else "r:") as handle:
            yield _tar_entries(handle)


def _unsafe(entry: _Entry) -> str | None:
    """Why extracting this entry could write outside the target, or None when it cannot."""
    name = entry.name.replace("\\", "/")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "absolute path"
    if ".." in name.split("/"):
        return "'..' component"
    if entry.type not in ("file", "dir"):
        return f"{entry.type} entry"
    return None


def _store_rgb_png(source: Path, target: Path) -> None:
    """Store one image as 8-bit RGB PNG: RGB PNGs keep their bytes, others are converted."""
    if source.suffix.lower() == ".png" and _png_mode(source) == ("RGB", 1):
        shutil.copyfile(source, target)  # already what we store: keep the bytes
    else:
        Image.fromarray(load_rgb(source)).save(target)


def same_stem(paths: Sequence[PurePath]) -> tuple[PurePath, PurePath] | None:
    """The first two of ``paths`` that share a stem (``img.png``, ``img.jpg``): both would be
    stored as ``img.png``, and one silently lost."""
    seen: dict[str, PurePath] = {}
    for path in paths:
        if (first := seen.setdefault(path.stem, path)) != path:
            return first, path
    return None


def safe_extract(archive: Path, member: str, out_dir: Path, *, kind: str) -> int:
    """Extract the images directly under ``member`` flat into ``out_dir`` as RGB PNG; return count.

    Every entry of the archive is checked first: absolute paths, ``..`` components and link or
    device entries raise ValueError before anything is written. Images are written into a
    temporary folder beside ``out_dir`` that replaces it only when all succeeded.
    """
    if kind not in ARCHIVE_KINDS:
        raise ValueError(f"archive kind {kind!r}; expected one of {ARCHIVE_KINDS}")
    archive, out_dir = Path(archive), Path(out_dir)
    folder = PurePosixPath(member.strip("/"))
    with _open_entries(archive, kind) as entries:
        for entry in entries:
            if (why := _unsafe(entry)) is not None:
                raise ValueError(f"{archive}: unsafe entry {entry.name!r} ({why}); nothing extracted")
        images = [entry for entry in entries if entry.type == "file"
                  and PurePosixPath(entry.name).parent == folder  # PurePosixPath drops "./"
                  and PurePosixPath(entry.name).suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            tops = sorted({parts[0] for entry in entries if (parts := PurePosixPath(entry.name).parts)})
            raise ValueError(f"{archive} holds no images under {str(folder)!r}; "
                             f"its top-level entries are {tops}")
        if pair := same_stem([PurePosixPath(entry.name) for entry in images]):
            raise ValueError(f"{archive}: images {pair[0]} and {pair[1]} would both be stored as "
                             f"{pair[0].stem}.png; nothing extracted")
        with atomic_dir(out_dir) as tmp:
            staging = tmp / ".from-archive"
            staging.mkdir()
            for entry in images:
                raw = staging / PurePosixPath(entry.name).name
                with entry.open() as source, open(raw, "wb") as handle:
                    shutil.copyfileobj(source, handle, CHUNK_BYTES)
                _store_rgb_png(raw, tmp / f"{raw.stem}.png")
                raw.unlink()
            staging.rmdir()
            count = len(list_images(tmp))
    log.info("extracted %d images of %s from %s into %s", count, folder, archive.name, out_dir)
    return count


def fetch_dataset(name: str, *, out_dir: Path, manifest: Path, download_dir: Path,
                  registry: Mapping[str, DatasetEntry] = REGISTRY,
                  archives: Mapping[str, Archive] = ARCHIVES, progress: bool = True) -> int:
    """Download (once per archive, into ``download_dir``), verify, extract a registry dataset.

    Writes ``out_dir/*.png`` and its MANIFEST and returns the image count. An archive fetched by
    hand and saved in ``download_dir`` under its URL's file name is verified and reused.
    """
    if name not in registry:
        raise ValueError(f"unknown dataset {name!r}; the registry has {sorted(registry)}")
    entry = registry[name]
    if entry.archive not in archives:
        raise ValueError(f"dataset {name!r} names archive {entry.archive!r}, not one of {sorted(archives)}")
    archive = archives[entry.archive]
    path = download(archive.url, Path(download_dir) / archive.filename, sha256=archive.sha256,
                    md5=archive.md5, size=archive.size, progress=progress)
    count = safe_extract(path, entry.member, Path(out_dir), kind=archive.kind)
    write_manifest(Path(out_dir), Path(manifest))
    log.info("dataset %s ready: %d images in %s", name, count, out_dir)
    return count


# --- the other sources ---------------------------------------------------------------------------

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


def _png_mode(path: Path) -> tuple[str, int | None]:
    """The PIL mode and EXIF orientation of a PNG, or ("", None) when it cannot be read (load_rgb
    then names the problem)."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.mode, image.getexif().get(EXIF_ORIENTATION, 1)
    except (OSError, SyntaxError):
        return "", None


def write_manifest(hr_dir: Path, manifest: Path) -> None:
    """Write ``name<TAB>width<TAB>height<TAB>sha256`` for every image of ``hr_dir``."""
    rows = ["name\twidth\theight\tsha256"]
    for path in list_images(hr_dir):
        with Image.open(path) as image:
            width, height = image.size
        rows.append(f"{path.name}\t{width}\t{height}\t{file_hash(path)}")
    write_text(manifest, "\n".join(rows) + "\n")


def prepare_dataset(*, source: str, out_dir: Path, manifest: Path,
                    images: list[str] | None = None, path: str | None = None,
                    name: str | None = None,
                    download_dir: Path = Path("resources/downloads")) -> int:
    """Materialise a dataset as ``out_dir/*.png`` (uint8 RGB) and its MANIFEST; return the count.

    ``images`` is for source skimage, ``path`` for folder, ``name`` (a REGISTRY key) and
    ``download_dir`` (archives, shared by the datasets of one archive) for registry.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown dataset source {source!r}; expected one of {SOURCES}")
    out_dir = Path(out_dir)
    if source == "registry":
        if not name:
            raise ValueError(f"source 'registry' needs name=, one of {sorted(REGISTRY)}")
        return fetch_dataset(name, out_dir=out_dir, manifest=Path(manifest),
                             download_dir=Path(download_dir))
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
            for file in files:
                _store_rgb_png(file, tmp / f"{file.stem}.png")
        count = len(list_images(tmp))
    write_manifest(out_dir, Path(manifest))
    log.info("dataset ready: %d images in %s", count, out_dir)
    return count
