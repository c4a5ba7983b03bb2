"""Training loop: schedules, batch order, resume, stale checkpoints and the NaN guard."""

from __future__ import annotations

import math
import pickle
import signal
import subprocess
import sys
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


def _pretrain_kwargs(patches, val_dirs, tmp_path: Path, epochs: int, name: str) -> dict:
    return dict(hr_path=patches[0], lr_path=patches[1], val_dirs=val_dirs, variant="paper",
                num_blocks=1, scale=4, epochs=epochs, batch_size=4, lr=1e-3, lr_schedule="cosine",
                seed=0, device=torch.device("cpu"), precision="fp32", checkpoint_every=4,
                resume_path=tmp_path / f"{name}_resume.pt", generator_out=tmp_path / f"{name}_g.pt",
                history_out=tmp_path / f"{name}.csv")


def _pretrain(patches, val_dirs, tmp_path: Path, epochs: int, name: str = "run") -> list[dict]:
    return run_pretrain(**_pretrain_kwargs(patches, val_dirs, tmp_path, epochs, name))


def _without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("seconds", "elapsed")} for row in history]


def _same_weights(a: Path, b: Path) -> bool:
    wa = torch.load(a, weights_only=False)["generator"]
    wb = torch.load(b, weights_only=False)["generator"]
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# A child process that trains and SIGKILLs itself in the middle of iteration argv[2]: no cleanup,
# no exception handler runs, exactly like `kill -9` or the OOM killer.
KILL_SCRIPT = """
import os, pickle, signal, sys
import torch
from srgan import training

torch.set_num_threads(1)
real_step = training.srresnet_step

def killing_step(generator, optimizer, **options):
    step, calls = real_step(generator, optimizer, **options), [0]
    def wrapped(lr, hr):
        calls[0] += 1
        if calls[0] == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
        return step(lr, hr)
    return wrapped

training.srresnet_step = killing_step
with open(sys.argv[1], "rb") as handle:
    training.run_pretrain(**pickle.load(handle))
"""


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the child uses 1 thread: the same float summation order
    yield
    torch.set_num_threads(threads)


def test_kill_9_mid_epoch_then_resume_is_bit_identical(patches, val_dirs, tmp_path: Path,
                                                       one_thread) -> None:
    full = _pretrain(patches, val_dirs, tmp_path, epochs=3, name="full")

    kwargs = _pretrain_kwargs(patches, val_dirs, tmp_path, epochs=3, name="part")
    (tmp_path / "kwargs.pkl").write_bytes(pickle.dumps(kwargs))
    # 6 iterations per epoch, checkpoints at 4, 6, 8, 12, ...: killed in iteration 11, the run
    # resumes 2 batches into epoch 2, with epoch 2's running loss sums restored.
    child = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "kwargs.pkl"), "11"],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert not (tmp_path / "part_g.pt").exists()
    state = torch.load(tmp_path / "part_resume.pt", weights_only=False)
    assert (state["epoch"], state["batch"], state["iteration"]) == (2, 2, 8)

    resumed = _pretrain(patches, val_dirs, tmp_path, epochs=3, name="part")
    assert _without_timing(resumed) == _without_timing(full)
    assert _same_weights(tmp_path / "full_g.pt", tmp_path / "part_g.pt")


def test_interrupt_then_resume_matches(patches, val_dirs, tmp_path: Path, monkeypatch) -> None:
    """An exception (Ctrl-C) right after an epoch-end checkpoint resumes just as well."""
    full = _pretrain(patches, val_dirs, tmp_path, epochs=2, name="full")
    real_step = training.srresnet_step

    def crashing_step(generator, optimizer, **options):
        step, calls = real_step(generator, optimizer, **options), {"n": 0}

        def wrapped(lr, hr):
            calls["n"] += 1
            if calls["n"] == 7:  # first iteration of epoch 2
                raise KeyboardInterrupt("killed")
            return step(lr, hr)
        return wrapped

    monkeypatch.setattr(training, "srresnet_step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        _pretrain(patches, val_dirs, tmp_path, epochs=2, name="part")
    monkeypatch.setattr(training, "srresnet_step", real_step)
    resumed = _pretrain(patches, val_dirs, tmp_path, epochs=2, name="part")
    assert _without_timing(resumed) == _without_timing(full)
    assert _same_weights(tmp_path / "full_g.pt", tmp_path / "part_g.pt")


def test_snapshots_are_crops_of_the_validation_sr(patches, val_dirs, tmp_path: Path) -> None:
    from srgan.evaluate import load_generator, super_resolve
    from srgan.patches import load_eval_set
    kwargs = _pretrain_kwargs(patches, val_dirs, tmp_path, epochs=2, name="snap")
    run_pretrain(**kwargs, snapshots_out=tmp_path / "snap.npz")
    data = np.load(tmp_path / "snap.npz")
    assert sorted(data.files) == ["box", "epoch_1", "epoch_2", "image", "val_set"]
    top, left, size = (int(v) for v in data["box"])
    [(_, lr, _)] = load_eval_set(val_dirs["val"])
    final = super_resolve(load_generator(tmp_path / "snap_g.pt", device=torch.device("cpu")), lr,
                          device=torch.device("cpu"))
    assert np.array_equal(data["epoch_2"], final[top:top + size, left:left + size])


def test_iterations_override_epochs(patches, val_dirs, tmp_path: Path) -> None:
    kwargs = _pretrain_kwargs(patches, val_dirs, tmp_path, epochs=99, name="it")
    history = run_pretrain(**{**kwargs, "iterations": 8})
    assert [(row["epoch"], row["iteration"]) for row in history] == [(1, 6), (2, 8)]


def test_precision_resolution(monkeypatch) -> None:
    assert training.resolve_precision(torch.device("cuda"), "auto") == "fp32"  # measured faster
    assert training.resolve_precision(torch.device("cuda"), "bf16") == "bf16"
    assert training.resolve_precision(torch.device("cpu"), "fp32") == "fp32"
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: False)
    assert training.resolve_precision(torch.device("cpu"), "auto") == "fp32"
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: True)
    assert training.resolve_precision(torch.device("cpu"), "auto") == "bf16"
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        training.resolve_precision(torch.device("cpu"), "fp8")


def test_bf16_step_runs_on_cpu(patches) -> None:
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=1).to(memory_format=torch.channels_last)
    step = srresnet_step(generator, torch.optim.Adam(generator.parameters()),
                         autocast=training.autocast_factory(torch.device("cpu"), "bf16"))
    loss = step(*PatchSet(*patches).batch(torch.arange(4), torch.device("cpu")))["mse"]
    assert loss.dtype == torch.float32 and math.isfinite(float(loss))


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

    with pytest.raises(FloatingPointError, match=r"non-finite mse in epoch 2 \(by iteration 12\)"):
        train(stage="srresnet", step=step, modules={"generator": generator},
              optimizers={"generator": optimizer}, patches=PatchSet(*patches), epochs=3,
              batch_size=4, lr_schedule=lambda it: 1e-4, generator=generator,
              val_sets=load_val_sets(val_dirs), scale=4, device=torch.device("cpu"), seed=0,
              resume_path=tmp_path / "resume.pt", settings={})
    # The checkpoint of the last good epoch is kept.
    state = torch.load(tmp_path / "resume.pt", weights_only=False)
    assert (state["iteration"], len(state["history"])) == (6, 1)


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
