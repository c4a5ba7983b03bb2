"""Datasets (skimage, folder), atomic I/O and patch extraction."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srgan.datasets import prepare_dataset
from srgan.imresize import imresize
from srgan.io import atomic_path, load_rgb, remove_stale_temporaries
from srgan.patches import extract_patches, load_eval_set, prepare_eval_set


def test_skimage_dataset_is_rgb_with_manifest(tmp_path: Path) -> None:
    count = prepare_dataset(source="skimage", images=["camera", "chelsea"], out_dir=tmp_path / "HR",
                            manifest=tmp_path / "MANIFEST.tsv")
    assert count == 2
    assert load_rgb(tmp_path / "HR" / "camera.png").shape == (512, 512, 3)
    lines = (tmp_path / "MANIFEST.tsv").read_text().splitlines()
    assert lines[0] == "name\twidth\theight\tsha256" and len(lines) == 3
    assert lines[1].startswith("camera.png\t512\t512\t")


def test_folder_dataset_converts_gray_palette_and_rgba(tmp_path: Path, caplog) -> None:
    source = tmp_path / "in"
    source.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8)).save(source / "gray.png")
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).convert("P").save(source / "pal.png")
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba).save(source / "alpha.png")
    with caplog.at_level(logging.INFO):
        prepare_dataset(source="folder", path=str(source), out_dir=tmp_path / "HR",
                        manifest=tmp_path / "MANIFEST.tsv")
    assert "converting mode L to RGB" in caplog.text
    for name in ("gray", "pal", "alpha"):
        with Image.open(tmp_path / "HR" / f"{name}.png") as image:
            assert image.mode == "RGB", name
    gray = load_rgb(tmp_path / "HR" / "gray.png")
    assert (gray[..., 0] == gray[..., 1]).all()
    assert (load_rgb(tmp_path / "HR" / "alpha.png") == rgba[..., :3]).all()


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ValueError, match="broken.png"):
        load_rgb(bad)
    # A failed dataset step leaves no output folder behind.
    with pytest.raises(ValueError, match="broken.png"):
        prepare_dataset(source="folder", path=str(tmp_path), out_dir=tmp_path / "out" / "HR",
                        manifest=tmp_path / "out" / "MANIFEST.tsv")
    assert not (tmp_path / "out" / "HR").exists()


def test_unknown_source_and_skimage_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset source 'ftp'"):
        prepare_dataset(source="ftp", out_dir=tmp_path / "HR", manifest=tmp_path / "M")
    with pytest.raises(ValueError, match="no image 'nope'"):
        prepare_dataset(source="skimage", images=["nope"], out_dir=tmp_path / "HR", manifest=tmp_path / "M")


def test_atomic_path_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "result.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_stale_temporaries_of_a_job_are_removed_and_no_others(tmp_path: Path) -> None:
    (tmp_path / ".tmp-metrics.csv.a1b2").write_text("half")
    (tmp_path / ".tmp-images.c3d4").mkdir()
    (tmp_path / ".tmp-images.c3d4" / "x.png").write_text("half")
    (tmp_path / ".tmp-metrics.csv.old").write_text("ours too")
    (tmp_path / ".tmp-history.csv.e5f6").write_text("another job's")  # not an output of this job
    (tmp_path / "metrics.csv").write_text("a finished result")
    removed = remove_stale_temporaries([tmp_path / "metrics.csv", tmp_path / "images",
                                        tmp_path / "missing" / "out.csv"])
    assert sorted(p.name for p in removed) == [".tmp-images.c3d4", ".tmp-metrics.csv.a1b2",
                                               ".tmp-metrics.csv.old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-history.csv.e5f6", "metrics.csv"]


def _write_images(folder: Path, sizes: list[tuple[int, int]]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for k, (h, w) in enumerate(sizes):
        path = folder / f"img{k}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_patches_are_aligned_crops_of_the_bicubic_image(tmp_path: Path) -> None:
    paths = _write_images(tmp_path / "hr", [(70, 90), (64, 66)])
    n = extract_patches(paths, hr_size=32, per_image=5, scale=4, seed=3, hr_out=tmp_path / "hr.npy",
                        lr_out=tmp_path / "lr.npy")
    hr, lr = np.load(tmp_path / "hr.npy"), np.load(tmp_path / "lr.npy")
    assert n == 10 and hr.shape == (10, 32, 32, 3) and lr.shape == (10, 8, 8, 3)
    assert hr.dtype == lr.dtype == np.uint8
    # Each HR crop sits in its image on the 4-pixel grid, and its LR crop is the same window of
    # the whole image's bicubic downscale.
    image = load_rgb(paths[0])[:68, :88]
    small = imresize(image, 0.25)
    for k in range(5):
        hits = [(y, x) for y in range(0, 68 - 31, 4) for x in range(0, 88 - 31, 4)
                if (image[y:y + 32, x:x + 32] == hr[k]).all()]
        assert hits, k
        y, x = hits[0]
        assert (small[y // 4:y // 4 + 8, x // 4:x // 4 + 8] == lr[k]).all()


def test_patches_are_seeded(tmp_path: Path) -> None:
    paths = _write_images(tmp_path / "hr", [(80, 80)])
    for name in ("a", "b"):
        extract_patches(paths, hr_size=16, per_image=4, scale=4, seed=7, hr_out=tmp_path / f"{name}_hr.npy",
                        lr_out=tmp_path / f"{name}_lr.npy")
    assert (np.load(tmp_path / "a_hr.npy") == np.load(tmp_path / "b_hr.npy")).all()


def test_small_images_are_skipped_with_a_count(tmp_path: Path, caplog) -> None:
    paths = _write_images(tmp_path / "hr", [(80, 80), (20, 100), (30, 30)])
    with caplog.at_level(logging.WARNING):
        n = extract_patches(paths, hr_size=32, per_image=2, scale=4, seed=0,
                            hr_out=tmp_path / "hr.npy", lr_out=tmp_path / "lr.npy")
    assert n == 2
    assert "skipped 2 of 3 images smaller than the 32x32 crop" in caplog.text
    with pytest.raises(ValueError, match="no training image"):
        extract_patches(paths[1:], hr_size=32, per_image=2, scale=4, seed=0,
                        hr_out=tmp_path / "x.npy", lr_out=tmp_path / "y.npy")


def test_eval_set_is_modcropped_with_matlab_lr(tmp_path: Path) -> None:
    _write_images(tmp_path / "hr", [(37, 53)])
    assert prepare_eval_set(tmp_path / "hr", tmp_path / "eval", scale=4) == 1
    [(name, lr, hr)] = load_eval_set(tmp_path / "eval")
    assert name == "img0" and hr.shape == (36, 52, 3) and lr.shape == (9, 13, 3)
    assert (lr == imresize(hr, 0.25)).all()
