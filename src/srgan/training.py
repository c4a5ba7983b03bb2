"""SRResNet pretraining and SRGAN adversarial training (Ledig et al. 2017, sec. 3.2 and 4.2).

Plain functions: a step function per stage, and one epoch loop (:func:`train`) that feeds it
batches, validates after every epoch, and writes a resumable checkpoint.

Data: patches are uint8 NxHxWx3 arrays opened memory-mapped. A batch moves to the device as uint8
and is converted there: LR to [0, 1], HR to [-1, 1] (the paper's ranges). An epoch is one full pass
over the patch set in a seeded random order; iterations count optimizer steps (the paper's unit).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from srgan import metrics
from srgan.evaluate import EvalPair, super_resolve
from srgan.io import atomic_path, write_text
from srgan.losses import (ContentLoss, calibrated_feature_scale, discriminator_loss,
                          generator_adversarial_loss, pixel_mse)
from srgan.models import Discriminator, SRResNet, load_content_network
from srgan.patches import load_eval_set

log = logging.getLogger(__name__)

StepFn = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]


class PatchSet:
    """HR/LR uint8 patch arrays (N, H, W, 3), memory-mapped from the .npy files of prepare_train."""

    def __init__(self, hr_path: Path, lr_path: Path) -> None:
        self.hr = np.load(hr_path, mmap_mode="r")
        self.lr = np.load(lr_path, mmap_mode="r")
        if len(self.hr) != len(self.lr):
            raise ValueError(f"{hr_path} has {len(self.hr)} patches but {lr_path} has {len(self.lr)}")

    def __len__(self) -> int:
        return len(self.hr)

    def batch(self, index: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """LR (B, 3, h, w) in [0, 1] and HR (B, 3, H, W) in [-1, 1] on ``device``, channels_last."""
        rows = np.sort(index.numpy())  # sorted reads are sequential on the memory map
        lr = torch.from_numpy(self.lr[rows])  # (B, h, w, 3) uint8
        hr = torch.from_numpy(self.hr[rows])  # (B, H, W, 3) uint8
        if device.type == "cuda":  # pinned host memory lets the copy overlap the previous step
            lr, hr = lr.pin_memory(), hr.pin_memory()
        lr, hr = lr.to(device, non_blocking=True), hr.to(device, non_blocking=True)
        # NHWC memory permuted to NCHW is already the channels_last layout.
        lr = lr.permute(0, 3, 1, 2).float().div_(255)
        hr = hr.permute(0, 3, 1, 2).float().div_(127.5).sub_(1)
        return lr, hr


def epoch_order(n: int, batch_size: int, *, seed: int, epoch: int) -> list[torch.Tensor]:
    """The batches of one epoch: a permutation seeded by (seed, epoch), last partial batch dropped.

    Seeding per epoch makes a resumed run draw the same batches as an uninterrupted one.
    """
    if n < batch_size:
        raise ValueError(f"only {n} patches for a batch of {batch_size}; draw more patches per image")
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator)
    return list(order[: n - n % batch_size].split(batch_size))


def lr_at(iteration: int, *, base_lr: float, total: int, schedule: str, step_at: int | None = None) -> float:
    """Learning rate at an iteration: constant, cosine to 0, or step (/10 at ``step_at``)."""
    if schedule == "constant":
        return base_lr
    if schedule == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * iteration / max(total, 1)))
    if schedule == "step":
        return base_lr if step_at is None or iteration < step_at else base_lr / 10
    raise ValueError(f"unknown lr schedule {schedule!r}; expected constant, cosine or step")


def fingerprint(settings: Mapping) -> str:
    """Short hash of the settings that shaped a checkpoint; a resume needs the same one."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


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
               autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> StepFn:
    """One alternating SRGAN step (k=1): D on real and detached fake, then G on content + adv."""

    def step(lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        with autocast():
            sr = generator(lr)  # (B, 3, H, W) in [-1, 1]
            real_logits = discriminator(hr)
            fake_logits = discriminator(sr.detach())
            d_loss = discriminator_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        with autocast():
            content = content_loss(sr, hr)
            adversarial = generator_adversarial_loss(discriminator(sr))
            g_loss = content + adversarial_weight * adversarial
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        return {"g_loss": g_loss.detach(), "content_loss": content.detach(),
                "adversarial_loss": adversarial.detach(), "d_loss": d_loss.detach(),
                "d_real": torch.sigmoid(real_logits.detach()).mean(),
                "d_fake": torch.sigmoid(fake_logits.detach()).mean()}

    return step


def validate(generator: nn.Module, val_sets: Mapping[str, Sequence[EvalPair]], *, device: torch.device,
             scale: int) -> tuple[dict[str, float], np.ndarray | None]:
    """``{<set>_psnr, <set>_ssim}`` (standard protocol) and ``{<set>_psnr_rgb, <set>_ssim_rgb}``
    (the report's) of the generator in eval mode, on every validation set; and the SR of the
    first image of the first non-empty set (the progression figure's, so it is not computed twice).

    Both protocols are recorded, so that changing ``metrics.protocol`` never retrains anything.
    """
    row, first_sr = {}, None
    for name, pairs in val_sets.items():
        values: dict[str, list[float]] = {}
        for _, lr, hr in pairs:
            sr = super_resolve(generator, lr, device=device)
            if first_sr is None:
                first_sr = sr
            for protocol, suffix in (("standard", ""), ("report", "_rgb")):
                values.setdefault(f"{name}_psnr{suffix}", []).append(
                    metrics.psnr(sr, hr, scale=scale, protocol=protocol))
                values.setdefault(f"{name}_ssim{suffix}", []).append(
                    metrics.ssim(sr, hr, scale=scale, protocol=protocol))
        row.update({key: float(np.mean(items)) for key, items in values.items()})
    return row, first_sr


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save to a temporary file, then rename: a kill never leaves a truncated checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_resume_state(path: Path, expected_fingerprint: str) -> dict | None:
    """The resume checkpoint at ``path`` if it belongs to these settings; a stale one is set aside."""
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("fingerprint") != expected_fingerprint:
        stale = path.with_suffix(".stale.pt")
        path.replace(stale)
        log.warning("checkpoint %s was made with other settings (fingerprint %s, now %s): "
                    "not reused, moved to %s; training starts from scratch",
                    path, state.get("fingerprint"), expected_fingerprint, stale)
        return None
    log.info("resuming from %s: epoch %d, %d batches into it (iteration %d)", path, state["epoch"],
             state["batch"], state["iteration"])
    return state


def rng_states() -> dict:
    """Every RNG a step could touch, so that a resumed run draws what the original would have."""
    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Mapping) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def check_finite(stage: str, sums: Mapping[str, torch.Tensor], *, epoch: int, iteration: int,
                 resume_path: Path) -> None:
    """Stop on a NaN/inf loss before it reaches a checkpoint; the last good one stays on disk."""
    bad = [name for name, total in sums.items() if not bool(torch.isfinite(total))]
    if bad:
        raise FloatingPointError(
            f"{stage}: non-finite {', '.join(bad)} in epoch {epoch} (by iteration {iteration}); "
            f"stopped. The last good checkpoint is kept at {resume_path}; lower the learning rate "
            f"or use precision fp32, then rerun to resume from it")


def train(*, stage: str, step: StepFn, modules: Mapping[str, nn.Module],
          optimizers: Mapping[str, torch.optim.Optimizer], patches: PatchSet, epochs: int,
          batch_size: int, lr_schedule: Callable[[int], float], generator: nn.Module,
          val_sets: Mapping[str, Sequence[EvalPair]], scale: int, device: torch.device, seed: int,
          resume_path: Path, settings: Mapping, iterations: int | None = None,
          checkpoint_every: int = 0,
          snapshot_box: tuple[int, int, int] | None = None) -> tuple[list[dict], dict[int, np.ndarray]]:
    """Run ``step`` over ``epochs`` passes (or exactly ``iterations`` steps, when given); validate
    after each epoch. Returns the history (one row per epoch) and ``{epoch: SR crop}``, the
    ``snapshot_box`` (top, left, size) of the first validation image that the epoch-progression
    figure shows.

    A checkpoint (modules, optimizers, RNG states, position in the epoch, running loss sums,
    history) is written atomically after every epoch and every ``checkpoint_every`` iterations.
    A rerun with the same ``settings`` (JSON-able; fingerprinted) resumes from it and ends
    bit-identical to an uninterrupted run on the CPU; one from other settings is never reused.
    """
    key = fingerprint({"stage": stage, **settings})
    per_epoch = len(patches) // batch_size
    total = iterations if iterations is not None else epochs * per_epoch
    last_epoch = math.ceil(total / per_epoch)
    state = load_resume_state(resume_path, key)
    history: list[dict] = []
    epoch, done_batches, iteration, elapsed = 1, 0, 0, 0.0
    sums: dict[str, torch.Tensor] = {}
    snapshots: dict[int, np.ndarray] = {}
    if state is not None:
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        set_rng_states(state["rng"])
        history, iteration, elapsed = state["history"], state["iteration"], state["elapsed"]
        epoch, done_batches = state["epoch"], state["batch"]
        sums = {name: value.to(device) for name, value in state["sums"].items()}
        snapshots = state["snapshots"]

    def checkpoint(epoch: int, batch: int) -> None:
        save_checkpoint(resume_path, {
            "stage": stage, "epoch": epoch, "batch": batch, "iteration": iteration,
            "elapsed": elapsed + time.perf_counter() - start, "fingerprint": key,
            "settings": dict(settings), "history": history, "snapshots": snapshots,
            "sums": {name: value.detach().cpu() for name, value in sums.items()},
            "modules": {name: module.state_dict() for name, module in modules.items()},
            "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
            "rng": rng_states()})

    while epoch <= last_epoch:
        start = time.perf_counter()
        for module in modules.values():
            module.train()
        batches = epoch_order(len(patches), batch_size, seed=seed, epoch=epoch)
        batches = batches[: min(len(batches), total - (epoch - 1) * per_epoch)]
        bar = tqdm(range(done_batches, len(batches)), desc=f"{stage} epoch {epoch}/{last_epoch}",
                   file=sys.stderr, mininterval=5, unit="it", ncols=100)
        for b in bar:
            lr_now = lr_schedule(iteration)
            for optimizer in optimizers.values():
                for group in optimizer.param_groups:
                    group["lr"] = lr_now
            losses = step(*patches.batch(batches[b], device))
            for name, value in losses.items():
                sums[name] = sums[name] + value if name in sums else value.clone()
            iteration += 1
            if checkpoint_every and iteration % checkpoint_every == 0 and b + 1 < len(batches):
                check_finite(stage, sums, epoch=epoch, iteration=iteration, resume_path=resume_path)
                checkpoint(epoch, b + 1)
        check_finite(stage, sums, epoch=epoch, iteration=iteration, resume_path=resume_path)
        row = {name: float(value) / len(batches) for name, value in sums.items()}
        metrics_row, first_sr = validate(generator, val_sets, device=device, scale=scale)
        row.update(metrics_row)
        if snapshot_box is not None and first_sr is not None:
            top, left, size = snapshot_box
            snapshots[epoch] = first_sr[top:top + size, left:left + size].copy()
        seconds = time.perf_counter() - start
        history.append({"epoch": epoch, "iteration": iteration, "lr": lr_schedule(iteration - 1), **row,
                        "seconds": round(seconds, 3), "elapsed": round(elapsed + seconds, 3)})
        log.info("%s epoch %d/%d (%d iterations): %s", stage, epoch, last_epoch, len(batches),
                 ", ".join(f"{k}={v:.4g}" for k, v in history[-1].items() if isinstance(v, float)))
        sums, done_batches = {}, 0
        checkpoint(epoch + 1, 0)
        elapsed += seconds
        epoch += 1
    return history, snapshots


def center_box(shape: tuple[int, ...], size: int) -> tuple[int, int, int]:
    """(top, left, size) of the centred square crop the progression figure shows."""
    size = min(size, shape[0], shape[1])
    return (shape[0] - size) // 2, (shape[1] - size) // 2, size


def snapshot_meta(val_sets: Mapping[str, Sequence[EvalPair]], size: int = 192) -> dict:
    """Where the per-epoch snapshot comes from: the first image of the first non-empty validation
    set (the one ``validate`` returns), a centred crop in HR pixels; {} without validation sets."""
    for set_name, pairs in val_sets.items():
        if pairs:
            image, _, hr = pairs[0]
            return {"val_set": set_name, "image": image, "box": center_box(hr.shape, size)}
    return {}


def write_snapshots(snapshots: Mapping[int, np.ndarray], meta: Mapping, path: Path) -> None:
    """``epoch_<n>`` arrays plus ``val_set``, ``image`` and ``box`` (top, left, size), atomically."""
    arrays = {f"epoch_{epoch}": image for epoch, image in snapshots.items()}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, val_set=np.array(meta.get("val_set", "")), image=np.array(meta.get("image", "")),
                     box=np.array(meta.get("box", (0, 0, 0))), **arrays)


def setup_backend(device: torch.device) -> None:
    """cuDNN autotuning for the fixed training shapes; TF32 is left off (fp32 stays fp32)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


# The config's model.variant names the generator's upsampling (DESIGN sec. 3).
UPSAMPLE_OF_VARIANT = {"paper": "pixelshuffle", "report": "nearest"}


def load_val_sets(val_dirs: Mapping[str, Path]) -> dict[str, list[EvalPair]]:
    return {name: load_eval_set(Path(folder)) for name, folder in val_dirs.items()}


def write_history(history: list[dict], path: Path) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False, float_format="%.6g")


def run_pretrain(*, hr_path: Path, lr_path: Path, val_dirs: Mapping[str, Path], variant: str,
                 num_blocks: int, scale: int, epochs: int, batch_size: int, lr: float,
                 lr_schedule: str, seed: int, device: torch.device, resume_path: Path,
                 generator_out: Path, history_out: Path, iterations: int | None = None,
                 precision: str = "fp32", compile: bool = False, checkpoint_every: int = 0,
                 snapshots_out: Path | None = None) -> list[dict]:
    """SRResNet trained with pixel MSE from scratch (Adam, beta1 0.9); writes G and its history.

    ``iterations`` (the paper's unit) overrides ``epochs`` when given; ``precision`` is auto, bf16
    or fp32 (autocast of the training forward passes; evaluation stays fp32).
    """
    if variant not in UPSAMPLE_OF_VARIANT:
        raise ValueError(f"unknown model variant {variant!r}; expected one of {list(UPSAMPLE_OF_VARIANT)}")
    torch.manual_seed(seed)
    model_args = {"num_blocks": num_blocks, "upsample": UPSAMPLE_OF_VARIANT[variant], "scale": scale}
    generator = SRResNet(**model_args).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.9, 0.999))
    patches = PatchSet(hr_path, lr_path)
    total = iterations or epochs * (len(patches) // batch_size)
    settings = {"model_args": model_args, "epochs": epochs, "iterations": iterations,
                "batch_size": batch_size, "lr": lr, "lr_schedule": lr_schedule, "seed": seed,
                "patches": len(patches), "precision": resolve_precision(device, precision),
                "compile": compile}
    setup_backend(device)
    forward = torch.compile(generator) if compile else generator
    val_sets = load_val_sets(val_dirs)
    snapshot = snapshot_meta(val_sets)
    history, snapshots = train(
        stage="srresnet",
        step=srresnet_step(forward, optimizer, autocast=autocast_factory(device, precision)),
        modules={"generator": generator}, iterations=iterations, checkpoint_every=checkpoint_every,
        optimizers={"generator": optimizer}, patches=patches, epochs=epochs, batch_size=batch_size,
        lr_schedule=lambda it: lr_at(it, base_lr=lr, total=total, schedule=lr_schedule),
        generator=generator, val_sets=val_sets, scale=scale, device=device,
        seed=seed, resume_path=resume_path, settings=settings,
        snapshot_box=snapshot.get("box"))
    if snapshots_out is not None:
        write_snapshots(snapshots, snapshot, snapshots_out)
    save_checkpoint(generator_out, {"stage": "srresnet", "model_args": model_args,
                                    "generator": generator.state_dict(), "settings": settings,
                                    "history": history})
    write_history(history, history_out)
    return history


def run_gan(*, generator_checkpoint: Path, hr_path: Path, lr_path: Path,
            val_dirs: Mapping[str, Path], hr_size: int, scale: int, epochs: int, batch_size: int,
            lr: float, lr_step_epochs: int | None, content: str, vgg_layer: str,
            adversarial_weight: float, vgg_weights_path: str | None, allow_random_fallback: bool,
            seed: int, device: torch.device, resume_path: Path, generator_out: Path,
            discriminator_out: Path, content_network_out: Path, history_out: Path,
            iterations: int | None = None, lr_step_iterations: int | None = None,
            precision: str = "fp32", compile: bool = False, checkpoint_every: int = 0,
            snapshots_out: Path | None = None) -> list[dict]:
    """SRGAN: G from the SRResNet checkpoint, a fresh D, content + 1e-3 adversarial loss.

    The lr drops tenfold after ``lr_step_iterations`` (the paper: 1e5) or ``lr_step_epochs``.
    """
    pretrained = torch.load(generator_checkpoint, map_location="cpu", weights_only=False)
    torch.manual_seed(seed + 1)
    generator = SRResNet(**pretrained["model_args"])
    generator.load_state_dict(pretrained["generator"])
    generator = generator.to(device).to(memory_format=torch.channels_last)
    discriminator = Discriminator(input_size=hr_size).to(device).to(memory_format=torch.channels_last)
    source = "none (pixel MSE)"
    vgg = None
    if content == "vgg":
        vgg, source = load_content_network(layer=vgg_layer, weights_path=vgg_weights_path,
                                           allow_random_fallback=allow_random_fallback)
        vgg = vgg.to(device).to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.9, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.9, 0.999))
    patches = PatchSet(hr_path, lr_path)
    feature_scale = 1 / 12.75  # the paper's, for ImageNet weights
    if source == "random-fallback":
        lr_batch, hr_batch = patches.batch(epoch_order(len(patches), batch_size, seed=seed, epoch=1)[0], device)
        with torch.no_grad():  # eval mode: measuring must not move the BN running statistics
            sr_batch = generator.eval()(lr_batch)
        feature_scale = calibrated_feature_scale(vgg, sr_batch, hr_batch)
        log.warning("random VGG19 weights: VGG feature rescaling calibrated to %.4g (not the paper's "
                    "1/12.75) so that the content loss matches the pixel MSE, as the paper intends", feature_scale)
    content_loss = ContentLoss(kind=content, vgg=vgg, feature_scale=feature_scale)
    per_epoch = len(patches) // batch_size
    total = iterations or epochs * per_epoch
    step_at = lr_step_iterations if lr_step_iterations is not None else (
        None if lr_step_epochs is None else lr_step_epochs * per_epoch)
    settings = {"pretrained": pretrained["settings"], "epochs": epochs, "iterations": iterations,
                "batch_size": batch_size, "lr": lr, "lr_step_at": step_at, "content": content,
                "vgg_layer": vgg_layer, "vgg_source": source, "feature_scale": feature_scale,
                "adversarial_weight": adversarial_weight, "seed": seed, "patches": len(patches),
                "precision": resolve_precision(device, precision), "compile": compile}
    setup_backend(device)
    g_forward = torch.compile(generator) if compile else generator
    d_forward = torch.compile(discriminator) if compile else discriminator
    val_sets = load_val_sets(val_dirs)
    snapshot = snapshot_meta(val_sets)
    history, snapshots = train(
        stage="srgan",
        step=srgan_step(g_forward, d_forward, content_loss, opt_g, opt_d,
                        adversarial_weight=adversarial_weight,
                        autocast=autocast_factory(device, precision)),
        modules={"generator": generator, "discriminator": discriminator},
        iterations=iterations, checkpoint_every=checkpoint_every,
        optimizers={"generator": opt_g, "discriminator": opt_d}, patches=patches, epochs=epochs,
        batch_size=batch_size,
        lr_schedule=lambda it: lr_at(it, base_lr=lr, total=total, schedule="step", step_at=step_at),
        generator=generator, val_sets=val_sets, scale=scale, device=device,
        seed=seed, resume_path=resume_path, settings=settings,
        snapshot_box=snapshot.get("box"))
    if snapshots_out is not None:
        write_snapshots(snapshots, snapshot, snapshots_out)
    save_checkpoint(generator_out, {"stage": "srgan", "model_args": pretrained["model_args"],
                                    "generator": generator.state_dict(), "settings": settings,
                                    "history": history})
    save_checkpoint(discriminator_out, {"stage": "srgan", "input_size": hr_size,
                                        "discriminator": discriminator.state_dict()})
    write_text(content_network_out, json.dumps(
        {"content": content, "layer": vgg_layer if content == "vgg" else None, "weights": source,
         "feature_scale": feature_scale if content == "vgg" else None},
        indent=2) + "\n")
    write_history(history, history_out)
    return history
