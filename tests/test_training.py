"""Training loop: schedules (as the optimizers see them), seeds, batch order, evaluation points,
resume only of interrupted runs of the same inputs (kill -9 of either stage), stale / corrupt /
unsafe resume state, the NaN guard, precision, and the SRGAN step itself (D before G, D on the
detached SR, the adversarial weight)."""

from __future__ import annotations

import copy
import json
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
from torchvision.models import VGG19_Weights

from conftest import CreatesAFile, write_random_store
from srgan import training
from srgan.checkpoint import STATE_FILE, load_checkpoint
from srgan.losses import ContentLoss, discriminator_loss, generator_adversarial_loss, pixel_mse
from srgan.models import Discriminator, SRResNet
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
KILL_SCRIPT_TEMPLATE = """
import os, pickle, signal, sys
import torch
from srgan import training

torch.set_num_threads(1)
real_step = training.{step}

def killing_step(*args, **options):
    step, calls = real_step(*args, **options), [0]
    def wrapped(lr, hr):
        calls[0] += 1
        if calls[0] == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
        return step(lr, hr)
    return wrapped

training.{step} = killing_step
with open(sys.argv[1], "rb") as handle:
    training.{run}(**pickle.load(handle))
"""
KILL_SCRIPT = KILL_SCRIPT_TEMPLATE.format(step="srresnet_step", run="run_pretrain")


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


def _recording_lr(monkeypatch, name: str, seen: list) -> None:
    """Make ``training.<name>`` (a step factory) record its optimizers' lr at every step call,
    that is after the training loop has set the lr of that iteration."""
    real = getattr(training, name)

    def recording(*args, **options):
        optimizers = [a for a in args if isinstance(a, torch.optim.Optimizer)]
        step = real(*args, **options)

        def wrapped(lr, hr):
            seen.append(tuple(group["lr"] for opt in optimizers for group in opt.param_groups))
            return step(lr, hr)
        return wrapped

    monkeypatch.setattr(training, name, recording)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_both_stages_train_the_generator_in_the_layout_chosen_for_the_device(
        patches, tmp_path: Path, monkeypatch, layout: torch.memory_format) -> None:
    """srgan.speed.generator_memory_format decides it (NCHW on CPUs without AVX-512), for
    pretraining and the GAN stage alike."""
    monkeypatch.setattr(training, "generator_memory_format", lambda device: layout)
    seen: list[bool] = []
    real = training.training_forward

    def recording(generator):
        seen.append(all(m.weight.is_contiguous(memory_format=layout) for m in generator.modules()
                        if isinstance(m, torch.nn.Conv2d)))
        return real(generator)

    monkeypatch.setattr(training, "training_forward", recording)
    _pretrain(patches, tmp_path, epochs=1)
    run_gan(**{**_gan_kwargs(patches, tmp_path, tmp_path / "run_g.pt", "gan"), "epochs": 1})
    assert seen == [True, True]


def test_both_stages_update_with_the_papers_adam_fused_on_the_cpu(patches, tmp_path: Path,
                                                                   monkeypatch) -> None:
    """srgan.speed.adam: betas 0.9 and 0.999, and torch's fused kernel (one pass per tensor) where
    the device has it, for G in pretraining and G and D in the GAN stage."""
    seen: list[tuple] = []
    for name in ("srresnet_step", "srgan_step"):
        real = getattr(training, name)

        def recording(*args, real=real, **options):
            seen.extend((o.defaults["betas"], o.defaults["fused"]) for o in args
                        if isinstance(o, torch.optim.Optimizer))
            return real(*args, **options)

        monkeypatch.setattr(training, name, recording)
    _pretrain(patches, tmp_path, epochs=1)
    run_gan(**{**_gan_kwargs(patches, tmp_path, tmp_path / "run_g.pt", "gan"), "epochs": 1})
    assert seen == [((0.9, 0.999), True)] * 3


def test_the_optimizers_follow_the_lr_schedules_and_gan_records_d_probabilities(
        patches, tmp_path: Path, monkeypatch) -> None:
    """The lr the optimizers step with, not only the history's: cosine over SRResNet's 6
    iterations, and SRGAN's tenfold drop after its first epoch (lr_step_epochs=1), for G and D."""
    pretrain_lrs: list[tuple] = []
    _recording_lr(monkeypatch, "srresnet_step", pretrain_lrs)
    _pretrain(patches, tmp_path, epochs=1)
    assert pretrain_lrs == [pytest.approx((1e-3 * 0.5 * (1 + math.cos(math.pi * i / 6)),))
                            for i in range(6)]
    gan_lrs: list[tuple] = []
    _recording_lr(monkeypatch, "srgan_step", gan_lrs)
    history = run_gan(**_gan_kwargs(patches, tmp_path, tmp_path / "run_g.pt", "gan"))
    assert gan_lrs == [pytest.approx((1e-4, 1e-4))] * 6 + [pytest.approx((1e-5, 1e-5))] * 6
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


# As KILL_SCRIPT, for the SRGAN stage: SIGKILL in the middle of SRGAN iteration argv[2].
GAN_KILL_SCRIPT = KILL_SCRIPT_TEMPLATE.format(step="srgan_step", run="run_gan")


def test_kill_9_of_the_gan_stage_then_resume_is_bit_identical(patches, tmp_path: Path,
                                                               one_thread) -> None:
    _pretrain(patches, tmp_path, epochs=1, name="start")
    start = tmp_path / "start_g.pt"
    full = run_gan(**_gan_kwargs(patches, tmp_path, start, "full"))

    (tmp_path / "kwargs.pkl").write_bytes(pickle.dumps(_gan_kwargs(patches, tmp_path, start, "part")))
    # 6 iterations per epoch, checkpoints at 4, 6, 8, 12: killed in iteration 11, the run
    # resumes 2 batches into epoch 2, after the lr drop, with both Adam states restored.
    child = subprocess.run([sys.executable, "-c", GAN_KILL_SCRIPT, str(tmp_path / "kwargs.pkl"), "11"],
                           capture_output=True, text=True, timeout=300, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert not (tmp_path / "part_g.pt").exists() and not (tmp_path / "part_d.pt").exists()
    state = load_checkpoint(tmp_path / "part_resume" / STATE_FILE)
    assert (state["stage"], state["iteration"], len(state["history"])) == ("srgan", 8, 1)

    resumed = run_gan(**_gan_kwargs(patches, tmp_path, start, "part"))
    assert _without_timing(resumed) == _without_timing(full)
    assert _same_weights(tmp_path / "full_g.pt", tmp_path / "part_g.pt")
    full_d = load_checkpoint(tmp_path / "full_d.pt")["discriminator"]
    part_d = load_checkpoint(tmp_path / "part_d.pt")["discriminator"]
    assert full_d.keys() == part_d.keys() and all(torch.equal(full_d[k], part_d[k]) for k in full_d)
    assert [p.name for p in sorted((tmp_path / "part_snapshots").iterdir())] == [
        "iter_000000006.pt", "iter_000000012.pt"]
    for a, b in zip(sorted((tmp_path / "full_snapshots").iterdir()),
                    sorted((tmp_path / "part_snapshots").iterdir())):
        assert a.name == b.name and _same_weights(a, b)


def test_gan_with_the_vgg_content_loss_on_random_weights_offline(patches, tmp_path: Path,
                                                                  monkeypatch, caplog) -> None:
    """content="vgg" with no ImageNet weights to be had and the fallback allowed: the content
    loss is the VGG loss (not the pixel MSE) with a calibrated feature scale, and the outputs
    say which weights were used."""

    def offline(self, *args, **kwargs):
        raise OSError("simulated: no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(VGG19_Weights, "get_state_dict", offline)
    _pretrain(patches, tmp_path, epochs=1)
    kwargs = {**_gan_kwargs(patches, tmp_path, tmp_path / "run_g.pt", "vgg"), "content": "vgg",
              "allow_random_fallback": True, "iterations": 6}
    history = run_gan(**kwargs)
    record = json.loads((tmp_path / "vgg.json").read_text())
    assert {k: record[k] for k in ("content", "layer", "weights")} == {
        "content": "vgg", "layer": "block2_conv2", "weights": "random-fallback"}
    scale = record["feature_scale"]
    assert math.isfinite(scale) and scale > 0 and scale != pytest.approx(1 / 12.75, rel=0.01)
    settings = load_checkpoint(tmp_path / "vgg_g.pt")["settings"]
    assert (settings["content"], settings["vgg_source"], settings["feature_scale"]) == (
        "vgg", "random-fallback", scale)
    assert "random VGG19 weights: VGG feature rescaling calibrated" in caplog.text
    [row] = history
    # Not the pixel MSE, yet of its scale: the calibration's purpose (the paper's 1/12.75 on
    # random weights would make it orders of magnitude smaller).
    assert row["content_loss"] != pytest.approx(row["mse"], rel=1e-3)
    assert 0.2 < row["content_loss"] / row["mse"] < 5
    assert row["g_loss"] == pytest.approx(row["content_loss"] + 1e-3 * row["adversarial_loss"],
                                          rel=1e-5)


def test_the_seed_sets_the_initial_weights_and_the_crops(patches, tmp_path: Path,
                                                          monkeypatch) -> None:
    """Same seed, same start and batches; another seed, another G (pretraining) or D (SRGAN)
    initialisation and other crops. lr = 0 keeps the final weights at the initial ones."""
    batches: dict[str, list] = {}

    def watch(name: str):
        real = getattr(training, name)

        def factory(*args, **options):
            step = real(*args, **options)

            def wrapped(lr, hr):
                batches[key].append(hr.clone())
                return step(lr, hr)
            return wrapped
        monkeypatch.setattr(training, name, factory)

    watch("srresnet_step")
    watch("srgan_step")

    def parameters(path: Path, kind: str) -> list[torch.Tensor]:
        # The randomly initialised tensors: conv and linear weights (BN and PReLU start constant;
        # BN statistics move even with lr = 0).
        return [v for v in load_checkpoint(path)[kind].values() if v.ndim >= 2]

    for key, seed in (("a", 0), ("b", 0), ("c", 1)):
        batches[key] = []
        _pretrain(patches, tmp_path, epochs=1, name=f"pre_{key}", seed=seed, lr=0.0, iterations=1)
        run_gan(**{**_gan_kwargs(patches, tmp_path, tmp_path / "pre_a_g.pt", f"gan_{key}"),
                   "seed": seed, "lr": 0.0, "iterations": 1})
    assert len(batches["a"]) == 2  # a pretraining and an SRGAN batch
    assert all(torch.equal(x, y) for x, y in zip(batches["a"], batches["b"]))
    assert not any(torch.equal(x, y) for x, y in zip(batches["a"], batches["c"]))
    for name, kind in (("pre_{}_g.pt", "generator"), ("gan_{}_d.pt", "discriminator")):
        a, b, c = (parameters(tmp_path / name.format(key), kind) for key in "abc")
        assert all(torch.equal(x, y) for x, y in zip(a, b)), name
        assert a and not any(torch.equal(x, y) for x, y in zip(a, c)), name


def test_srgan_step_records_the_pixel_mse_of_its_sr() -> None:
    torch.manual_seed(0)
    generator, lr = SRResNet(num_blocks=1), torch.rand(2, 3, 4, 4)
    hr = torch.rand(2, 3, 16, 16) * 2 - 1
    discriminator = Discriminator(input_size=16)
    with torch.no_grad():
        expected = torch.mean((generator(lr) - hr) ** 2)
    step = srgan_step(generator, discriminator, ContentLoss(kind="mse"),
                      torch.optim.Adam(generator.parameters()),
                      torch.optim.Adam(discriminator.parameters()), adversarial_weight=1e-3)
    torch.testing.assert_close(step(lr, hr)["mse"], expected)


def _one_observed_srgan_step(adversarial_weight: float) -> dict:
    """One srgan_step on small random networks, watched from the optimizers' step pre-hooks:
    which optimizer steps in which order, the gradients each one is about to apply, and copies
    of G and D as they were before the step and of D as it was when G stepped."""
    torch.manual_seed(0)
    generator, discriminator = SRResNet(num_blocks=1, channels=8), Discriminator(input_size=16)
    lr, hr = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 16, 16) * 2 - 1
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-2)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-2)
    seen = {"order": [], "g0": copy.deepcopy(generator), "d0": copy.deepcopy(discriminator)}

    def grads(module: torch.nn.Module) -> list:
        return [None if p.grad is None else p.grad.clone() for p in module.parameters()]

    def before_d(*_):
        seen["order"].append("D")
        seen["d_grads"], seen["g_grads_at_d"] = grads(discriminator), grads(generator)

    def before_g(*_):
        seen["order"].append("G")
        seen["g_grads"], seen["d1"] = grads(generator), copy.deepcopy(discriminator)

    opt_d.register_step_pre_hook(before_d)
    opt_g.register_step_pre_hook(before_g)
    seen["losses"] = srgan_step(generator, discriminator, ContentLoss(kind="mse"), opt_g, opt_d,
                                adversarial_weight=adversarial_weight)(lr, hr)
    seen["lr"], seen["hr"] = lr, hr
    return seen


def test_srgan_step_updates_d_before_g() -> None:
    """D steps first; G's adversarial term is then measured by the updated D (Ledig et al. 2017,
    sec. 2.1: alternating updates, k = 1)."""
    seen = _one_observed_srgan_step(1e-3)
    assert seen["order"] == ["D", "G"]
    with torch.no_grad():
        sr = seen["g0"](seen["lr"])
        with_updated_d = generator_adversarial_loss(seen["d1"](sr))
        with_old_d = generator_adversarial_loss(seen["d0"](sr))
    torch.testing.assert_close(seen["losses"]["adversarial_loss"], with_updated_d)
    assert abs(float(with_updated_d - with_old_d)) > 1e-3  # the update moved D measurably


def test_srgan_step_trains_d_on_the_detached_sr() -> None:
    """D's gradient is that of its loss on HR and on the SR taken as a constant, and none of it
    reaches G: when D steps, G holds no gradient at all."""
    seen = _one_observed_srgan_step(1e-3)
    assert all(grad is None for grad in seen["g_grads_at_d"])
    d0 = seen["d0"]
    sr = seen["g0"](seen["lr"]).detach()
    expected = torch.autograd.grad(discriminator_loss(d0(seen["hr"]), d0(sr)), list(d0.parameters()))
    for got, want in zip(seen["d_grads"], expected):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(seen["losses"]["d_loss"],
                               discriminator_loss(seen["d0"](seen["hr"]), seen["d0"](sr)))


@pytest.mark.parametrize("weight", [1e-3, 0.5])
def test_srgan_step_gives_g_content_plus_weighted_adversarial_loss(weight: float) -> None:
    """l_SR = l_X + w * l_Gen (Ledig et al. 2017, Eq. 3), by value and by G's gradient, with
    l_Gen measured by the updated D."""
    seen = _one_observed_srgan_step(weight)
    losses = seen["losses"]
    torch.testing.assert_close(losses["g_loss"],
                               losses["content_loss"] + weight * losses["adversarial_loss"])
    g0 = seen["g0"]
    sr = g0(seen["lr"])
    content = pixel_mse(sr, seen["hr"])
    adversarial = generator_adversarial_loss(seen["d1"](sr))
    torch.testing.assert_close(losses["content_loss"], content.detach())
    expected = torch.autograd.grad(content + weight * adversarial, list(g0.parameters()))
    for got, want in zip(seen["g_grads"], expected):
        torch.testing.assert_close(got, want)


def _output_dtypes(*modules: torch.nn.Module) -> list[torch.dtype]:
    """Record the dtype of every Conv2d output of ``modules`` (forward hooks, kept for the test)."""
    seen: list[torch.dtype] = []
    for module in modules:
        for conv in (m for m in module.modules() if isinstance(m, torch.nn.Conv2d)):
            conv.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


@pytest.mark.parametrize("precision, expected", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_precision_sets_the_dtype_of_the_training_convolutions(patches, precision: str,
                                                               expected: torch.dtype) -> None:
    """bf16 runs every convolution of both steps (G; D on HR, on the detached SR and in G's
    adversarial term) under autocast, and the losses stay fp32; fp32 stays fp32."""
    torch.manual_seed(0)
    autocast = training.autocast_factory(torch.device("cpu"), precision)
    data = CropSampler(ImageStore(patches), hr_size=16, per_image=5, batch_size=4, seed=0)
    lr, hr = to_device(*data.batch(0), torch.device("cpu"))
    generator = SRResNet(num_blocks=1).to(memory_format=torch.channels_last)
    seen = _output_dtypes(generator)
    loss = srresnet_step(generator, torch.optim.Adam(generator.parameters()), autocast=autocast)(lr, hr)["mse"]
    assert loss.dtype == torch.float32 and math.isfinite(float(loss))
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in generator.modules())
    assert seen == [expected] * convs
    discriminator = Discriminator(input_size=16)
    seen = _output_dtypes(generator, discriminator)
    losses = srgan_step(generator, discriminator, ContentLoss(kind="mse"),
                        torch.optim.Adam(generator.parameters()),
                        torch.optim.Adam(discriminator.parameters()), adversarial_weight=1e-3,
                        autocast=autocast)(lr, hr)
    d_convs = sum(isinstance(m, torch.nn.Conv2d) for m in discriminator.modules())
    assert len(seen) == convs + 3 * d_convs and set(seen) == {expected}
    for name in ("g_loss", "content_loss", "mse", "adversarial_loss", "d_loss"):
        assert losses[name].dtype == torch.float32 and math.isfinite(float(losses[name])), name


def test_bf16_d_probabilities_are_returned_in_fp32() -> None:
    torch.manual_seed(0)
    generator, discriminator = SRResNet(num_blocks=1), Discriminator(input_size=16)
    step = srgan_step(generator, discriminator, ContentLoss(kind="mse"),
                      torch.optim.Adam(generator.parameters()),
                      torch.optim.Adam(discriminator.parameters()), adversarial_weight=1e-3,
                      autocast=training.autocast_factory(torch.device("cpu"), "bf16"))
    losses = step(torch.rand(2, 3, 4, 4), torch.rand(2, 3, 16, 16) * 2 - 1)
    assert losses["d_real"].dtype == losses["d_fake"].dtype == torch.float32
