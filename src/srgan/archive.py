"""Safe extraction of one folder of images from a zip, tar or tar.gz archive.

``tarfile.extractall`` without a filter (the default before Python 3.14, PEP 706) writes ``../``
names, absolute paths, links and devices as they come, and a zip's symlink entries would come out
as small text files. So every entry is vetted before a byte is written: one unsafe entry anywhere
in the archive fails the whole extraction. The images go to a temporary folder that replaces the
target only once all of them are stored, so a failure leaves the target as it was.

How one image is stored (``srgan.datasets.store_rgb_png``: 8-bit RGB PNG, size-checked) is the
caller's ``store``; this module only decides what is safe to read and where it goes.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import IO, Protocol

from srgan.io import IMAGE_SUFFIXES, atomic_dir, list_images
from srgan.registry import ARCHIVE_KINDS

log = logging.getLogger(__name__)

COPY_BYTES = 1 << 20  # read size when copying an entry out of the archive


class Store(Protocol):
    """Write the image file ``source`` (a temporary copy of an entry) as ``target``; errors
    must name it as ``name`` (the archive and the entry), never as the temporary path."""

    def __call__(self, source: Path, target: Path, *, name: str) -> None: ...


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


def same_stem(paths: Sequence[PurePath]) -> tuple[PurePath, PurePath] | None:
    """The first two of ``paths`` that share a stem (``img.png``, ``img.jpg``): both would be
    stored as ``img.png``, and one silently lost."""
    seen: dict[str, PurePath] = {}
    for path in paths:
        if (first := seen.setdefault(path.stem, path)) != path:
            return first, path
    return None


def safe_extract(archive: Path, member: str, out_dir: Path, *, kind: str, store: Store) -> int:
    """Extract the images directly under ``member`` flat into ``out_dir`` as ``<stem>.png``,
    each written by ``store``; return the count.

    Every entry of the archive is checked first: absolute paths, ``..`` components and link or
    device entries raise ValueError before anything is written. Images are written into a
    temporary folder beside ``out_dir`` that replaces it only when all succeeded; ``store`` is
    told each image's name as ``<archive>: entry <name inside it>``, for its errors.
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
                    shutil.copyfileobj(source, handle, COPY_BYTES)
                store(raw, tmp / f"{raw.stem}.png", name=f"{archive}: entry {entry.name}")
                raw.unlink()
            staging.rmdir()
            count = len(list_images(tmp))
    log.info("extracted %d images of %s from %s into %s", count, folder, archive.name, out_dir)
    return count
