"""``srgan upscale`` on people's photographs: tiles equal the whole image, folders recurse, every
kind of input is read as the pipeline reads it, the output format follows the extension, and every
error comes before the model is loaded and names the path."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms
from tqdm import tqdm

import srgan.checkpoint
import srgan.upscale
from conftest import CreatesAFile, fill, trained_bn_generator
from srgan.checkpoint import save_checkpoint
from srgan.cli import main
from srgan.evaluate import super_resolve, super_resolve_float
from srgan.imresize import imresize
from srgan.io import EXIF_ORIENTATION
from srgan.models import Discriminator, receptive_radius

CPU = torch.device("cpu")


def save_generator(path: Path, generator) -> Path:
    args = {"num_blocks": len(generator.trunk) - 2, "channels": generator.head[0].out_channels,
            "upsample": "pixelshuffle", "scale": 4}
    save_checkpoint(path, {"kind": "generator", "generator": generator.state_dict(), "model_args": args})
    return path


@pytest.fixture
def checkpoint(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    """A small generator with trained-looking BN statistics, saved as a checkpoint."""
    generator = trained_bn_generator(num_blocks=2, channels=16)
    return save_generator(tmp_path / "g.pt", generator), generator


def random_rgb(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def run(source: Path, target: Path, checkpoint: Path, *flags: str) -> int:
    return main(["upscale", str(source), str(target), "--checkpoint", str(checkpoint), "--device", "cpu", *flags])


def sr_of(generator, rgb: np.ndarray) -> np.ndarray:
    return super_resolve(generator, rgb, device=CPU)


def assert_sr_equal(result: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to a flipped rounding tie (tiles and the whole image sum floats in other orders)."""
    assert result.shape == expected.shape
    levels = np.abs(result.astype(int) - expected.astype(int))
    assert levels.max() <= 1 and (levels > 0).mean() <= 1e-3


# --- the tiler, at the paper's depth ------------------------------------------------------------


def test_tiles_equal_the_whole_image_for_a_16_block_generator() -> None:
    generator = trained_bn_generator(num_blocks=16, channels=64)
    lr = random_rgb((70, 61))  # 3 x 3 tiles of 32 with the 40-pixel overlap
    whole = super_resolve_float(generator, lr, device=CPU)
    assert whole.std() > 1e-3
    for batch in (1, 4):  # the four corner tiles share a shape and run as one batch of 4
        tiled = super_resolve_float(generator, lr, device=CPU, tile=32, batch=batch)
        assert np.abs(tiled - whole).max() <= 1e-5, batch


def test_tiles_of_one_shape_run_as_one_batch() -> None:
    generator = trained_bn_generator(num_blocks=1, channels=8)
    batches = []
    generator.head.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    lr = random_rgb((80, 80))  # 10 x 10 tiles of 8, reading 10 pixels (the radius) around them
    one = super_resolve_float(generator, lr, device=CPU, tile=8)
    assert receptive_radius(generator) == 10 and batches == [1] * 100
    batches.clear()
    four = super_resolve_float(generator, lr, device=CPU, tile=8, batch=4)
    # Along each side, the tiles starting at 16 to 56 read 28 pixels and keep the middle 8; the
    # other four (0, 8, 64, 72) each read and keep a part of their own. So 36 interior tiles run
    # in 9 batches of 4, the 8 edge strips of 6 tiles in 4 + 2 each, and 16 tiles alone.
    assert sorted(batches, reverse=True) == [4] * 17 + [2] * 8 + [1] * 16
    assert np.abs(one - four).max() <= 1e-6


# --- the command on one file --------------------------------------------------------------------


class RecordedBar(tqdm):
    """tqdm that records each bar's unit, total and final count (bars that do not stay on screen
    leave nothing to read in stderr)."""

    closed: list[tuple[str, int, int]] = []

    def close(self) -> None:
        if not self.disable:
            RecordedBar.closed.append((self.unit, self.total, self.n))
        super().close()


@pytest.fixture
def bars(monkeypatch) -> list[tuple[str, int, int]]:
    RecordedBar.closed = []
    monkeypatch.setattr(srgan.upscale, "tqdm", RecordedBar)
    return RecordedBar.closed


def test_a_file_is_tiled_like_the_whole_image(tmp_path: Path, checkpoint, caplog, bars) -> None:
    path, generator = checkpoint
    lr = random_rgb((37, 45))
    Image.fromarray(lr).save(tmp_path / "in.png")
    assert run(tmp_path / "in.png", tmp_path / "out.png", path, "--tile", "8") == 0
    with Image.open(tmp_path / "out.png") as image:
        assert image.format == "PNG"
        assert_sr_equal(np.asarray(image), sr_of(generator, lr))
    assert f"tile 8, overlap {receptive_radius(generator)}" in caplog.text
    assert bars == [("tile", 30, 30)]  # ceil(37 / 8) x ceil(45 / 8) tiles; one file: no file bar
    # --overlap reaches the tiler: without any, the tile seams differ from the whole image.
    assert run(tmp_path / "in.png", tmp_path / "seams.png", path, "--tile", "8", "--overlap", "0") == 0
    seams = np.asarray(Image.open(tmp_path / "seams.png")).astype(int)
    assert np.abs(seams - sr_of(generator, lr).astype(int)).max() > 1


def test_a_file_into_a_folder_keeps_its_name(tmp_path: Path, checkpoint) -> None:
    Image.fromarray(random_rgb((9, 7))).save(tmp_path / "photo.jpg")
    (tmp_path / "out").mkdir()
    assert run(tmp_path / "photo.jpg", tmp_path / "out", checkpoint[0]) == 0
    with Image.open(tmp_path / "out" / "photo.jpg") as image:
        assert image.format == "JPEG" and image.size == (28, 36)


# --- folders ------------------------------------------------------------------------------------


def test_a_folder_is_upscaled_recursively_keeping_relative_names(tmp_path: Path, checkpoint, bars) -> None:
    path, generator = checkpoint
    photos = tmp_path / "photos"
    (photos / "trip" / "day 2").mkdir(parents=True)
    images = {"a.png": random_rgb((10, 12), 1), "trip/b.png": random_rgb((8, 9), 2),
              "trip/day 2/c.bmp": random_rgb((11, 6), 3)}
    for name, rgb in images.items():
        Image.fromarray(rgb).save(photos / name)
    (photos / "trip" / "notes.txt").write_text("not an image, and not named like one")
    out = photos / "x4"  # an output folder inside the input folder
    assert run(photos, out, path) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["a.png", "trip/b.png", "trip/day 2/c.png"]  # BMP is written as PNG
    for name, rgb in images.items():
        result = np.asarray(Image.open(out / Path(name).with_suffix(".png")))
        assert np.array_equal(result, sr_of(generator, rgb)), name  # each fits one tile
    assert bars == [("tile", 1, 1)] * 3 + [("image", 3, 3)]  # a bar over files, one over tiles
    # A rerun does not take the outputs inside the input folder for inputs.
    assert run(photos, out, path, "--format", "webp") == 0
    assert sorted(p.name for p in out.rglob("*.webp")) == ["a.webp", "b.webp", "c.webp"]
    assert not (out / "x4").exists()


def test_skip_existing_continues_an_interrupted_folder(tmp_path: Path, checkpoint) -> None:
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for name in ("a", "b"):
        Image.fromarray(random_rgb((6, 6))).save(photos / f"{name}.png")
    out.mkdir()
    (out / "a.png").write_bytes(b"kept as it is")
    assert run(photos, out, checkpoint[0], "--skip-existing") == 0
    assert (out / "a.png").read_bytes() == b"kept as it is"
    assert Image.open(out / "b.png").size == (24, 24)
    assert run(photos, out, checkpoint[0]) == 0  # without the flag, outputs are replaced
    assert Image.open(out / "a.png").size == (24, 24)


def test_format_for_a_file_must_agree_with_its_extension(tmp_path: Path, checkpoint, capsys) -> None:
    Image.fromarray(random_rgb((6, 6))).save(tmp_path / "in.png")
    assert run(tmp_path / "in.png", tmp_path / "out.jpg", checkpoint[0], "--format", "jpeg") == 0
    with Image.open(tmp_path / "out.jpg") as image:
        assert image.format == "JPEG"
    assert run(tmp_path / "in.png", tmp_path / "out.png", checkpoint[0], "--format", "webp") == 2
    assert ("its extension says PNG, but --format says webp; the extension decides for a file"
            in capsys.readouterr().err)
    assert not (tmp_path / "out.png").exists()


def test_two_inputs_that_would_share_an_output_are_refused(tmp_path: Path, checkpoint, capsys) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(random_rgb((6, 6))).save(photos / "a.bmp")
    Image.fromarray(random_rgb((6, 6))).save(photos / "a.tif")
    assert run(photos, tmp_path / "out", checkpoint[0]) == 2
    assert "would all be written to" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- inputs read as the pipeline reads them -----------------------------------------------------


def test_grayscale_palette_and_16_bit_inputs(tmp_path: Path, checkpoint) -> None:
    path, generator = checkpoint
    gray = np.random.default_rng(0).integers(0, 256, (9, 10), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(random_rgb((9, 10))).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "pal.png")
    deep = np.random.default_rng(1).integers(0, 65536, (9, 10), dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")  # 16-bit grayscale PNG
    expected = {"gray": np.repeat(gray[..., None], 3, axis=2),
                "pal": np.asarray(Image.open(tmp_path / "pal.png").convert("RGB")),
                "deep": np.repeat(np.round(deep / 257).astype(np.uint8)[..., None], 3, axis=2)}
    for name, rgb in expected.items():
        assert run(tmp_path / f"{name}.png", tmp_path / f"{name}-x4.png", path) == 0
        with Image.open(tmp_path / f"{name}-x4.png") as image:
            assert image.mode == "RGB"
            assert np.array_equal(np.asarray(image), sr_of(generator, rgb)), name


def test_rgba_alpha_is_bicubic_upscaled_and_reattached(tmp_path: Path, checkpoint) -> None:
    path, generator = checkpoint
    rgb = random_rgb((12, 10))
    alpha = np.random.default_rng(5).integers(0, 256, (12, 10), dtype=np.uint8)
    alpha[:4] = 0  # fully transparent rows whose colour is not white: compositing would show
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "logo.png")
    for out in ("logo-x4.png", "logo-x4.webp"):
        assert run(tmp_path / "logo.png", tmp_path / out, path, "--quality", "100") == 0
    with Image.open(tmp_path / "logo-x4.png") as image:
        assert image.mode == "RGBA"
        result = np.asarray(image)
    assert np.array_equal(result[..., 3], imresize(alpha, 4))
    assert np.array_equal(result[..., :3], sr_of(generator, rgb))  # the straight colour's SR
    with Image.open(tmp_path / "logo-x4.webp") as image:
        assert image.mode == "RGBA"
    # JPEG has no alpha: composited on white, as the pipeline composites RGBA inputs.
    assert run(tmp_path / "logo.png", tmp_path / "logo-x4.jpg", path) == 0
    with Image.open(tmp_path / "logo-x4.jpg") as image:
        assert image.mode == "RGB"
        top = np.asarray(image)[:8]  # transparent in the input, beyond bicubic reach: white
    assert top.min() >= 240


def test_exif_orientation_is_applied_and_the_rest_of_exif_kept(tmp_path: Path, checkpoint) -> None:
    path, generator = checkpoint
    stored = random_rgb((8, 14))  # as the camera stored it: 14 wide, 8 high
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # "rotate 90 degrees clockwise to view"
    exif[0x010F] = "Camera Maker"
    Image.fromarray(stored).save(tmp_path / "photo.png", exif=exif.tobytes())
    assert run(tmp_path / "photo.png", tmp_path / "photo-x4.png", path) == 0
    upright = np.rot90(stored, k=-1)  # 8 wide, 14 high
    with Image.open(tmp_path / "photo-x4.png") as image:
        assert image.size == (32, 56)
        assert np.array_equal(np.asarray(image), sr_of(generator, np.ascontiguousarray(upright)))
        written = image.getexif()
    assert written.get(EXIF_ORIENTATION, 1) == 1  # a viewer must not rotate it a second time
    assert written[0x010F] == "Camera Maker"


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_the_icc_profile_is_kept(tmp_path: Path, checkpoint, suffix: str) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # not sRGB
    Image.fromarray(random_rgb((8, 8))).save(tmp_path / "in.png", icc_profile=profile)
    assert run(tmp_path / "in.png", tmp_path / f"out{suffix}", checkpoint[0]) == 0
    with Image.open(tmp_path / f"out{suffix}") as image:
        assert image.info.get("icc_profile") == profile


# --- output formats -----------------------------------------------------------------------------


def test_the_output_format_follows_the_extension(tmp_path: Path, checkpoint) -> None:
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.integers(0, 3, (24, 24, 3)), axis=1).clip(0, 255).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "in.png")
    formats = {"out.png": "PNG", "out.jpg": "JPEG", "out.JPEG": "JPEG", "out.webp": "WEBP"}
    for name, fmt in formats.items():
        assert run(tmp_path / "in.png", tmp_path / name, checkpoint[0]) == 0
        with Image.open(tmp_path / name) as image:
            assert image.format == fmt and image.size == (96, 96), name
    sizes = {}
    for quality in ("20", "95"):
        assert run(tmp_path / "in.png", tmp_path / f"q{quality}.jpg", checkpoint[0], "--quality", quality) == 0
        sizes[quality] = (tmp_path / f"q{quality}.jpg").stat().st_size
    assert sizes["20"] < sizes["95"] / 2  # --quality reaches the encoder


@pytest.mark.parametrize("name", ["out.gif", "out.tiff", "out"])
def test_an_unknown_output_extension_is_refused_before_loading(tmp_path: Path, checkpoint, capsys,
                                                              monkeypatch, name: str) -> None:
    loaded = []
    monkeypatch.setattr(srgan.checkpoint, "load_checkpoint", lambda *a, **k: loaded.append(a))
    Image.fromarray(random_rgb((6, 6))).save(tmp_path / "in.png")
    assert run(tmp_path / "in.png", tmp_path / name, checkpoint[0]) == 2
    err = capsys.readouterr().err
    assert f"output {tmp_path / name}: cannot write" in err and ".png, .jpg, .jpeg, .webp" in err
    assert loaded == [] and not (tmp_path / name).exists()


# --- every error before the model is loaded, naming the path -------------------------------------


@pytest.fixture
def no_loading(monkeypatch) -> list:
    """Records every checkpoint load: errors in the job must come before any."""
    loaded: list = []
    monkeypatch.setattr(srgan.checkpoint, "load_checkpoint", lambda *a, **k: loaded.append(a))
    return loaded


def test_a_missing_input_is_named(tmp_path: Path, checkpoint, capsys, no_loading) -> None:
    assert run(tmp_path / "nope.png", tmp_path / "out.png", checkpoint[0]) == 2
    assert f"input {tmp_path / 'nope.png'} does not exist" in capsys.readouterr().err
    assert no_loading == []


def test_every_bad_input_of_a_folder_is_named_at_once(tmp_path: Path, checkpoint, capsys, no_loading) -> None:
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    Image.fromarray(random_rgb((6, 6))).save(photos / "good.png")
    (photos / "sub" / "text.jpg").write_text("this is not a JPEG")
    (photos / "empty.png").write_bytes(b"")
    assert run(photos, tmp_path / "out", checkpoint[0]) == 2
    err = capsys.readouterr().err
    assert "2 problems found before loading the model" in err
    assert f"cannot read image {photos / 'sub' / 'text.jpg'}: not an image file" in err
    assert f"cannot read image {photos / 'empty.png'}: the file is empty" in err
    assert no_loading == [] and not (tmp_path / "out").exists()


def test_an_unwritable_output_is_named(tmp_path: Path, checkpoint, capsys, no_loading) -> None:
    Image.fromarray(random_rgb((6, 6))).save(tmp_path / "in.png")
    (tmp_path / "file").write_text("a file where a folder is needed")
    assert run(tmp_path / "in.png", tmp_path / "file" / "sub" / "out.png", checkpoint[0]) == 2
    assert f"{tmp_path / 'file'} is a file, not a folder" in capsys.readouterr().err
    assert run(tmp_path / "in.png", tmp_path / "in.png", checkpoint[0]) == 2
    assert "is the input itself" in capsys.readouterr().err
    assert no_loading == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders (the next test "
                                             "covers root, with a read-only file system)")
def test_a_read_only_output_folder_is_named(tmp_path: Path, checkpoint, capsys, no_loading) -> None:
    Image.fromarray(random_rgb((6, 6))).save(tmp_path / "in.png")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    assert run(tmp_path / "in.png", tmp_path / "ro" / "out.png", checkpoint[0]) == 2
    assert f"cannot write in folder {tmp_path / 'ro'} (permission denied)" in capsys.readouterr().err
    assert no_loading == []


def test_a_read_only_file_system_is_named(tmp_path: Path, checkpoint, capsys, no_loading,
                                          read_only_disk: Path) -> None:
    Image.fromarray(random_rgb((6, 6))).save(tmp_path / "in.png")
    assert run(tmp_path / "in.png", read_only_disk / "sub" / "out.png", checkpoint[0]) == 2
    assert (f"cannot write in folder {read_only_disk} (a read-only file system)"
            in capsys.readouterr().err)
    assert no_loading == []


def test_a_full_disk_fails_the_photo_and_leaves_nothing(tmp_path: Path, checkpoint, capsys,
                                                       small_disk: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a", "b"):
        Image.fromarray(random_rgb((40, 40))).save(photos / f"{name}.png")
    fill(small_disk)
    assert run(photos, small_disk / "out", checkpoint[0]) == 1
    err = capsys.readouterr().err
    assert "srgan upscale: 2 failed" in err and f"cannot write {small_disk / 'out' / 'a.png'}" in err
    assert "No space left on device" in err
    assert [p.name for p in small_disk.rglob("*") if p.is_file()] == ["filler"]


def test_a_missing_checkpoint_is_named(tmp_path: Path, capsys) -> None:
    Image.fromarray(random_rgb((6, 6))).save(tmp_path / "in.png")
    assert run(tmp_path / "in.png", tmp_path / "out.png", tmp_path / "missing.pt") == 2
    assert f"checkpoint {tmp_path / 'missing.pt'} does not exist" in capsys.readouterr().err


def test_a_discriminator_is_not_a_generator(tmp_path: Path, capsys, monkeypatch) -> None:
    built = []
    monkeypatch.setattr(srgan.upscale, "upscale_jobs", lambda *a, **k: built.append(a) or [])
    save_checkpoint(tmp_path / "d.pt", {"kind": "discriminator", "input_size": 16,
                                        "discriminator": Discriminator(input_size=16).state_dict()})
    Image.fromarray(random_rgb((6, 6))).save(tmp_path / "in.png")
    assert run(tmp_path / "in.png", tmp_path / "out.png", tmp_path / "d.pt") == 2
    assert (f"{tmp_path / 'd.pt'} is not a generator checkpoint (it holds a discriminator checkpoint)"
            in capsys.readouterr().err)
    assert built == [] and not (tmp_path / "out.png").exists()


def test_a_crafted_checkpoint_runs_nothing(tmp_path: Path, capsys) -> None:
    witness = tmp_path / "pwned"
    torch.save({"kind": "generator", "model_args": CreatesAFile(witness), "generator": {}},
               tmp_path / "evil.pt")
    Image.fromarray(random_rgb((6, 6))).save(tmp_path / "in.png")
    assert run(tmp_path / "in.png", tmp_path / "out.png", tmp_path / "evil.pt") == 2
    assert f"refused to load checkpoint {tmp_path / 'evil.pt'}" in capsys.readouterr().err
    assert not witness.exists() and not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("flags, message", [
    (("--tile", "-1"), "--tile must be >= 0 (0: whole image), got -1"),
    (("--overlap", "-1"), "--overlap must be >= 0, got -1"),
    (("--batch", "0"), "--batch must be >= 1, got 0"),
    (("--quality", "101"), "--quality must be <= 100, got 101")])
def test_bad_numbers_are_refused(tmp_path: Path, checkpoint, capsys, flags, message) -> None:
    Image.fromarray(random_rgb((6, 6))).save(tmp_path / "in.png")
    with pytest.raises(SystemExit) as raised:
        run(tmp_path / "in.png", tmp_path / "out.png", checkpoint[0], *flags)
    assert raised.value.code == 2 and message in capsys.readouterr().err


def test_a_truncated_photo_fails_alone_and_leaves_nothing(tmp_path: Path, checkpoint, capsys) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(random_rgb((20, 20))).save(photos / "good.png")
    buffer = io.BytesIO()
    Image.fromarray(random_rgb((64, 64))).save(buffer, format="PNG")
    (photos / "cut.png").write_bytes(buffer.getvalue()[:300])  # the header reads; the pixels do not
    assert run(photos, tmp_path / "out", checkpoint[0]) == 1
    err = capsys.readouterr().err
    assert "srgan upscale: 1 failed" in err and f"cannot read image {photos / 'cut.png'}: truncated or corrupt" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]  # no .tmp-* left


# --- --half ---------------------------------------------------------------------------------------


def test_half_runs_bf16_only_where_the_cpu_has_it(tmp_path: Path, checkpoint, monkeypatch, caplog) -> None:
    path, generator = checkpoint
    lr = random_rgb((16, 16))
    Image.fromarray(lr).save(tmp_path / "in.png")
    fp32 = sr_of(generator, lr)
    monkeypatch.setattr(srgan.upscale, "cpu_has_native_bf16", lambda: False)
    assert run(tmp_path / "in.png", tmp_path / "emulated.png", path, "--half") == 0
    assert "no native bf16" in caplog.text
    assert np.array_equal(np.asarray(Image.open(tmp_path / "emulated.png")), fp32)
    monkeypatch.setattr(srgan.upscale, "cpu_has_native_bf16", lambda: True)
    assert run(tmp_path / "in.png", tmp_path / "bf16.png", path, "--half") == 0
    bf16 = np.asarray(Image.open(tmp_path / "bf16.png")).astype(int)
    difference = np.abs(bf16 - fp32.astype(int))
    assert difference.max() > 0  # bf16 autocast did run
    assert difference.mean() < 3  # and is the same image to within bf16's 8-bit mantissa
