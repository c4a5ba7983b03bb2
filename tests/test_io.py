"""srgan.io: image conversions that must not silently alter pixels, and files readable as the
umask says (issue: bad input gets a clear error and loses nothing)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srgan.datasets import prepare_dataset
from srgan.io import atomic_dir, atomic_path, load_rgb, save_png

ORIENTATION = 0x0112  # the EXIF tag


def _with_orientation(array: np.ndarray, path: Path, orientation: int) -> Path:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    Image.fromarray(array).save(path, exif=exif)
    return path


def test_exif_orientation_is_applied_with_a_log_line(tmp_path: Path, caplog) -> None:
    array = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    path = _with_orientation(array, tmp_path / "turned.png", 6)  # "rotate 90 CW to display"
    with caplog.at_level(logging.INFO):
        shown = load_rgb(path)
    assert np.array_equal(shown, np.rot90(array, k=-1))
    assert "turned.png: EXIF orientation 6 applied" in caplog.text
    plain = load_rgb(_with_orientation(array, tmp_path / "plain.png", 1))
    assert np.array_equal(plain, array)


def test_a_folder_dataset_stores_oriented_jpegs_upright(tmp_path: Path) -> None:
    array = np.zeros((32, 48, 3), dtype=np.uint8)
    array[:8, :8] = 255  # a white top-left corner
    (tmp_path / "in").mkdir()
    _with_orientation(array, tmp_path / "in" / "photo.jpg", 6)
    prepare_dataset(source="folder", path=str(tmp_path / "in"), out_dir=tmp_path / "HR",
                    manifest=tmp_path / "MANIFEST.tsv")
    stored = load_rgb(tmp_path / "HR" / "photo.png")
    assert stored.shape == (48, 32, 3)
    assert stored[:8, -8:].mean() > 200 and stored[:8, :8].mean() < 50  # the corner went top-right


def test_16_bit_images_are_divided_by_257_not_stretched(tmp_path: Path, caplog) -> None:
    values = np.array([[0, 257, 63500], [65535, 32768, 1000]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    with caplog.at_level(logging.INFO):
        rgb = load_rgb(tmp_path / "deep.png")
    expected = np.round(values / 257).astype(np.uint8)
    assert np.array_equal(rgb[..., 0], expected) and rgb[0, 2, 0] == 247
    assert np.array_equal(rgb[..., 0], rgb[..., 2])
    assert "deep.png: 16-bit" in caplog.text


def test_cmyk_becomes_rgb_with_a_log_line(tmp_path: Path, caplog) -> None:
    Image.new("CMYK", (4, 3), (0, 255, 255, 0)).save(tmp_path / "print.jpg")  # pure red ink
    with caplog.at_level(logging.INFO):
        rgb = load_rgb(tmp_path / "print.jpg")
    assert rgb.shape == (3, 4, 3) and rgb[..., 0].min() > 200 and rgb[..., 1:].max() < 60
    assert "print.jpg: converting mode CMYK to RGB" in caplog.text


def test_images_sharing_a_name_in_a_folder_are_an_error_naming_both(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for suffix in (".png", ".bmp"):
        Image.new("RGB", (8, 8)).save(tmp_path / "in" / f"img{suffix}")
    Image.new("RGB", (8, 8)).save(tmp_path / "in" / "other.png")
    with pytest.raises(ValueError, match=r"img\.bmp and .*img\.png would both be stored as img\.png"):
        prepare_dataset(source="folder", path=str(tmp_path / "in"), out_dir=tmp_path / "HR",
                        manifest=tmp_path / "MANIFEST.tsv")
    assert not (tmp_path / "HR").exists()


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_outputs_are_readable_as_the_umask_says(tmp_path: Path, umask_022) -> None:
    save_png(tmp_path / "out.png", np.zeros((2, 2, 3), dtype=np.uint8))
    with atomic_path(tmp_path / "table.csv") as tmp:
        tmp.write_text("a,b\n")
    with atomic_dir(tmp_path / "images") as tmp:
        (tmp / "x.txt").write_text("x")
    assert stat.S_IMODE((tmp_path / "out.png").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "table.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "images").stat().st_mode) == 0o755
    os.umask(0o077)
    save_png(tmp_path / "private.png", np.zeros((2, 2, 3), dtype=np.uint8))
    assert stat.S_IMODE((tmp_path / "private.png").stat().st_mode) == 0o600


def _png_bytes(shape: tuple[int, int] = (40, 40)) -> bytes:
    import io as _io

    buffer = _io.BytesIO()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "the file is empty (0 bytes)"),
    (b"just some text, no pixels\n", "not an image file Pillow can decode"),
    (_png_bytes()[:300], "truncated or corrupt"),  # a download cut short
    (_png_bytes()[:60] + bytes(200) + _png_bytes()[260:], "truncated or corrupt"),  # bad CRC
])
def test_a_faulty_image_file_is_an_error_naming_it(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="photo.png") as error:
        load_rgb(path)
    assert expected in str(error.value)
    assert str(path) in str(error.value)


def test_an_image_above_the_pixel_limit_fails_before_decoding(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_bytes((50, 40)))
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self) or None)
    with pytest.raises(ValueError, match=r"bomb\.png is 40x50 = 2,000 pixels, more than the limit of 1,999") as error:
        load_rgb(path, max_pixels=1999)
    assert "max_image_pixels" in str(error.value) and not decoded
    monkeypatch.undo()
    assert load_rgb(path, max_pixels=2000).shape == (50, 40, 3)
    assert load_rgb(path, max_pixels=None).shape == (50, 40, 3)


def test_pillows_own_bomb_guard_is_replaced_by_ours(tmp_path: Path) -> None:
    # Pillow raises a DecompressionBombError naming neither file nor setting above 2x its
    # MAX_IMAGE_PIXELS; the default limit must be ours, and a 400-megapixel header (a PNG that
    # claims 20000x20000) must give our message, not Pillow's, and allocate nothing.
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    (tmp_path / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                                        + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    with pytest.raises(ValueError, match=r"huge\.png is 20000x20000 = 400,000,000 pixels, more than the limit of 64,000,000"):
        load_rgb(tmp_path / "huge.png")


def test_non_images_in_an_image_folder_are_named_errors_or_named_as_ignored(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    (folder / "labels.txt").write_text("a: cat\n")
    with caplog.at_level(logging.WARNING):
        assert prepare_dataset(source="folder", path=str(folder), out_dir=tmp_path / "HR",
                               manifest=tmp_path / "MANIFEST.tsv") == 1
    assert "ignored 1 files that are not images by their suffix: labels.txt" in caplog.text
    (folder / "b.jpg").write_text("not a jpeg at all")  # an image by its name only
    with pytest.raises(ValueError, match=r"cannot read image .*b\.jpg: not an image file"):
        prepare_dataset(source="folder", path=str(folder), out_dir=tmp_path / "HR2",
                        manifest=tmp_path / "MANIFEST2.tsv")
    assert not (tmp_path / "HR2").exists()
