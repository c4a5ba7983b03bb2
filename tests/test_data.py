"""Datasets (skimage, folder), atomic I/O and patch extraction."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srgan.datasets import prepare_dataset
from srgan.imresize import imresize, modcrop
from srgan.io import atomic_path, load_rgb, remove_stale_temporaries
from srgan.patches import (CropSampler, ImageStore, Prefetcher, augment_pair, epoch_order,
                           load_eval_set, prepare_eval_set, write_image_store)


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


def _sampler(tmp_path: Path, sizes: list[tuple[int, int]], **options) -> CropSampler:
    write_image_store(_write_images(tmp_path / "hr", sizes), tmp_path / "store", scale=4)
    settings = {"hr_size": 32, "per_image": 5, "batch_size": 4, "seed": 3, **options}
    return CropSampler(ImageStore(tmp_path / "store"), **settings)


def test_the_store_holds_every_modcropped_image_and_its_matlab_lr(tmp_path: Path) -> None:
    paths = _write_images(tmp_path / "hr", [(70, 90), (64, 66), (20, 100)])
    assert write_image_store(paths, tmp_path / "store", scale=4) == 3
    store = ImageStore(tmp_path / "store")
    assert [im["name"] for im in store.images] == ["img0", "img1", "img2"]
    for k, path in enumerate(paths):
        hr = modcrop(load_rgb(path), 4)
        assert np.array_equal(store.hr_image(k), hr)
        assert np.array_equal(store.lr_image(k), imresize(hr, 0.25))
    assert not list(tmp_path.glob(".tmp-*"))


@pytest.mark.parametrize("mode", ["random", "fixed"])
def test_crops_are_aligned_windows_of_the_image_and_of_its_lr(tmp_path: Path, mode: str) -> None:
    sampler = _sampler(tmp_path, [(70, 90), (64, 66), (48, 80), (40, 44)], mode=mode)
    for iteration in (0, 1, 7):
        lr, hr = sampler.batch(iteration)
        assert hr.shape == (4, 32, 32, 3) and lr.shape == (4, 8, 8, 3) and hr.dtype == lr.dtype == np.uint8
        images, ys, xs, _ = sampler.crops(iteration)
        for k, (i, y, x) in enumerate(zip(images, ys, xs)):
            # The HR crop sits on the 4-pixel grid; the LR crop is the same window of the LR of
            # the whole image, i.e. exactly the interior of the evaluation-style LR.
            whole = sampler.store.hr_image(i)
            assert np.array_equal(hr[k], whole[4 * y:4 * y + 32, 4 * x:4 * x + 32])
            assert np.array_equal(lr[k], imresize(whole, 0.25)[y:y + 8, x:x + 8])


def test_random_mode_draws_distinct_images_fresh_every_batch_in_a_seeded_order(tmp_path: Path) -> None:
    sampler = _sampler(tmp_path, [(64, 64)] * 6)
    again = CropSampler(sampler.store, hr_size=32, per_image=5, batch_size=4, seed=3)
    other = CropSampler(sampler.store, hr_size=32, per_image=5, batch_size=4, seed=4)
    for iteration in range(20):
        images = sampler.crops(iteration)[0]
        assert len(set(images.tolist())) == 4  # distinct training images, as the paper draws
        assert all(np.array_equal(a, b) for a, b in zip(sampler.batch(iteration), again.batch(iteration)))
    positions = {tuple(np.concatenate(sampler.crops(i)[:3]).tolist()) for i in range(40)}
    assert len(positions) == 40  # fresh crops, not a cycled set
    assert not np.array_equal(sampler.batch(0)[1], other.batch(0)[1])


def test_fixed_mode_cycles_one_crop_set_each_crop_once_per_epoch(tmp_path: Path) -> None:
    sampler = _sampler(tmp_path, [(64, 64), (72, 60), (80, 96), (64, 68)], mode="fixed")
    assert (sampler.crop_count, sampler.per_epoch) == (20, 5)

    def crop_set(epoch: int) -> list:
        crops = []
        for iteration in range((epoch - 1) * 5, epoch * 5):
            crops += list(zip(*(a.tolist() for a in sampler.crops(iteration)[:3])))
        return crops

    first, second = crop_set(1), crop_set(2)
    assert len(set(first)) == 20 and set(first) == set(second)  # the same once-cut crops
    assert first != second  # in another order
    other = CropSampler(sampler.store, hr_size=32, per_image=5, batch_size=4, seed=4, mode="fixed")
    assert set(first) != set(zip(*(np.concatenate(a) for a in zip(*(other.crops(i)[:3] for i in range(5))))))


def test_augmentation_flips_and_rotates_hr_and_lr_alike(tmp_path: Path) -> None:
    plain = _sampler(tmp_path, [(64, 64)] * 4)
    augmented = CropSampler(plain.store, hr_size=32, per_image=5, batch_size=4, seed=3, augment=True)
    changed = 0
    for iteration in range(8):
        (lr, hr), (lr0, hr0) = augmented.batch(iteration), plain.batch(iteration)
        for k in range(4):
            ops = [(h, v, r) for h in (0, 1) for v in (0, 1) for r in (0, 1)
                   if np.array_equal(augment_pair(hr0[k], lr0[k], h, v, r)[0], hr[k])]
            assert ops, (iteration, k)
            assert np.array_equal(augment_pair(hr0[k], lr0[k], *ops[0])[1], lr[k])
            changed += ops[0] != (0, 0, 0)
    assert changed > 0


def test_images_smaller_than_the_scale_are_left_out_of_the_store_with_a_count(tmp_path: Path,
                                                                              caplog) -> None:
    paths = _write_images(tmp_path / "hr", [(3, 3), (40, 36), (2, 50)])
    with caplog.at_level(logging.WARNING):
        assert write_image_store(paths, tmp_path / "store", scale=4) == 1
    assert "left out 2 of 3 images smaller than the scale 4: img0.png, img2.png" in caplog.text
    assert [im["name"] for im in ImageStore(tmp_path / "store").images] == ["img1"]


def test_small_images_are_skipped_with_a_count(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        sampler = _sampler(tmp_path, [(80, 80), (20, 100), (30, 30)], per_image=4)
    assert sampler.crop_count == 4
    assert "skipped 2 of 3 images smaller than the 32x32 crop" in caplog.text
    with pytest.raises(ValueError, match="no training image"):
        CropSampler(sampler.store, hr_size=96, per_image=4, batch_size=4, seed=0)
    with pytest.raises(ValueError, match="only 4 crops per epoch for a batch of 16"):
        CropSampler(sampler.store, hr_size=32, per_image=4, batch_size=16, seed=0)


def test_epoch_order_is_seeded_and_covers_the_set() -> None:
    a = epoch_order(10, 3, seed=1, epoch=2)
    assert [len(b) for b in a] == [3, 3, 3]
    assert torch.equal(torch.cat(a), torch.cat(epoch_order(10, 3, seed=1, epoch=2)))
    assert not torch.equal(torch.cat(a), torch.cat(epoch_order(10, 3, seed=1, epoch=3)))
    assert not torch.equal(torch.cat(a), torch.cat(epoch_order(10, 3, seed=2, epoch=2)))
    assert len(set(torch.cat(a).tolist())) == 9


def test_batches_reach_the_device_in_the_papers_ranges(tmp_path: Path) -> None:
    sampler = _sampler(tmp_path, [(64, 64)] * 4)
    raw_lr, raw_hr = sampler.batch(5)
    with Prefetcher(sampler, start=5, stop=7, device=torch.device("cpu")) as batches:
        lr, hr = next(iter(batches))
    torch.testing.assert_close(lr, torch.from_numpy(raw_lr).permute(0, 3, 1, 2).float() / 255)
    torch.testing.assert_close(hr, torch.from_numpy(raw_hr).permute(0, 3, 1, 2).float() / 127.5 - 1)
    assert lr.is_contiguous(memory_format=torch.channels_last)


def test_writing_the_store_holds_one_image_at_a_time(tmp_path: Path) -> None:
    """Peak traced memory (numpy reports its buffers to tracemalloc) does not grow with the count."""
    import tracemalloc
    few = _write_images(tmp_path / "few", [(256, 256)] * 2)
    many = _write_images(tmp_path / "many", [(256, 256)] * 12)
    peaks = []
    for paths, out in ((few, "a"), (many, "b")):
        tracemalloc.start()
        write_image_store(paths, tmp_path / out, scale=4)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0], peaks  # all 12 images at once would be 6x more


def test_eval_set_is_modcropped_with_matlab_lr(tmp_path: Path) -> None:
    _write_images(tmp_path / "hr", [(37, 53)])
    assert prepare_eval_set(tmp_path / "hr", tmp_path / "eval", scale=4) == 1
    [(name, lr, hr)] = load_eval_set(tmp_path / "eval")
    assert name == "img0" and hr.shape == (36, 52, 3) and lr.shape == (9, 13, 3)
    assert (lr == imresize(hr, 0.25)).all()


def test_eval_images_too_small_to_score_are_left_out_with_a_count(tmp_path: Path, caplog) -> None:
    # Scale 4: the standard protocol crops 4 px per border and SSIM's window is 11, so the
    # mod-cropped HR needs 19 px a side: 22 (cropped to 20) is enough, 3 and 18 (16) are not.
    _write_images(tmp_path / "hr", [(22, 40), (3, 3), (18, 40)])
    with caplog.at_level(logging.WARNING):
        assert prepare_eval_set(tmp_path / "hr", tmp_path / "eval", scale=4) == 1
    assert [name for name, _, _ in load_eval_set(tmp_path / "eval")] == ["img0"]
    assert "left out 2 of 3 images" in caplog.text and "img1.png (3x3)" in caplog.text
    assert "img2.png (40x18)" in caplog.text


def test_an_eval_set_with_no_image_large_enough_is_an_error_naming_them(tmp_path: Path) -> None:
    _write_images(tmp_path / "hr", [(3, 3)])
    with pytest.raises(ValueError, match=r"no image of .* is large enough .* img0\.png \(3x3\)"):
        prepare_eval_set(tmp_path / "hr", tmp_path / "eval", scale=4)
    assert not (tmp_path / "eval").exists()
