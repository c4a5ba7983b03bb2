"""srgan.archive: safe extraction. Unsafe entries (``..``, absolute paths, links, devices) fail
before a byte is written, only the images directly under the member are taken, a faulty image is
named by the archive and its entry, and a failure leaves the target as it was. Archives are built
here, inside tmp_path; none is downloaded."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from srgan.archive import safe_extract
from srgan.datasets import prepare_dataset, store_rgb_png
from srgan.registry import ARCHIVES, Archive


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _tar(path: Path, entries: list[tuple[str, str]]) -> Path:
    """entries: (name, "file" | "symlink" | "hardlink" | "fifo"); files hold a tiny PNG."""
    png = _png_bytes()
    with tarfile.open(path, "w") as tar:
        for name, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(png)
                tar.addfile(info, io.BytesIO(png))
                continue
            info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "fifo": tarfile.FIFOTYPE}[kind]
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return path


def _zip(path: Path, entries: list[tuple[str, str]]) -> Path:
    png = _png_bytes()
    with zipfile.ZipFile(path, "w") as archive:
        for name, kind in entries:
            info = zipfile.ZipInfo(name)
            if kind == "symlink":
                info.external_attr = (0o120777 << 16)
                archive.writestr(info, "/etc/passwd")
            else:
                archive.writestr(info, png)
    return path


GOOD = ("benchmark/Set5/HR/a.png", "file")


@pytest.mark.parametrize(("kind", "bad", "why"), [
    ("tar", ("benchmark/Set5/HR/../../../../evil.png", "file"), "'..' component"),
    ("tar", ("../evil.png", "file"), "'..' component"),
    ("tar", ("ABS", "file"), "absolute path"),
    ("tar", ("benchmark/Set5/HR/link.png", "symlink"), "symlink entry"),
    ("tar", ("benchmark/Set5/HR/hard.png", "hardlink"), "hardlink entry"),
    ("tar", ("benchmark/Set5/HR/pipe.png", "fifo"), "device entry"),
    ("zip", ("../evil.png", "file"), "'..' component"),
    ("zip", ("ABS", "file"), "absolute path"),
    ("zip", ("benchmark/Set5/HR/link.png", "symlink"), "symlink entry"),
])
def test_unsafe_entries_are_rejected_before_writing(tmp_path: Path, kind: str, bad: tuple[str, str],
                                                    why: str) -> None:
    absolute = tmp_path / "abs" / "evil.png"
    bad = (str(absolute) if bad[0] == "ABS" else bad[0], bad[1])
    root = tmp_path / "a" / "b"
    root.mkdir(parents=True)
    archive = (_tar if kind == "tar" else _zip)(tmp_path / f"x.{kind}", [GOOD, bad])
    with pytest.raises(ValueError, match=rf"unsafe entry '{re.escape(bad[0])}' \({why}\)"):
        safe_extract(archive, "benchmark/Set5/HR", root / "HR", kind=kind, store=store_rgb_png)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert written == ["a", "a/b", f"x.{kind}"]


def test_tar_gz_extracts_only_direct_images_of_member(tmp_path: Path) -> None:
    png = _png_bytes()
    with tarfile.open(tmp_path / "x.tar.gz", "w:gz") as tar:
        for name in ("./Set5_HR/a.png", "Set5_HR/notes.txt", "Set5_HR/sub/b.png", "other/c.png"):
            info = tarfile.TarInfo(name)
            info.size = len(png)
            tar.addfile(info, io.BytesIO(png))
    count = safe_extract(tmp_path / "x.tar.gz", "Set5_HR/", tmp_path / "HR", kind="tar.gz",
                         store=store_rgb_png)
    assert count == 1
    assert [p.name for p in (tmp_path / "HR").iterdir()] == ["a.png"]


def test_no_images_under_member_lists_top_folders(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "x.tar", [("benchmark/Set5/LR_bicubic/X4/ax4.png", "file"),
                                        ("other/b.png", "file")])
    with pytest.raises(ValueError, match=r"no images under 'benchmark/Set5/HR'.*\['benchmark', 'other'\]"):
        safe_extract(archive, "benchmark/Set5/HR", tmp_path / "HR", kind="tar", store=store_rgb_png)
    with pytest.raises(ValueError, match=r"archive kind 'rar'; expected one of"):
        safe_extract(archive, "benchmark/Set5/HR", tmp_path / "HR", kind="rar", store=store_rgb_png)
    assert not (tmp_path / "HR").exists()


def test_images_sharing_a_name_in_an_archive_are_an_error_naming_both(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "x.tar", [("benchmark/Set5/HR/img.png", "file"),
                                        ("benchmark/Set5/HR/img.bmp", "file")])
    with pytest.raises(ValueError, match=r"images benchmark/Set5/HR/img\.png and benchmark/Set5/HR/img\.bmp "
                                         r"would both be stored as img\.png; nothing extracted"):
        safe_extract(archive, "benchmark/Set5/HR", tmp_path / "HR", kind="tar", store=store_rgb_png)
    assert not (tmp_path / "HR").exists()


# --- faults inside an image entry ----------------------------------------------------------------

def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(("kind", "old_content"), [("tar", True), ("zip", False)])
def test_a_non_image_entry_is_an_error_naming_the_archive_and_the_entry(
        tmp_path: Path, kind: str, old_content: bool) -> None:
    archive = tmp_path / f"benchmark.{kind}"
    notes = b"not a picture: the scores of Set5, as text\n"
    if kind == "tar":
        with tarfile.open(archive, "w") as tar:
            _add(tar, "benchmark/Set5/HR/a.png", _png_bytes())
            _add(tar, "benchmark/Set5/HR/notes.png", notes)
    else:
        with zipfile.ZipFile(archive, "w") as handle:
            handle.writestr("benchmark/Set5/HR/a.png", _png_bytes())
            handle.writestr("benchmark/Set5/HR/notes.png", notes)
    out = tmp_path / "Set5" / "HR"
    if old_content:
        out.mkdir(parents=True)
        (out / "old.png").write_bytes(b"the previous extraction")
    with pytest.raises(ValueError, match=rf"{re.escape(str(archive))}: entry "
                                         r"benchmark/Set5/HR/notes\.png: not an image") as caught:
        safe_extract(archive, "benchmark/Set5/HR", out, kind=kind, store=store_rgb_png)
    assert ".from-archive" not in str(caught.value) and ".tmp-" not in str(caught.value)
    if old_content:
        assert [(p.name, p.read_bytes()) for p in out.iterdir()] == [("old.png", b"the previous extraction")]
    else:
        assert not out.exists()
    assert not list(tmp_path.rglob(".tmp-*"))


# --- the pixel limit, for both sources of user images --------------------------------------------

@pytest.mark.parametrize("mode", ["RGB", "L"])  # RGB PNGs are copied byte for byte, L converted
@pytest.mark.parametrize("source", ["folder", "registry"])
def test_an_image_over_max_pixels_is_an_error_naming_it_and_the_config_key(
        tmp_path: Path, monkeypatch, source: str, mode: str) -> None:
    """A 40x40 image against a limit of 1000 pixels: the error names the file (the archive and
    its entry for a download) and the config key, and no dataset is written."""
    buffer = io.BytesIO()
    Image.new(mode, (40, 40), 128).save(buffer, format="PNG")
    big = buffer.getvalue()
    out = tmp_path / "datasets" / "Set5"
    if source == "folder":
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "big.png").write_bytes(big)
        kwargs = dict(source="folder", path=str(tmp_path / "in"))
        shown = str(tmp_path / "in" / "big.png")
    else:
        # An archive already in download_dir is verified and reused: no request is made.
        (tmp_path / "dl").mkdir()
        with tarfile.open(tmp_path / "dl" / "benchmark.tar", "w") as tar:
            _add(tar, "benchmark/Set5/HR/big.png", big)
        digest = hashlib.md5((tmp_path / "dl" / "benchmark.tar").read_bytes()).hexdigest()
        monkeypatch.setitem(ARCHIVES, "benchmark", Archive(url="http://127.0.0.1:9/benchmark.tar",
                                                           md5=digest, kind="tar"))
        kwargs = dict(source="registry", name="Set5", download_dir=tmp_path / "dl")
        shown = f"{tmp_path / 'dl' / 'benchmark.tar'}: entry benchmark/Set5/HR/big.png"
    with pytest.raises(ValueError, match=rf"image {re.escape(shown)} is 40x40 .*max_image_pixels"):
        prepare_dataset(out_dir=out / "HR", manifest=out / "MANIFEST.tsv", max_pixels=1000, **kwargs)
    assert list(out.iterdir()) == []  # no HR, no MANIFEST, no temporary left behind
    # At the limit, and with no limit, the same image is stored.
    for limit in (1600, None):
        assert prepare_dataset(out_dir=out / "HR", manifest=out / "MANIFEST.tsv", max_pixels=limit,
                               **kwargs) == 1
