"""Training loop: schedules, batch order, resume, stale checkpoints and the NaN guard."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from srgan import training
from srgan.patches import prepare_eval_set
from srgan.training import (PatchSet, epoch_order, load_val_sets, lr_at, run_gan, run_pretrain,
                            srresnet_step, train)
from srgan.models import SRResNet


@pytest.fixture
def patches(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8)
    lr = rng.integers(0, 256, (24, 4, 4, 3), dtype=np.uint8)
    np.save(tmp_path / "hr.npy", hr)
    np.save(tmp_path / "lr.npy", lr)
    return tmp_path / "hr.npy", tmp_path / "lr.npy"


@pytest.fixture
def val_dirs(tmp_path: Path) -> dict[str, Path]:
    from PIL import Image
    folder = tmp_path / "val_hr"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (32, 28, 3), dtype=np.uint8)).save(folder / "a.png")
    prepare_eval_set(folder, tmp_path / "val", scale=4)
    return {"val": tmp_path / "val"}


def test_lr_schedules() -> None:
    assert lr_at(5, base_lr=1e-4, total=10, schedule="constant") == 1e-4
    assert lr_at(0, base_lr=1e-4, total=10, schedule="cosine") == pytest.approx(1e-4)
    assert lr_at(5, base_lr=1e-4, total=10, schedule="cosine") == pytest.approx(5e-5)
    assert lr_at(9, base_lr=1e-4, total=20, schedule="step", step_at=10) == 1e-4
    assert lr_at(10, base_lr=1e-4, total=20, schedule="step", step_at=10) == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="unknown lr schedule 'linear'"):
        lr_at(0, base_lr=1, total=1, schedule="linear")


def test_epoch_order_is_seeded_and_covers_the_set() -> None:
    a = epoch_order(10, 3, seed=1, epoch=2)
    assert [len(b) for b in a] == [3, 3, 3]
    assert torch.equal(torch.cat(a), torch.cat(epoch_order(10, 3, seed=1, epoch=2)))
    assert not torch.equal(torch.cat(a), torch.cat(epoch_order(10, 3, seed=1, epoch=3)))
    assert len(set(torch.cat(a).tolist())) == 9
    with pytest.raises(ValueError, match="only 2 patches for a batch of 4"):
        epoch_order(2, 4, seed=0, epoch=1)


def test_patch_batch_ranges(patches) -> None:
    lr, hr = PatchSet(*patches).batch(torch.tensor([3, 1]), torch.device("cpu"))
    assert lr.shape == (2, 3, 4, 4) and hr.shape == (2, 3, 16, 16)
    assert 0 <= lr.min() and lr.max() <= 1 and -1 <= hr.min() and hr.max() <= 1
    assert lr.is_contiguous(memory_format=torch.channels_last)


def _pretrain(patches, val_dirs, tmp_path: Path, epochs: int, name: str = "run") -> list[dict]:
    return run_pretrain(hr_path=patches[0], lr_path=patches[1], val_dirs=val_dirs, variant="paper",
                        num_blocks=1, scale=4, epochs=epochs, batch_size=4, lr=1e-3,
                        lr_schedule="cosine", seed=0, device=torch.device("cpu"),
                        resume_path=tmp_path / f"{name}_resume.pt",
                        generator_out=tmp_path / f"{name}_g.pt", history_out=tmp_path / f"{name}.csv")


def test_resume_after_a_crash_matches_an_uninterrupted_run(patches, val_dirs, tmp_path: Path,
                                                          monkeypatch) -> None:
    full = _pretrain(patches, val_dirs, tmp_path, epochs=3, name="full")

    real_step = training.srresnet_step

    def crashing_step(generator, optimizer):
        step, calls = real_step(generator, optimizer), {"n": 0}

        def wrapped(lr, hr):
            calls["n"] += 1
            if calls["n"] == 9:  # in epoch 2 (6 iterations per epoch)
                raise KeyboardInterrupt("killed")
            return step(lr, hr)
        return wrapped

    monkeypatch.setattr(training, "srresnet_step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        _pretrain(patches, val_dirs, tmp_path, epochs=3, name="part")
    assert not (tmp_path / "part_g.pt").exists()
    monkeypatch.setattr(training, "srresnet_step", real_step)
    resumed = _pretrain(patches, val_dirs, tmp_path, epochs=3, name="part")

    timing = ("seconds", "elapsed")
    assert [{k: v for k, v in row.items() if k not in timing} for row in resumed] == \
        [{k: v for k, v in row.items() if k not in timing} for row in full]
    g_full = torch.load(tmp_path / "full_g.pt", weights_only=False)["generator"]
    g_part = torch.load(tmp_path / "part_g.pt", weights_only=False)["generator"]
    assert all(torch.equal(g_full[k], g_part[k]) for k in g_full)


def test_stale_checkpoint_is_set_aside(patches, val_dirs, tmp_path: Path, caplog) -> None:
    _pretrain(patches, val_dirs, tmp_path, epochs=1)
    # Same resume path, other settings (2 epochs): never silently reused.
    history = _pretrain(patches, val_dirs, tmp_path, epochs=2)
    assert [row["epoch"] for row in history] == [1, 2]
    assert "made with other settings" in caplog.text
    assert (tmp_path / "run_resume.stale.pt").exists()


def test_nan_loss_stops_with_a_clear_error(patches, val_dirs, tmp_path: Path) -> None:
    generator = SRResNet(num_blocks=1)
    optimizer = torch.optim.Adam(generator.parameters())
    good = srresnet_step(generator, optimizer)
    calls = {"n": 0}

    def step(lr, hr):
        calls["n"] += 1
        losses = good(lr, hr)
        return {"mse": losses["mse"] * (math.nan if calls["n"] > 6 else 1)}

    with pytest.raises(FloatingPointError, match=r"non-finite mse in epoch 2"):
        train(stage="srresnet", step=step, modules={"generator": generator},
              optimizers={"generator": optimizer}, patches=PatchSet(*patches), epochs=3,
              batch_size=4, lr_schedule=lambda it: 1e-4, generator=generator,
              val_sets=load_val_sets(val_dirs), scale=4, device=torch.device("cpu"), seed=0,
              resume_path=tmp_path / "resume.pt", settings={})
    # The checkpoint of the last good epoch is kept.
    assert torch.load(tmp_path / "resume.pt", weights_only=False)["epoch"] == 1


def test_gan_stage_runs_and_records_d_probabilities(patches, val_dirs, tmp_path: Path) -> None:
    _pretrain(patches, val_dirs, tmp_path, epochs=1)
    history = run_gan(generator_checkpoint=tmp_path / "run_g.pt", hr_path=patches[0],
                      lr_path=patches[1], val_dirs=val_dirs, hr_size=16, scale=4, epochs=2,
                      batch_size=4, lr=1e-4, lr_step_epochs=1, content="mse",
                      vgg_layer="block2_conv2", adversarial_weight=1e-3, vgg_weights_path=None,
                      allow_random_fallback=False, seed=0, device=torch.device("cpu"),
                      resume_path=tmp_path / "gan_resume.pt", generator_out=tmp_path / "gan_g.pt",
                      discriminator_out=tmp_path / "gan_d.pt",
                      content_network_out=tmp_path / "content.json", history_out=tmp_path / "gan.csv")
    assert [row["lr"] for row in history] == [pytest.approx(1e-4), pytest.approx(1e-5)]
    for row in history:
        assert 0 < row["d_real"] < 1 and 0 < row["d_fake"] < 1
        assert math.isfinite(row["val_psnr"]) and math.isfinite(row["val_ssim_rgb"])
