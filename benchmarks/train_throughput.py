"""Training throughput of our SRResNet and SRGAN steps against a plain reference loop.

The reference is what the popular SRGAN repositories do: a torch Dataset that opens a PNG with PIL
for every sample, takes a random 96x96 crop, makes the 24x24 LR with PIL's bicubic, and feeds a
DataLoader (num_workers=0, so it shares the same cores); fp32, eager, NCHW. Ours: crops of the
uint8 memory-mapped image store of srgan.patches, assembled by the background prefetch thread,
moved as uint8 and converted on the device, channels_last, bf16 autocast where `precision: auto`
picks it, optionally torch.compile. Ours runs in both sampling modes: `fixed` (a once-cut crop
set) and `random` (fresh crops of distinct images every batch, the paper's); the table also gives
the seconds per step that the step waited for its batch.

Same machine, same run, same batch (16 crops of 96x96), same networks (paper SRResNet, D at 96,
VGG19 to block5_conv4 with random weights: speed does not depend on the weights).

    python benchmarks/train_throughput.py [--images DIR ...] [--device auto] [--steps 6]
                                          [--variants ours,ours-fp32,ours-compile] [--threads 2]
                                          [--rounds 3]

Prints a Markdown table of patches/s; then `random_vs_fixed: N.NN` (patches/s of random over fixed
sampling, the first variant, the smaller of the two stages) and, last, `ratio: N.NN`, the smaller
of the two ours/reference ratios (the first variant, fixed sampling).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from srgan.evaluate import pick_device
from srgan.io import list_images
from srgan.losses import ContentLoss, discriminator_loss, generator_adversarial_loss, pixel_mse
from srgan.models import Discriminator, SRResNet, VGGFeatures
from srgan.patches import CropSampler, ImageStore, Prefetcher, write_image_store
from srgan.training import autocast_factory, resolve_precision, srgan_step, srresnet_step

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BATCH, HR, SCALE = 16, 96, 4


class PNGCrops(torch.utils.data.Dataset):
    """The reference data path: decode a PNG per sample, random crop, PIL bicubic LR."""

    def __init__(self, paths: list[Path], length: int) -> None:
        self.paths, self.length = paths, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = Image.open(self.paths[index % len(self.paths)]).convert("RGB")
        x = np.random.randint(0, image.width - HR + 1)
        y = np.random.randint(0, image.height - HR + 1)
        hr = image.crop((x, y, x + HR, y + HR))
        lr = hr.resize((HR // SCALE, HR // SCALE), Image.BICUBIC)
        to_tensor = lambda im: torch.from_numpy(np.asarray(im)).permute(2, 0, 1).float() / 255  # noqa: E731
        return to_tensor(lr), to_tensor(hr) * 2 - 1


def reference_steps(device: torch.device, generator: nn.Module, discriminator: nn.Module,
                    vgg: VGGFeatures) -> dict[str, Callable]:
    """Plain fp32 eager steps, as written in the reference repositories."""
    opt_g = torch.optim.Adam(generator.parameters(), 1e-4)
    opt_d = torch.optim.Adam(discriminator.parameters(), 1e-4)

    def srresnet(lr, hr):
        loss = pixel_mse(generator(lr), hr)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()

    def srgan(lr, hr):
        sr = generator(lr)
        d_loss = discriminator_loss(discriminator(hr), discriminator(sr.detach()))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        content = nn.functional.mse_loss(vgg((sr + 1) / 2) / 12.75, vgg((hr + 1) / 2) / 12.75)
        g_loss = content + 1e-3 * generator_adversarial_loss(discriminator(sr))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()

    return {"srresnet": srresnet, "srgan": srgan}


def networks(device: torch.device, channels_last: bool) -> tuple[nn.Module, nn.Module, VGGFeatures]:
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    g = SRResNet().to(device).to(memory_format=fmt)
    d = Discriminator(input_size=HR).to(device).to(memory_format=fmt)
    vgg = VGGFeatures(layer="block5_conv4", weights="random").to(device).to(memory_format=fmt)
    return g, d, vgg


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_loop(batches, step: Callable, device: torch.device, steps: int, warmup: int,
              waited: Callable[[], float] = lambda: 0.0) -> tuple[float, float]:
    """Patches per second over ``steps`` steps after ``warmup`` steps (data loading included), and
    the seconds per timed step spent waiting for data (as ``waited()`` counts them)."""
    iterator = iter(batches)
    for _ in range(warmup):
        step(*next(iterator))
    sync(device)
    start, wait_before = time.perf_counter(), waited()
    for _ in range(steps):
        step(*next(iterator))
    sync(device)
    return steps * BATCH / (time.perf_counter() - start), (waited() - wait_before) / steps


def reference_rate(paths: list[Path], stage: str, device: torch.device, steps: int, warmup: int) -> float:
    g, d, vgg = networks(device, channels_last=False)
    step = reference_steps(device, g, d, vgg)[stage]
    loader = torch.utils.data.DataLoader(PNGCrops(paths, (steps + warmup) * BATCH), batch_size=BATCH,
                                         shuffle=True, num_workers=0)
    batches = ((lr.to(device), hr.to(device)) for lr, hr in loader)
    return time_loop(batches, step, device, steps, warmup)[0]


def our_rate(sampler: CropSampler, stage: str, device: torch.device, steps: int, warmup: int, *,
             precision: str, compile: bool) -> tuple[float, float]:
    g, d, vgg = networks(device, channels_last=True)
    autocast = autocast_factory(device, precision)
    g_fwd = torch.compile(g) if compile else g
    if stage == "srresnet":
        step = srresnet_step(g_fwd, torch.optim.Adam(g.parameters(), 1e-4), autocast=autocast)
    else:
        d_fwd = torch.compile(d) if compile else d
        step = srgan_step(g_fwd, d_fwd, ContentLoss(kind="vgg", vgg=vgg),
                          torch.optim.Adam(g.parameters(), 1e-4), torch.optim.Adam(d.parameters(), 1e-4),
                          adversarial_weight=1e-3, autocast=autocast)
    with Prefetcher(sampler, start=0, stop=steps + warmup, device=device) as batches:
        return time_loop(batches, step, device, steps, warmup, waited=lambda: batches.wait_seconds)


VARIANTS = {  # name -> (precision, compile)
    "ours": ("auto", False),
    "ours-fp32": ("fp32", False),
    "ours-bf16": ("bf16", False),
    "ours-compile": ("auto", True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, nargs="*",
                        default=[SHARED / "T91", SHARED / "BSD100" / "HR"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds of ours (best counts)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default="ours,ours-fp32")
    parser.add_argument("--stages", default="srresnet,srgan")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    np.random.seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [p for folder in args.images if folder.is_dir() for p in list_images(folder)]
        if not paths:  # no offline benchmark data: the scikit-image photographs, as PNG files
            import skimage.data
            for name in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry"):
                Image.fromarray(getattr(skimage.data, name)()).save(Path(tmp) / f"{name}.png")
            paths = list_images(tmp)
        paths = [p for p in paths if min(Image.open(p).size) >= HR]
        write_image_store(paths, Path(tmp) / "store", scale=SCALE)
        store = ImageStore(Path(tmp) / "store")
        samplers = {mode: CropSampler(store, hr_size=HR, per_image=8, batch_size=BATCH, seed=0, mode=mode)
                    for mode in ("fixed", "random")}
        variants = [v for v in args.variants.split(",") if v]
        rows, ratios, random_vs_fixed = [], [], []
        for stage in args.stages.split(","):
            ref = reference_rate(paths, stage, device, args.steps, args.warmup)
            rows.append((stage, "reference (PIL per sample, fp32, eager, NCHW)", ref, 1.0, None))
            for k, variant in enumerate(variants):
                precision, compile = VARIANTS[variant]
                modes = ("fixed", "random") if k == 0 else ("fixed",)
                best = {mode: (0.0, 0.0) for mode in modes}
                for _ in range(args.rounds):  # interleaved rounds, best of each: a noisy shared VM
                    for mode in modes:
                        best[mode] = max(best[mode], our_rate(samplers[mode], stage, device, args.steps,
                                                              args.warmup, precision=precision,
                                                              compile=compile))
                for mode in modes:
                    rate, wait = best[mode]
                    label = (f"{variant} ({resolve_precision(device, precision)}, channels_last"
                             f"{', compile' if compile else ''}, {mode} sampling)")
                    rows.append((stage, label, rate, rate / ref, wait))
                    if k == 0 and mode == "fixed":
                        ratios.append(rate / ref)
                        fixed_rate = rate
                    elif k == 0:
                        random_vs_fixed.append(rate / fixed_rate)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"Training throughput, batch {BATCH} x {HR}x{HR} HR crops, {name}, {len(paths)} training "
          f"images, {args.steps} timed steps after {args.warmup} warm-up (ours: best of {args.rounds} "
          f"interleaved rounds)\n")
    print("| step | implementation | patches/s | vs reference | data wait (s/step) |")
    print("|---|---|---|---|---|")
    for stage, label, rate, ratio, wait in rows:
        print(f"| {stage} | {label} | {rate:.1f} | {ratio:.2f}x | {'-' if wait is None else f'{wait:.4f}'} |")
    print(f"\nrandom_vs_fixed: {min(random_vs_fixed):.2f}")
    print(f"ratio: {min(ratios):.2f}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
