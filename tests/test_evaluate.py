"""srgan.evaluate: the per-epoch evaluation stage (snapshots scored on validation sets) and safe
generator loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from srgan import metrics
from srgan.checkpoint import CheckpointError, save_checkpoint
from srgan.evaluate import (load_generator, load_val_sets, score_snapshots, super_resolve,
                            write_progress)
from conftest import write_random_store
from srgan.patches import prepare_eval_set
from srgan.training import run_pretrain

CPU = torch.device("cpu")


@pytest.fixture
def pretrained(tmp_path: Path) -> Path:
    """A 3-epoch SRResNet run with its snapshots (iterations 6, 12, 18)."""
    store = write_random_store(tmp_path, count=4, shape=(32, 32))
    run_pretrain(store_dir=store, hr_size=16, per_image=6, variant="paper",
                 num_blocks=1, scale=4, epochs=3, batch_size=4, lr=1e-3, lr_schedule="constant",
                 seed=0, device=CPU, resume_dir=tmp_path / "resume", generator_out=tmp_path / "g.pt",
                 train_log_out=tmp_path / "train_log.csv", snapshots_out=tmp_path / "snapshots")
    return tmp_path


@pytest.fixture
def val_sets(tmp_path: Path) -> dict:
    folder = tmp_path / "val_hr"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for name, shape in (("a", (40, 36, 3)), ("b", (32, 28, 3))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{name}.png")
    prepare_eval_set(folder, tmp_path / "val", scale=4)
    return load_val_sets({"val": tmp_path / "val"})


def test_snapshots_are_scored_like_the_generators_they_hold(pretrained: Path, val_sets) -> None:
    train_log = pd.read_csv(pretrained / "train_log.csv")
    history, progress = score_snapshots(pretrained / "snapshots", train_log, val_sets, device=CPU,
                                        scale=4, protocol="standard", crop=16)
    assert list(history["iteration"]) == [6, 12, 18]
    assert list(history.columns) == list(train_log.columns) + ["val_psnr", "val_ssim"]
    final = load_generator(pretrained / "g.pt", device=CPU)
    srs = [super_resolve(final, lr, device=CPU) for _, lr, _ in val_sets["val"]]
    psnr = np.mean([metrics.psnr(sr, hr, scale=4) for sr, (_, _, hr) in zip(srs, val_sets["val"])])
    ssim = np.mean([metrics.ssim(sr, hr, scale=4) for sr, (_, _, hr) in zip(srs, val_sets["val"])])
    assert history["val_psnr"].iloc[-1] == pytest.approx(psnr, abs=1e-9)
    assert history["val_ssim"].iloc[-1] == pytest.approx(ssim, abs=1e-9)
    assert history["val_psnr"].iloc[0] != pytest.approx(psnr, abs=1e-6)  # an earlier generator
    # The progression crop of the last snapshot is the final generator's centre crop of image a.
    top, left, size = progress["box"]
    assert (progress["val_set"], progress["image"], size) == ("val", "a", 16)
    assert np.array_equal(progress["crops"][-1], srs[0][top:top + size, left:left + size])
    assert list(progress["epochs"]) == [1.0, 2.0, 3.0]


def test_report_protocol_scores_rgb(pretrained: Path, val_sets) -> None:
    train_log = pd.read_csv(pretrained / "train_log.csv")
    standard, _ = score_snapshots(pretrained / "snapshots", train_log, val_sets, device=CPU, scale=4,
                                  protocol="standard")
    report, _ = score_snapshots(pretrained / "snapshots", train_log, val_sets, device=CPU, scale=4,
                                protocol="report")
    final = load_generator(pretrained / "g.pt", device=CPU)
    rgb = np.mean([metrics.psnr(super_resolve(final, lr, device=CPU), hr, scale=4, protocol="report")
                   for _, lr, hr in val_sets["val"]])
    assert report["val_psnr"].iloc[-1] == pytest.approx(rgb, abs=1e-9)
    assert report["val_psnr"].iloc[-1] != pytest.approx(standard["val_psnr"].iloc[-1], abs=1e-3)


def test_missing_snapshots_are_an_error(pretrained: Path, val_sets) -> None:
    (pretrained / "snapshots" / "iter_000000012.pt").unlink()
    with pytest.raises(ValueError, match=r"holds snapshots of iterations \[6, 18\], but the training "
                                         r"log has evaluation points at \[6, 12, 18\]"):
        score_snapshots(pretrained / "snapshots", pd.read_csv(pretrained / "train_log.csv"), val_sets,
                        device=CPU, scale=4, protocol="standard")


def test_without_validation_sets_the_history_is_the_training_log(pretrained: Path, tmp_path: Path) -> None:
    train_log = pd.read_csv(pretrained / "train_log.csv")
    history, progress = score_snapshots(pretrained / "snapshots", train_log, {}, device=CPU, scale=4,
                                        protocol="standard")
    pd.testing.assert_frame_equal(history, train_log)
    write_progress(progress, tmp_path / "progress.npz")
    assert np.load(tmp_path / "progress.npz")["crops"].shape[0] == 0


def test_load_generator_rejects_a_discriminator_and_resume_state(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "d.pt", {"kind": "discriminator", "discriminator": {"w": torch.ones(1)}})
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'd.pt'} is not a generator checkpoint "
                                              f"\\(it holds a discriminator checkpoint\\)"):
        load_generator(tmp_path / "d.pt", device=CPU)
    save_checkpoint(tmp_path / "state.pt", {"kind": "resume", "modules": {}})
    with pytest.raises(CheckpointError, match="holds a resume checkpoint"):
        load_generator(tmp_path / "state.pt", device=CPU)
