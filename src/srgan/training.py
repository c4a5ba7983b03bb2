"""SRResNet pretraining and SRGAN adversarial training (Ledig et al. 2017, sec. 3.2 and 4.2).

Plain functions: a step function per stage, and one loop (:func:`train`) that feeds it batches,
writes a generator snapshot at every evaluation point (every epoch, or every ``eval_every``
iterations) and a resumable checkpoint. Training reads no validation set: the evaluation stage
(``srgan.evaluate.score_snapshots``) scores the snapshots, so that validation sets and metric
settings never retrain anything. The log shows the running losses and the PSNR on the training
batches themselves.

Data: crops of the memory-mapped image store (``srgan.patches``), fresh every minibatch or from a
once-cut set, assembled by a background thread while the step runs. A batch moves to the device
as uint8 and is converted there: LR to [0, 1], HR to [-1, 1] (the paper's ranges). Iterations count
optimizer steps (the paper's unit); an epoch is ``per_image`` crops of every training image.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from srgan.checkpoint import (CheckpointError, fingerprint, finish_resume, load_checkpoint,
                              load_resume_state, rng_states, save_checkpoint, set_rng_states,
                              snapshot_path, weights_digest, STATE_FILE)
from srgan.evaluate import generator_from_checkpoint, pick_device, write_history
from srgan.io import remove_stale_temporaries, write_text
from srgan.losses import (ContentLoss, calibrated_feature_scale, discriminator_loss,
                          generator_adversarial_loss, pixel_mse)
from srgan.models import Discriminator, SRResNet, load_content_network
from srgan.patches import CropSampler, ImageStore, Prefetcher, to_device
from srgan.speed import adam, generator_memory_format, keep_freed_memory, training_forward

log = logging.getLogger(__name__)

StepFn = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]


def lr_at(iteration: int, *, base_lr: float, total: int, schedule: str, step_at: int | None = None) -> float:
    """Learning rate at an iteration: constant, cosine to 0, or step (/10 at ``step_at``)."""
    if schedule == "constant":
        return base_lr
    if schedule == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * iteration / max(total, 1)))
    if schedule == "step":
        return base_lr if step_at is None or iteration < step_at else base_lr / 10
    raise ValueError(f"unknown lr schedule {schedule!r}; expected constant, cosine or step")


PRECISIONS = ("auto", "bf16", "fp32")


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated
    and slower than fp32 (measured on a 2-core AVX-512 Xeon without it: 0.94 vs 2.9 it/s)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(device: torch.device, precision: str) -> str:
    """``auto`` is the precision measured fastest for these networks on each kind of device.

    - CPU with native bf16 (AVX512-BF16/AMX): bf16 (1.9x fp32 for the SRResNet step, measured).
    - CPU without it: fp32 (emulated bf16 ran at a third of fp32's speed).
    - CUDA: fp32, whose convolutions cuDNN already runs as TF32 on tensor cores. At the paper's
      batch of 16 96x96 crops the steps are launch-bound: on an H200, bf16 autocast ran the
      SRResNet step at 839 patches/s against fp32's 1184, and the SRGAN step at 500 against 541
      (benchmarks/gpu_check.py), because autocast adds cast kernels. Ask for bf16 explicitly for
      larger batches.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"


def autocast_factory(device: torch.device, precision: str) -> Callable[[], contextlib.AbstractContextManager]:
    """A context-manager factory for the training forward passes: bf16 autocast or nothing.

    bf16 keeps fp32's exponent range, so no GradScaler is needed (unlike fp16).
    """
    if resolve_precision(device, precision) == "fp32":
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def srresnet_step(generator: nn.Module, optimizer: torch.optim.Optimizer, *,
                  autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> StepFn:
    """One MSE step of SRResNet (the paper's pretraining, and SRResNet-MSE)."""

    def step(lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        with autocast():
            loss = pixel_mse(generator(lr), hr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"mse": loss.detach()}

    return step


def srgan_step(generator: nn.Module, discriminator: nn.Module, content_loss: ContentLoss,
               opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, *,
               adversarial_weight: float,
               autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
               freeze_discriminator: bool = True) -> StepFn:
    """One alternating SRGAN step (k=1): D on real and detached fake, then G on content + adv.

    In the G step, D's parameters are frozen for the pass through D: G's loss needs D's input
    gradient only, and D's weight gradients would be computed just to be discarded (the next D
    step zeroes them). ``freeze_discriminator=False`` is the step as it was before, for the
    benchmarks' comparison. The content loss runs VGG on the HR batch once per step, without a
    graph.
    """
    d_params = list(discriminator.parameters()) if freeze_discriminator else []

    def step(lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        with autocast():
            sr = generator(lr)  # (B, 3, H, W) in [-1, 1]
            real_logits = discriminator(hr)
            fake_logits = discriminator(sr.detach())
            d_loss = discriminator_loss(real_logits, fake_logits)
        # fp32: the loop sums them over an epoch, which bf16's 8-bit mantissa would stall
        d_real = torch.sigmoid(real_logits.detach().float()).mean()
        d_fake = torch.sigmoid(fake_logits.detach().float()).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        for p in d_params:
            p.requires_grad_(False)
        try:
            with autocast():
                content = content_loss(sr, hr)
                adversarial = generator_adversarial_loss(discriminator(sr))
                g_loss = content + adversarial_weight * adversarial
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
        finally:
            for p in d_params:
                p.requires_grad_(True)
        opt_g.step()
        return {"g_loss": g_loss.detach(), "content_loss": content.detach(),
                "mse": pixel_mse(sr.detach().float(), hr),  # the training PSNR of the log
                "adversarial_loss": adversarial.detach(), "d_loss": d_loss.detach(),
                "d_real": d_real, "d_fake": d_fake}

    return step


def check_finite(stage: str, sums: Mapping[str, torch.Tensor], *, iteration: int,
                 resume_dir: Path) -> None:
    """Stop on a NaN/inf loss before it reaches a checkpoint; the last good one stays on disk."""
    bad = [name for name, total in sums.items() if not bool(torch.isfinite(total))]
    if bad:
        kept = resume_dir / STATE_FILE
        where = f"the last good checkpoint is kept at {kept}" if kept.exists() else "no checkpoint was written yet"
        raise FloatingPointError(
            f"{stage}: non-finite {', '.join(bad)} by iteration {iteration}; stopped, {where}. "
            f"Lower the learning rate or use precision fp32, then rerun")


def train_psnr(mse: float) -> float:
    """PSNR in dB of a pixel MSE between images in [-1, 1] (peak-to-peak 2, so MAX^2 = 4)."""
    return 10 * math.log10(4 / mse) if mse > 0 else math.inf


PROGRESS_EVERY = 50  # iterations between updates of the progress bar's running losses


def interval_means(sums: Mapping[str, torch.Tensor], count: int) -> dict[str, float]:
    """Mean of each loss over the ``count`` steps since the last evaluation point, and the
    training PSNR of the mean pixel MSE."""
    means = {name: float(total) / count for name, total in sums.items()}
    if "mse" in means:
        means["train_psnr"] = train_psnr(means["mse"])
    return means


def running_losses(sums: Mapping[str, torch.Tensor], count: int) -> str:
    """The progress bar's text: mean losses since the last evaluation point, and the training PSNR."""
    means = interval_means(sums, count)
    text = " ".join(f"{name}={value:.4g}" for name, value in means.items() if name in ("mse", "g_loss", "d_loss"))
    return text + (f" train_psnr={means['train_psnr']:.2f}dB" if "train_psnr" in means else "")


def train(*, stage: str, step: StepFn, modules: Mapping[str, nn.Module],
          optimizers: Mapping[str, torch.optim.Optimizer], data: CropSampler, iterations: int,
          lr_schedule: Callable[[int], float], generator: nn.Module, model_args: Mapping,
          device: torch.device, resume_dir: Path, settings: Mapping, eval_every: int | None = None,
          checkpoint_every: int = 0) -> list[dict]:
    """Run ``step`` for ``iterations`` optimizer steps on ``data``'s batches; return the training log.

    At every evaluation point (each ``eval_every`` iterations, by default each epoch, and at the
    last iteration) the log gains a row (the mean losses since the previous point, the training
    PSNR, the lr, timings) and ``resume_dir/snapshots`` gains the generator's weights. A
    checkpoint (modules, optimizers, RNG states, position, running sums, log) is written
    atomically at every evaluation point and every ``checkpoint_every`` iterations.

    A rerun with the same ``settings`` (JSON-able, fingerprinted; they must include the identity
    of the inputs) resumes from it and ends bit-identical to an uninterrupted run on the CPU.
    """
    key = fingerprint({"stage": stage, **settings})
    per_epoch = data.per_epoch
    eval_every = eval_every or per_epoch
    resume_dir = Path(resume_dir)
    remove_stale_temporaries([resume_dir / STATE_FILE, snapshot_path(resume_dir, 0)])
    state = load_resume_state(resume_dir, key)
    history: list[dict] = []
    iteration, interval_start = 0, 0
    elapsed, interval_began = 0.0, 0.0  # seconds of training: at `clock`, at the interval's start
    sums: dict[str, torch.Tensor] = {}
    if state is None:
        log.info("%s: training from scratch, %d iterations (%d per epoch, %s sampling), fingerprint %s",
                 stage, iterations, per_epoch, data.mode, key)
    else:
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        set_rng_states(state["rng"])
        history, iteration, elapsed = state["history"], state["iteration"], state["elapsed"]
        interval_start, interval_began = state["interval_start"], state["interval_began"]
        sums = {name: value.to(device) for name, value in state["sums"].items()}
    last_saved = iteration or None  # iteration of the newest resume checkpoint on disk
    clock = time.perf_counter()

    def checkpoint() -> None:
        check_finite(stage, sums, iteration=iteration, resume_dir=resume_dir)
        save_checkpoint(resume_dir / STATE_FILE, {
            "kind": "resume", "stage": stage, "epoch": iteration // per_epoch + 1,
            "batch": iteration % per_epoch, "iteration": iteration, "interval_start": interval_start,
            "interval_began": interval_began, "elapsed": elapsed + time.perf_counter() - clock,
            "fingerprint": key,
            "settings": json.loads(json.dumps(settings, default=str)), "history": history,
            "sums": {name: value.detach().cpu() for name, value in sums.items()},
            "modules": {name: module.state_dict() for name, module in modules.items()},
            "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
            "rng": rng_states()})

    def evaluation_point(data_wait: float) -> dict:
        check_finite(stage, sums, iteration=iteration, resume_dir=resume_dir)
        count = iteration - interval_start
        row = interval_means(sums, count)
        total_seconds = elapsed + time.perf_counter() - clock
        epochs_done = iteration / per_epoch
        record = {"epoch": int(epochs_done) if epochs_done.is_integer() else round(epochs_done, 4),
                  "iteration": iteration, "lr": lr_schedule(iteration - 1), **row,
                  "seconds": round(total_seconds - interval_began, 3),
                  "elapsed": round(total_seconds, 3)}
        save_checkpoint(snapshot_path(resume_dir, iteration), {
            "kind": "snapshot", "stage": stage, "epoch": record["epoch"], "iteration": iteration,
            "model_args": dict(model_args), "generator": generator.state_dict()})
        log.info("%s epoch %s (iteration %d/%d): %s, data wait %.2g s/step", stage, record["epoch"],
                 iteration, iterations,
                 ", ".join(f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float)),
                 data_wait / count)
        return record

    for module in modules.values():
        module.train()
    bar = tqdm(total=iterations, initial=iteration, desc=stage, file=sys.stderr, mininterval=5,
               unit="it", ncols=100)
    with Prefetcher(data, start=iteration, stop=iterations, device=device) as batches:
        waited = batches.wait_seconds
        for lr, hr in batches:
            lr_now = lr_schedule(iteration)
            for optimizer in optimizers.values():
                for group in optimizer.param_groups:
                    group["lr"] = lr_now
            losses = step(lr, hr)
            for name, value in losses.items():
                sums[name] = sums[name] + value if name in sums else value.clone()
            iteration += 1
            bar.update()
            if iteration % PROGRESS_EVERY == 0:  # one host sync per PROGRESS_EVERY steps
                bar.set_postfix_str(running_losses(sums, iteration - interval_start), refresh=False)
            try:
                if iteration % eval_every == 0 or iteration == iterations:
                    history.append(evaluation_point(batches.wait_seconds - waited))
                    waited = batches.wait_seconds
                    sums, interval_start, interval_began = {}, iteration, history[-1]["elapsed"]
                    checkpoint()
                    last_saved = iteration
                elif checkpoint_every and iteration % checkpoint_every == 0:
                    checkpoint()
                    last_saved = iteration
            except CheckpointError as error:
                kept = (f"the last good resume checkpoint, {resume_dir / STATE_FILE} (iteration "
                        f"{last_saved}), is kept and a rerun continues from it" if last_saved
                        else "no resume checkpoint was written yet")
                raise CheckpointError(f"{stage}, iteration {iteration}: {error}; {kept}") from error
    bar.close()
    return history


# The config's model.variant names the generator's upsampling: sub-pixel convolution in
# Ledig et al. 2017, Fig. 4; nearest UpSampling2D in the student report's Keras generator.
UPSAMPLE_OF_VARIANT = {"paper": "pixelshuffle", "report": "nearest"}


def setup_backend(device: torch.device) -> None:
    """cuDNN autotuning for the fixed training shapes (TF32 is left off: fp32 stays fp32); on
    the CPU, freed activations are kept for the next step instead of page-faulted afresh."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    elif device.type == "cpu":
        keep_freed_memory()


def compiled(forward: Callable, *, device: torch.device, compile: bool, cuda_graphs: bool,
             starts_step: bool = False) -> Callable:
    """``forward`` as the step calls it: eager, ``torch.compile``d, or compiled with CUDA graphs
    (``mode="reduce-overhead"``), which replay a whole forward or backward as one launch. At the
    paper's batch of 16 a GPU step is launch-bound (about 1% of an H200's bf16 peak), which is
    what graphs remove. They need CUDA; elsewhere the switch is ignored with a warning.

    A graph's outputs live in memory that its next replay overwrites, so the network called first
    in each step (``starts_step``: the generator) tells torch that a new step begins, and the
    previous step's outputs are no longer read; D's outputs are all used within their step.
    """
    if cuda_graphs and device.type != "cuda":
        log.warning("cuda_graphs needs a CUDA device; running on %s without CUDA graphs", device)
        cuda_graphs = False
    if not cuda_graphs:
        return torch.compile(forward) if compile else forward
    graphed = torch.compile(forward, mode="reduce-overhead")
    if not starts_step:
        return graphed

    def step_forward(*args: torch.Tensor) -> torch.Tensor:
        torch.compiler.cudagraph_mark_step_begin()
        return graphed(*args)

    return step_forward


def total_iterations(iterations: int | None, epochs: int, per_epoch: int) -> int:
    return iterations if iterations is not None else epochs * per_epoch


def open_training_data(store_dir: Path, *, hr_size: int, per_image: int, batch_size: int, seed: int,
                       sampling: str, augment: bool) -> tuple[CropSampler, dict]:
    """The crop sampler of a stage, and the settings of it that the resume fingerprint holds
    (the store's content digest among them)."""
    store = ImageStore(store_dir)
    data = CropSampler(store, hr_size=hr_size, per_image=per_image, batch_size=batch_size, seed=seed,
                       mode=sampling, augment=augment)
    return data, {"data": store.digest(), "hr_size": hr_size, "per_image": per_image,
                  "sampling": sampling, "augment": augment}


def run_pretrain(*, store_dir: Path, hr_size: int, per_image: int, variant: str, num_blocks: int,
                 scale: int, epochs: int, batch_size: int, lr: float, lr_schedule: str, seed: int,
                 device: torch.device, resume_dir: Path, generator_out: Path, train_log_out: Path,
                 snapshots_out: Path, sampling: str = "random", augment: bool = False,
                 iterations: int | None = None, eval_every: int | None = None,
                 precision: str = "fp32", compile: bool = False, cuda_graphs: bool = False,
                 checkpoint_every: int = 0) -> list[dict]:
    """SRResNet trained with pixel MSE from scratch (Adam, beta1 0.9); writes G, its training log
    and its snapshots, then removes the resume state.

    ``iterations`` (the paper's unit) overrides ``epochs`` when given; ``precision`` is auto, bf16
    or fp32 (autocast of the training forward passes). ``device``, ``compile``, ``cuda_graphs``
    and ``checkpoint_every`` change how the run goes, never its result, and are not fingerprinted.
    The step runs :func:`srgan.speed.training_forward`, the generator's own function in faster form.
    """
    if variant not in UPSAMPLE_OF_VARIANT:
        raise ValueError(f"unknown model variant {variant!r}; expected one of {list(UPSAMPLE_OF_VARIANT)}")
    torch.manual_seed(seed)
    model_args = {"num_blocks": num_blocks, "upsample": UPSAMPLE_OF_VARIANT[variant], "scale": scale}
    generator = SRResNet(**model_args).to(device).to(memory_format=generator_memory_format(device))
    optimizer = adam(generator.parameters(), lr=lr, device=device)
    data, data_settings = open_training_data(store_dir, hr_size=hr_size, per_image=per_image,
                                             batch_size=batch_size, seed=seed, sampling=sampling,
                                             augment=augment)
    total = total_iterations(iterations, epochs, data.per_epoch)
    settings = {"model_args": model_args, "iterations": total, "batch_size": batch_size, "lr": lr,
                "lr_schedule": lr_schedule, "seed": seed, "eval_every": eval_every,
                "precision": resolve_precision(device, precision), **data_settings}
    setup_backend(device)
    forward = compiled(training_forward(generator), device=device, compile=compile,
                       cuda_graphs=cuda_graphs, starts_step=True)
    history = train(
        stage="srresnet",
        step=srresnet_step(forward, optimizer, autocast=autocast_factory(device, precision)),
        modules={"generator": generator}, optimizers={"generator": optimizer}, data=data,
        iterations=total, lr_schedule=lambda it: lr_at(it, base_lr=lr, total=total, schedule=lr_schedule),
        generator=generator, model_args=model_args, device=device,
        resume_dir=resume_dir, settings=settings, eval_every=eval_every,
        checkpoint_every=checkpoint_every)
    save_checkpoint(generator_out, {"kind": "generator", "stage": "srresnet", "model_args": model_args,
                                    "generator": generator.state_dict(), "settings": settings,
                                    "history": history})
    write_history(pd.DataFrame(history), train_log_out)
    finish_resume(resume_dir, snapshots_out)
    return history


def run_gan(*, generator_checkpoint: Path, store_dir: Path, hr_size: int, per_image: int,
            epochs: int, batch_size: int, lr: float, lr_step_epochs: int | None, content: str,
            vgg_layer: str, adversarial_weight: float, vgg_weights_path: str | None,
            allow_random_fallback: bool, seed: int, device: torch.device, resume_dir: Path,
            generator_out: Path, discriminator_out: Path, content_network_out: Path,
            train_log_out: Path, snapshots_out: Path, sampling: str = "random",
            augment: bool = False, iterations: int | None = None,
            lr_step_iterations: int | None = None, eval_every: int | None = None,
            precision: str = "fp32", compile: bool = False, cuda_graphs: bool = False,
            checkpoint_every: int = 0) -> list[dict]:
    """SRGAN: G from the SRResNet checkpoint, a fresh D, content + 1e-3 adversarial loss.

    The lr drops tenfold after ``lr_step_iterations`` (the paper: 1e5) or ``lr_step_epochs``.
    Writes G, D, the content-network record, the training log and the snapshots, then removes
    the resume state.
    """
    pretrained = load_checkpoint(generator_checkpoint)
    torch.manual_seed(seed + 1)
    generator = generator_from_checkpoint(pretrained, source=Path(generator_checkpoint))
    generator = generator.to(device).to(memory_format=generator_memory_format(device))
    discriminator = Discriminator(input_size=hr_size).to(device).to(memory_format=torch.channels_last)
    source = "none (pixel MSE)"
    vgg = None
    if content == "vgg":
        vgg, source = load_content_network(layer=vgg_layer, weights_path=vgg_weights_path,
                                           allow_random_fallback=allow_random_fallback)
        vgg = vgg.to(device).to(memory_format=torch.channels_last)
    opt_g = adam(generator.parameters(), lr=lr, device=device)
    opt_d = adam(discriminator.parameters(), lr=lr, device=device)
    data, data_settings = open_training_data(store_dir, hr_size=hr_size, per_image=per_image,
                                             batch_size=batch_size, seed=seed, sampling=sampling,
                                             augment=augment)
    feature_scale = 1 / 12.75  # the paper's, for ImageNet weights
    if source == "random-fallback":
        lr_batch, hr_batch = to_device(*data.batch(0), device)
        with torch.no_grad():  # eval mode: measuring must not move the BN running statistics
            sr_batch = generator.eval()(lr_batch)
        feature_scale = calibrated_feature_scale(vgg, sr_batch, hr_batch)
        log.warning("random VGG19 weights: VGG feature rescaling calibrated to %.4g (not the paper's "
                    "1/12.75) so that the content loss matches the pixel MSE, as the paper intends", feature_scale)
    content_loss = ContentLoss(kind=content, vgg=vgg, feature_scale=feature_scale)
    per_epoch = data.per_epoch
    total = total_iterations(iterations, epochs, per_epoch)
    step_at = lr_step_iterations if lr_step_iterations is not None else (
        None if lr_step_epochs is None else lr_step_epochs * per_epoch)
    settings = {"iterations": total, "batch_size": batch_size, "lr": lr, "lr_step_at": step_at,
                "content": content, "vgg_layer": vgg_layer, "vgg_source": source,
                "feature_scale": feature_scale, "adversarial_weight": adversarial_weight,
                "seed": seed, "eval_every": eval_every,
                "precision": resolve_precision(device, precision), **data_settings,
                "start": weights_digest(pretrained["generator"])}
    setup_backend(device)
    g_forward = compiled(training_forward(generator), device=device, compile=compile,
                         cuda_graphs=cuda_graphs, starts_step=True)
    d_forward = compiled(discriminator, device=device, compile=compile, cuda_graphs=cuda_graphs)
    history = train(
        stage="srgan",
        step=srgan_step(g_forward, d_forward, content_loss, opt_g, opt_d,
                        adversarial_weight=adversarial_weight,
                        autocast=autocast_factory(device, precision)),
        modules={"generator": generator, "discriminator": discriminator},
        optimizers={"generator": opt_g, "discriminator": opt_d}, data=data, iterations=total,
        lr_schedule=lambda it: lr_at(it, base_lr=lr, total=total, schedule="step", step_at=step_at),
        generator=generator, model_args=pretrained["model_args"], device=device,
        resume_dir=resume_dir, settings=settings, eval_every=eval_every,
        checkpoint_every=checkpoint_every)
    save_checkpoint(generator_out, {"kind": "generator", "stage": "srgan",
                                    "model_args": pretrained["model_args"],
                                    "generator": generator.state_dict(), "settings": settings,
                                    "history": history})
    save_checkpoint(discriminator_out, {"kind": "discriminator", "stage": "srgan", "input_size": hr_size,
                                        "discriminator": discriminator.state_dict()})
    write_text(content_network_out, json.dumps(
        {"content": content, "layer": vgg_layer if content == "vgg" else None, "weights": source,
         "feature_scale": feature_scale if content == "vgg" else None},
        indent=2) + "\n")
    write_history(pd.DataFrame(history), train_log_out)
    finish_resume(resume_dir, snapshots_out)
    return history


def pretrain_from_config(store_dir: Path, *, patches: Mapping, model: Mapping, train: Mapping,
                         scale: int, seed: int, precision: str, run: Mapping, resume_dir: Path,
                         generator_out: Path, train_log_out: Path, snapshots_out: Path) -> list[dict]:
    """Rule pretrain: :func:`run_pretrain` with the config's ``patches``, ``model`` and
    ``pretrain`` sections and the run settings (``device``, ``compile``, ``checkpoint_every``)
    as they are, so that the rule passes the sections and this is the one place that unpacks them."""
    return run_pretrain(
        store_dir=Path(store_dir), hr_size=patches["hr_size"], per_image=patches["per_image"],
        sampling=patches["sampling"], augment=patches["augment"], variant=model["variant"],
        num_blocks=model["num_blocks"], scale=scale, epochs=train["epochs"],
        iterations=train["iterations"], eval_every=train["eval_every"],
        batch_size=train["batch_size"], lr=train["lr"], lr_schedule=train["lr_schedule"], seed=seed,
        precision=precision, device=pick_device(run["device"]), compile=run["compile"],
        cuda_graphs=run["cuda_graphs"],
        checkpoint_every=run["checkpoint_every"], resume_dir=Path(resume_dir),
        generator_out=Path(generator_out), train_log_out=Path(train_log_out),
        snapshots_out=Path(snapshots_out))


def gan_from_config(generator_checkpoint: Path, store_dir: Path, *, gan: Mapping, vgg: Mapping,
                    patches: Mapping, seed: int, precision: str, run: Mapping, resume_dir: Path,
                    generator_out: Path, discriminator_out: Path, content_network_out: Path,
                    train_log_out: Path, snapshots_out: Path) -> list[dict]:
    """Rule train_gan: :func:`run_gan` with the config's ``gan``, ``vgg`` and ``patches``
    sections and the run settings, unpacked here as :func:`pretrain_from_config` does."""
    return run_gan(
        generator_checkpoint=Path(generator_checkpoint), store_dir=Path(store_dir),
        hr_size=patches["hr_size"], per_image=patches["per_image"], sampling=patches["sampling"],
        augment=patches["augment"], epochs=gan["epochs"], iterations=gan["iterations"],
        eval_every=gan["eval_every"], lr_step_iterations=gan["lr_step_iterations"],
        batch_size=gan["batch_size"], lr=gan["lr"], lr_step_epochs=gan["lr_step_epochs"],
        content=gan["content"], vgg_layer=gan["vgg_layer"],
        adversarial_weight=gan["adversarial_weight"], vgg_weights_path=vgg["weights_path"],
        allow_random_fallback=vgg["allow_random_fallback"], seed=seed, precision=precision,
        device=pick_device(run["device"]), compile=run["compile"], cuda_graphs=run["cuda_graphs"],
        checkpoint_every=run["checkpoint_every"], resume_dir=Path(resume_dir),
        generator_out=Path(generator_out), discriminator_out=Path(discriminator_out),
        content_network_out=Path(content_network_out), train_log_out=Path(train_log_out),
        snapshots_out=Path(snapshots_out))
