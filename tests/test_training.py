"""Training loop: schedules, batch order, evaluation points, resume only of interrupted runs of
the same inputs, stale / corrupt / unsafe resume state, and the NaN guard."""

from __future__ import annotations

import logging
import math
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import CreatesAFile, write_random_store
from srgan import training
from srgan.checkpoint import STATE_FILE, load_checkpoint
from srgan.models import SRResNet
from srgan.patches import CropSampler, ImageStore, to_device
from srgan.training import lr_at, run_gan, run_pretrain, srgan_step, srresnet_step, train


def _write_store(folder: Path, seed: int) -> Path:
    """An image store of 5 random 32x28 images: 5 x 5 crops of 16x16 = 6 batches of 4 per epoch."""
    return write_random_store(folder, count=5, shape=(32, 28), seed=seed)


@pytest.fixture
def patches(tmp_path: Path) -> Path:
    return _write_store(tmp_path / "data", seed=0)


@pytest.fixture(autouse=True)
def info_logs(caplog) -> None:
    caplog.set_level(logging.INFO)


def test_lr_schedules() -> None:
    assert lr_at(5, base_lr=1e-4, total=10, schedule="constant") == 1e-4
    assert lr_at(0, base_lr=1e-4, total=10, schedule="cosine") == pytest.approx(1e-4)
    assert lr_at(5, base_lr=1e-4, total=10, schedule="cosine") == pytest.approx(5e-5)
    assert lr_at(9, base_lr=1e-4, total=20, schedule="step", step_at=10) == 1e-4
    assert lr_at(10, base_lr=1e-4, total=20, schedule="step", step_at=10) == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="unknown lr schedule 'linear'"):
        lr_at(0, base_lr=1, total=1, schedule="linear")


def _pretrain_kwargs(patches, tmp_path: Path, epochs: int, name: str) -> dict:
    return dict(store_dir=patches, hr_size=16, per_image=5, variant="paper", num_blocks=1, scale=4,
                epochs=epochs, batch_size=4, lr=1e-3, lr_schedule="cosine", seed=0,
                device=torch.device("cpu"), precision="fp32", checkpoint_every=4,
                resume_dir=tmp_path / f"{name}_resume", generator_out=tmp_path / f"{name}_g.pt",
                train_log_out=tmp_path / f"{name}.csv", snapshots_out=tmp_path / f"{name}_snapshots")


def _pretrain(patches, tmp_path: Path, epochs: int, name: str = "run", **overrides) -> list[dict]:
    return run_pretrain(**{**_pretrain_kwargs(patches, tmp_path, epochs, name), **overrides})


def _without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("seconds", "elapsed")} for row in history]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["generator"]


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
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


@pytest.mark.parametrize("sampling", ["random", "fixed"])
def test_kill_9_mid_epoch_then_resume_is_bit_identical(patches, tmp_path: Path, one_thread,
                                                       sampling: str) -> None:
    full = _pretrain(patches, tmp_path, epochs=3, name="full", sampling=sampling)

    kwargs = {**_pretrain_kwargs(patches, tmp_path, epochs=3, name="part"), "sampling": sampling}
    (tmp_path / "kwargs.pkl").write_bytes(pickle.dumps(kwargs))
    # 6 iterations per epoch, checkpoints at 4, 6, 8, 12, ...: killed in iteration 11, the run
    # resumes 2 batches into epoch 2, with epoch 2's running loss sums restored.
    child = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "kwargs.pkl"), "11"],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert not (tmp_path / "part_g.pt").exists()
    state = load_checkpoint(tmp_path / "part_resume" / STATE_FILE)
    assert (state["epoch"], state["batch"], state["iteration"]) == (2, 2, 8)

    resumed = _pretrain(patches, tmp_path, epochs=3, name="part", sampling=sampling)
    assert _without_timing(resumed) == _without_timing(full)
    assert _same_weights(tmp_path / "full_g.pt", tmp_path / "part_g.pt")
    for a, b in zip(sorted((tmp_path / "full_snapshots").iterdir()),
                    sorted((tmp_path / "part_snapshots").iterdir())):
        assert a.name == b.name and _same_weights(a, b)


def _interrupt_at(monkeypatch, iteration: int) -> None:
    """Make the next pretraining raise KeyboardInterrupt (Ctrl-C) in ``iteration``."""
    real_step = training.srresnet_step

    def crashing_step(generator, optimizer, **options):
        step, calls = real_step(generator, optimizer, **options), {"n": 0}

        def wrapped(lr, hr):
            calls["n"] += 1
            if calls["n"] == iteration:
                monkeypatch.setattr(training, "srresnet_step", real_step)
                raise KeyboardInterrupt("killed")
            return step(lr, hr)
        return wrapped

    monkeypatch.setattr(training, "srresnet_step", crashing_step)


def test_interrupt_then_resume_matches(patches, tmp_path: Path, monkeypatch) -> None:
    """An exception (Ctrl-C) right after an epoch-end checkpoint resumes just as well."""
    full = _pretrain(patches, tmp_path, epochs=2, name="full")
    _interrupt_at(monkeypatch, 7)  # first iteration of epoch 2
    with pytest.raises(KeyboardInterrupt):
        _pretrain(patches, tmp_path, epochs=2, name="part")
    assert (tmp_path / "part_resume" / STATE_FILE).is_file()
    resumed = _pretrain(patches, tmp_path, epochs=2, name="part")
    assert _without_timing(resumed) == _without_timing(full)
    assert _same_weights(tmp_path / "full_g.pt", tmp_path / "part_g.pt")


def test_a_complete_run_leaves_no_resume_state_and_a_rerun_trains_from_scratch(
        patches, tmp_path: Path, caplog) -> None:
    first = _pretrain(patches, tmp_path, epochs=2)
    assert not (tmp_path / "run_resume").exists()
    assert sorted(p.name for p in (tmp_path / "run_snapshots").iterdir()) == [
        "iter_000000006.pt", "iter_000000012.pt"]
    caplog.clear()
    again = _pretrain(patches, tmp_path, epochs=2)  # what --forcerun does
    assert "training from scratch" in caplog.text and "resuming" not in caplog.text
    assert _without_timing(again) == _without_timing(first)


def test_new_training_images_of_the_same_count_are_not_resumed(tmp_path: Path, monkeypatch,
                                                               caplog) -> None:
    images_a = _write_store(tmp_path / "a", seed=0)
    images_b = _write_store(tmp_path / "b", seed=1)  # same count and shapes, other pixels
    _pretrain(images_a, tmp_path, epochs=2, name="fresh_a")
    _pretrain(images_b, tmp_path, epochs=2, name="fresh_b")
    _interrupt_at(monkeypatch, 9)
    with pytest.raises(KeyboardInterrupt):
        _pretrain(images_a, tmp_path, epochs=2, name="run")
    # The same resume folder, new data in the very same files' places: never continued.
    for name in ("hr.bin", "lr.bin", "index.json"):
        (images_a / name).write_bytes((images_b / name).read_bytes())
    _pretrain(images_a, tmp_path, epochs=2, name="run")
    assert "made with other settings or inputs" in caplog.text
    assert (tmp_path / "run_resume.stale" / STATE_FILE).is_file()
    assert _same_weights(tmp_path / "run_g.pt", tmp_path / "fresh_b_g.pt")
    assert not _same_weights(tmp_path / "run_g.pt", tmp_path / "fresh_a_g.pt")


def test_other_settings_are_not_resumed(patches, tmp_path: Path, monkeypatch, caplog) -> None:
    _pretrain(patches, tmp_path, epochs=3, name="fresh")
    _interrupt_at(monkeypatch, 9)
    with pytest.raises(KeyboardInterrupt):
        _pretrain(patches, tmp_path, epochs=2, name="run")
    history = _pretrain(patches, tmp_path, epochs=3, name="run")
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert "made with other settings or inputs" in caplog.text
    assert _same_weights(tmp_path / "run_g.pt", tmp_path / "fresh_g.pt")


def test_run_settings_that_cannot_change_the_result_still_resume(patches, tmp_path: Path,
                                                                 monkeypatch, caplog) -> None:
    full = _pretrain(patches, tmp_path, epochs=2, name="full")
    _interrupt_at(monkeypatch, 9)
    with pytest.raises(KeyboardInterrupt):
        _pretrain(patches, tmp_path, epochs=2, name="run")
    resumed = _pretrain(patches, tmp_path, epochs=2, name="run", checkpoint_every=0)
    assert "resuming from" in caplog.text
    assert _without_timing(resumed) == _without_timing(full)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "unsafe pickle"])
def test_unusable_resume_state_is_moved_aside(patches, tmp_path: Path, monkeypatch, caplog,
                                              damage: str) -> None:
    full = _pretrain(patches, tmp_path, epochs=2, name="full")
    _interrupt_at(monkeypatch, 9)
    with pytest.raises(KeyboardInterrupt):
        _pretrain(patches, tmp_path, epochs=2, name="run")
    state = tmp_path / "run_resume" / STATE_FILE
    witness = tmp_path / "pwned"
    if damage == "truncated":
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    elif damage == "garbage":
        state.write_bytes(b"not a checkpoint at all")
    else:
        torch.save({"kind": "resume", "history": CreatesAFile(witness)}, state)
    history = _pretrain(patches, tmp_path, epochs=2, name="run")
    assert not witness.exists()
    assert f"resume state {state} is unusable" in caplog.text
    assert (tmp_path / "run_resume.corrupt" / STATE_FILE).is_file()
    assert _without_timing(history) == _without_timing(full)  # from scratch, to the same end
    assert _same_weights(tmp_path / "run_g.pt", tmp_path / "full_g.pt")


def test_iterations_override_epochs(patches, tmp_path: Path) -> None:
    history = _pretrain(patches, tmp_path, epochs=99, name="it", iterations=8)
    assert [(row["epoch"], row["iteration"]) for row in history] == [(1, 6), (1.3333, 8)]


def test_eval_every_sets_the_evaluation_points(patches, tmp_path: Path) -> None:
    history = _pretrain(patches, tmp_path, epochs=99, name="it", iterations=10, eval_every=4)
    assert [row["iteration"] for row in history] == [4, 8, 10]
    assert sorted(p.name for p in (tmp_path / "it_snapshots").iterdir()) == [
        "iter_000000004.pt", "iter_000000008.pt", "iter_000000010.pt"]
    # The last snapshot is the final generator; an earlier one is not.
    assert _same_weights(tmp_path / "it_snapshots" / "iter_000000010.pt", tmp_path / "it_g.pt")
    assert not _same_weights(tmp_path / "it_snapshots" / "iter_000000008.pt", tmp_path / "it_g.pt")


def test_train_log_means_and_training_psnr(patches, tmp_path: Path, monkeypatch) -> None:
    """Each row holds the mean loss of its own interval, and the PSNR of that mean MSE."""
    seen: list[float] = []
    real_step = training.srresnet_step

    def recording_step(generator, optimizer, **options):
        step = real_step(generator, optimizer, **options)

        def wrapped(lr, hr):
            losses = step(lr, hr)
            seen.append(float(losses["mse"]))
            return losses
        return wrapped

    monkeypatch.setattr(training, "srresnet_step", recording_step)
    history = _pretrain(patches, tmp_path, epochs=2)
    for row, interval in zip(history, (seen[:6], seen[6:])):
        assert row["mse"] == pytest.approx(np.mean(interval), rel=1e-6)
        assert row["train_psnr"] == pytest.approx(10 * math.log10(4 / np.mean(interval)), rel=1e-6)


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


def test_nan_loss_stops_with_a_clear_error(patches, tmp_path: Path) -> None:
    generator = SRResNet(num_blocks=1)
    optimizer = torch.optim.Adam(generator.parameters())
    good = srresnet_step(generator, optimizer)
    calls = {"n": 0}

    def step(lr, hr):
        calls["n"] += 1
        losses = good(lr, hr)
        return {"mse": losses["mse"] * (math.nan if calls["n"] > 6 else 1)}

    resume = tmp_path / "resume"
    data = CropSampler(ImageStore(patches), hr_size=16, per_image=5, batch_size=4, seed=0)
    with pytest.raises(FloatingPointError, match=rf"non-finite mse by iteration 8; stopped, the last "
                                                 rf"good checkpoint is kept at {resume / STATE_FILE}"):
        train(stage="srresnet", step=step, modules={"generator": generator},
              optimizers={"generator": optimizer}, data=data, iterations=18,
              lr_schedule=lambda it: 1e-4, generator=generator, model_args={"num_blocks": 1},
              device=torch.device("cpu"), resume_dir=resume, settings={}, checkpoint_every=4)
    # The checkpoint of the last good evaluation point is kept.
    state = load_checkpoint(resume / STATE_FILE)
    assert (state["iteration"], len(state["history"])) == (6, 1)


def _gan_kwargs(patches, tmp_path: Path, start: Path, name: str) -> dict:
    return dict(generator_checkpoint=start, store_dir=patches, hr_size=16, per_image=5,
                epochs=2, batch_size=4, lr=1e-4, lr_step_epochs=1, content="mse",
                vgg_layer="block2_conv2", adversarial_weight=1e-3, vgg_weights_path=None,
                allow_random_fallback=False, seed=0, device=torch.device("cpu"),
                checkpoint_every=4, resume_dir=tmp_path / f"{name}_resume",
                generator_out=tmp_path / f"{name}_g.pt", discriminator_out=tmp_path / f"{name}_d.pt",
                content_network_out=tmp_path / f"{name}.json", train_log_out=tmp_path / f"{name}.csv",
                snapshots_out=tmp_path / f"{name}_snapshots")


def test_gan_stage_records_d_probabilities_and_training_psnr(patches, tmp_path: Path) -> None:
    _pretrain(patches, tmp_path, epochs=1)
    history = run_gan(**_gan_kwargs(patches, tmp_path, tmp_path / "run_g.pt", "gan"))
    assert [row["lr"] for row in history] == [pytest.approx(1e-4), pytest.approx(1e-5)]
    for row in history:
        assert 0 < row["d_real"] < 1 and 0 < row["d_fake"] < 1
        assert row["train_psnr"] == pytest.approx(10 * math.log10(4 / row["mse"]))
    assert not (tmp_path / "gan_resume").exists()
    assert load_checkpoint(tmp_path / "gan_d.pt")["kind"] == "discriminator"


def test_gan_resume_is_tied_to_its_starting_weights(patches, tmp_path: Path, monkeypatch,
                                                    caplog) -> None:
    _pretrain(patches, tmp_path, epochs=1, name="start_a")
    _pretrain(patches, tmp_path, epochs=2, name="start_b")
    run_gan(**_gan_kwargs(patches, tmp_path, tmp_path / "start_b_g.pt", "fresh"))
    real_step = training.srgan_step

    def crashing_step(*args, **options):
        step, calls = real_step(*args, **options), {"n": 0}

        def wrapped(lr, hr):
            calls["n"] += 1
            if calls["n"] == 9:
                raise KeyboardInterrupt("killed")
            return step(lr, hr)
        return wrapped

    monkeypatch.setattr(training, "srgan_step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        run_gan(**_gan_kwargs(patches, tmp_path, tmp_path / "start_a_g.pt", "gan"))
    monkeypatch.setattr(training, "srgan_step", real_step)
    # The SRResNet was retrained in between (another one now sits at the starting path).
    (tmp_path / "start_a_g.pt").write_bytes((tmp_path / "start_b_g.pt").read_bytes())
    run_gan(**_gan_kwargs(patches, tmp_path, tmp_path / "start_a_g.pt", "gan"))
    assert "made with other settings or inputs" in caplog.text
    assert _same_weights(tmp_path / "gan_g.pt", tmp_path / "fresh_g.pt")


def test_srgan_step_records_the_pixel_mse_of_its_sr() -> None:
    torch.manual_seed(0)
    generator, lr = SRResNet(num_blocks=1), torch.rand(2, 3, 4, 4)
    hr = torch.rand(2, 3, 16, 16) * 2 - 1
    from srgan.losses import ContentLoss
    from srgan.models import Discriminator
    discriminator = Discriminator(input_size=16)
    with torch.no_grad():
        expected = torch.mean((generator(lr) - hr) ** 2)
    step = srgan_step(generator, discriminator, ContentLoss(kind="mse"),
                      torch.optim.Adam(generator.parameters()),
                      torch.optim.Adam(discriminator.parameters()), adversarial_weight=1e-3)
    torch.testing.assert_close(step(lr, hr)["mse"], expected)


def test_bf16_step_runs_on_cpu(patches) -> None:
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=1).to(memory_format=torch.channels_last)
    step = srresnet_step(generator, torch.optim.Adam(generator.parameters()),
                         autocast=training.autocast_factory(torch.device("cpu"), "bf16"))
    data = CropSampler(ImageStore(patches), hr_size=16, per_image=5, batch_size=4, seed=0)
    loss = step(*to_device(*data.batch(0), torch.device("cpu")))["mse"]
    assert loss.dtype == torch.float32 and math.isfinite(float(loss))
