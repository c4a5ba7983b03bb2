"""The dataset registry: which archive holds which dataset, and the checksum that pins its bytes.

Config source ``registry`` names a key of ``REGISTRY`` (DIV2K, the EDSR benchmark tar). URLs and
checksums are those published by TensorFlow Datasets (``div2k`` checksums file), torchSR
(``torchsr/datasets``) and the Hugging Face LFS pointers of the benchmark mirrors. This module
only describes; :mod:`srgan.download` fetches, :mod:`srgan.archive` extracts, and
``srgan.datasets.fetch_dataset`` ties them together.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

ARCHIVE_KINDS = ("zip", "tar", "tar.gz")
HASH_LENGTHS = {"sha256": 64, "md5": 32}  # hex digits


def expected_hash(*, sha256: str | None, md5: str | None) -> tuple[str, str]:
    """(algorithm, lowercase hex) from exactly one of sha256/md5; anything else is a ValueError.

    Shared by ``Archive`` and ``download`` so that a malformed pin fails where it is written,
    not after gigabytes have been fetched.
    """
    given = {name: value for name, value in (("sha256", sha256), ("md5", md5)) if value is not None}
    if len(given) != 1:
        raise ValueError(f"give exactly one of sha256= or md5=; got {sorted(given) or 'neither'}")
    [(algorithm, value)] = given.items()
    if not re.fullmatch(f"[0-9a-fA-F]{{{HASH_LENGTHS[algorithm]}}}", value):
        raise ValueError(f"{algorithm} {value!r} is not {HASH_LENGTHS[algorithm]} hex digits")
    return algorithm, value.lower()


@dataclass(frozen=True)
class Archive:
    """One downloadable archive; exactly one of ``sha256``/``md5`` (hex) pins its bytes."""

    url: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None  # bytes, when known: a wrong size fails before downloading
    kind: str = "zip"  # one of ARCHIVE_KINDS

    def __post_init__(self) -> None:
        expected_hash(sha256=self.sha256, md5=self.md5)
        if self.kind not in ARCHIVE_KINDS:
            raise ValueError(f"archive kind {self.kind!r} of {self.url}; expected one of {ARCHIVE_KINDS}")

    @property
    def filename(self) -> str:
        """The URL's own file name, so an archive fetched by hand can be dropped in and reused."""
        return PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(self.url).path)).name


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset is the folder ``member`` (holding the HR images) inside archive ``archive``;
    ``images`` is its published image count, which the plan-time checks use before anything is
    downloaded (a batch larger than the crops of an epoch, for instance)."""

    archive: str  # key of ARCHIVES
    member: str  # e.g. "benchmark/Set5/HR"
    images: int | None = None  # None: not published


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
    # Urban100. No source we checked publishes its size, so only the checksum pins it.
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
    "DIV2K_train": DatasetEntry("div2k_train_hr", "DIV2K_train_HR", images=800),
    "DIV2K_valid": DatasetEntry("div2k_valid_hr", "DIV2K_valid_HR", images=100),
    "Set5": DatasetEntry("benchmark", "benchmark/Set5/HR", images=5),
    "Set14": DatasetEntry("benchmark", "benchmark/Set14/HR", images=14),
    "B100": DatasetEntry("benchmark", "benchmark/B100/HR", images=100),
    "Urban100": DatasetEntry("benchmark", "benchmark/Urban100/HR", images=100),
}


def lookup(name: str, *, registry: Mapping[str, DatasetEntry] = REGISTRY,
           archives: Mapping[str, Archive] = ARCHIVES) -> tuple[DatasetEntry, Archive]:
    """The entry of dataset ``name`` and its archive; a ValueError listing the known names else.

    Checked before anything is downloaded or written, so a misspelt name costs no traffic.
    """
    if name not in registry:
        raise ValueError(f"unknown dataset {name!r}; the registry has {sorted(registry)}")
    entry = registry[name]
    if entry.archive not in archives:
        raise ValueError(f"dataset {name!r} names archive {entry.archive!r}, not one of {sorted(archives)}")
    return entry, archives[entry.archive]
