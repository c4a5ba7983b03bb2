"""Training throughput of our SRResNet and SRGAN steps against a plain reference loop, and the
SRResNet step against the machine's convolution roofline.

The reference is what the popular SRGAN repositories do: a torch Dataset that opens a PNG with PIL
for every sample, takes a random 96x96 crop, makes the 24x24 LR with PIL's bicubic, and feeds a
DataLoader (num_workers=0, so it shares the same cores); fp32, eager, NCHW. Ours: crops of the
uint8 memory-mapped image store of srgan.patches, assembled by the background prefetch thread,
moved as uint8 and converted on the device, channels_last (the generator in NCHW on CPUs without
AVX-512: srgan.speed.generator_memory_format), bf16 autocast where `precision: auto`
picks it, optionally torch.compile; the generator runs as ``srgan.speed.training_forward``, D is
frozen in the G step, Adam is fused (``srgan.speed.adam``) and freed memory is kept
(``eager-fp32``: the networks' own forward, D's weight gradients computed in the G step, torch's
default Adam, glibc's malloc defaults). Ours runs in both sampling
modes: `fixed` (a once-cut crop set) and `random` (fresh crops of distinct images every batch, the
paper's); the table also gives the seconds per step that the step waited for its batch.

Same machine, same run, same batch (16 crops of 96x96), same networks (paper SRResNet, D at 96,
VGG19 to block5_conv4 with random weights: speed does not depend on the weights).

The roofline: the SRResNet body convolution (64->64 3x3 at 24x24, batch 16, forward and both
backward products, fp32, the faster of channels_last and NCHW), timed in the same run in rounds
interleaved with the compute-only steps (one fixed batch, no data loading), over windows as long as
the steps' own. A step's rate is its FLOPs (torch's FlopCounterMode on the eager fp32 step: the
direct-convolution count, whatever algorithm runs) over its time. A 2048 fp32 matrix product,
timed the same way, shows where the roofline sits against the BLAS's own rate: below it (as on a
2-core AVX2 EPYC, about 0.8), the step has headroom to make up its other work in; at it (as on
AVX-512 Xeons), the roofline is the machine's fp32 ceiling itself. The last two rows are the
ceiling: every convolution call of the ours-fp32 SRResNet step (forward and the backward products
autograd asks for), first timed where the step runs it (CPU only), then replayed alone on random
tensors of its layout, summed; the fraction each gives is what the step would reach if nothing but
its convolutions took time. The gap between them is what the step's caches and memory cost the
convolutions; the gap from the first to the step's own row is everything else the step does.

    python benchmarks/train_throughput.py [--images DIR ...] [--device auto] [--steps 4]
                                          [--variants ours,eager-fp32] [--threads 2] [--rounds 3]
                                          [--roofline-variants eager-fp32,ours-fp32] [--roofline-only]

Prints the data-fed table of patches/s, `random_vs_fixed: N.NN` (random over fixed sampling, the
first variant, the smaller of the two stages) and `ratio: N.NN` (the smaller of the two
ours/reference ratios, first variant, fixed sampling); then the roofline table and, last,
`roofline_fraction: N.NN`, the fp32 SRResNet step as the pipeline trains it (ours-fp32) over the
body convolution.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import itertools
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from srgan.evaluate import pick_device
from srgan.io import list_images
from srgan.losses import ContentLoss, discriminator_loss, generator_adversarial_loss, pixel_mse
from srgan.models import Discriminator, SRResNet, VGGFeatures
from srgan.patches import CropSampler, ImageStore, Prefetcher, write_image_store
from srgan.speed import adam, generator_memory_format, keep_freed_memory, training_forward
from srgan.training import autocast_factory, compiled, resolve_precision, srgan_step, srresnet_step

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


VARIANTS = {  # name -> (precision, torch.compile, CUDA graphs, ours: the speed paths of srgan.speed)
    "ours": ("auto", False, False, True),
    "ours-fp32": ("fp32", False, False, True),
    "ours-bf16": ("bf16", False, False, True),
    "ours-compile": ("auto", True, False, True),
    "ours-fp32-compile": ("fp32", True, False, True),
    "ours-cudagraphs": ("fp32", False, True, True),
    "ours-bf16-cudagraphs": ("bf16", False, True, True),
    "eager-fp32": ("fp32", False, False, False),
}


def generator_layout(device: torch.device) -> str:
    """How ours' generator is laid out on ``device`` (D and VGG are channels_last)."""
    return "channels_last" if generator_memory_format(device) == torch.channels_last else "G in NCHW"


def variant_label(device: torch.device, variant: str) -> str:
    precision, compile, graphs, ours = VARIANTS[variant]
    layout = generator_layout(device) if ours else "channels_last"
    return (f"{variant} ({resolve_precision(device, precision)}, {layout}"
            f"{', compile' if compile else ''}{', CUDA graphs' if graphs else ''}"
            f"{'' if ours else ', eager module'})")


def make_step(stage: str, device: torch.device, variant: str,
              nets: tuple[nn.Module, nn.Module, VGGFeatures] | None = None) -> Callable:
    """A training step of ``variant``, on ``nets`` (G, D, VGG) or fresh networks (seed 0)."""
    precision, compile, graphs, ours = VARIANTS[variant]
    keep_freed_memory(ours and device.type == "cpu")
    g, d, vgg = nets or networks(device, channels_last=True)
    if ours:  # the generator in the layout the pipeline trains it in (D and VGG: channels_last)
        g.to(memory_format=generator_memory_format(device))
    autocast = autocast_factory(device, precision)
    g_fwd = compiled(training_forward(g) if ours else g, device=device, compile=compile, cuda_graphs=graphs,
                     starts_step=True)
    optimizer = functools.partial(adam, lr=1e-4, device=device) if ours else functools.partial(
        torch.optim.Adam, lr=1e-4)
    if stage == "srresnet":
        return srresnet_step(g_fwd, optimizer(g.parameters()), autocast=autocast)
    d_fwd = compiled(d, device=device, compile=compile, cuda_graphs=graphs)
    return srgan_step(g_fwd, d_fwd, ContentLoss(kind="vgg", vgg=vgg),
                      optimizer(g.parameters()), optimizer(d.parameters()),
                      adversarial_weight=1e-3, autocast=autocast, freeze_discriminator=ours)


def our_rate(sampler: CropSampler, stage: str, device: torch.device, steps: int, warmup: int, *,
             variant: str) -> tuple[float, float]:
    step = make_step(stage, device, variant)
    with Prefetcher(sampler, start=0, stop=steps + warmup, device=device) as batches:
        return time_loop(batches, step, device, steps, warmup, waited=lambda: batches.wait_seconds)


def fixed_batch(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    lr = torch.rand(BATCH, 3, HR // SCALE, HR // SCALE, generator=generator)
    hr = torch.rand(BATCH, 3, HR, HR, generator=generator) * 2 - 1
    return lr.to(device).to(memory_format=torch.channels_last), hr.to(device)


def step_flops(stage: str, device: torch.device) -> float:
    """FLOPs of one training step (forward + backward + both networks for SRGAN), counted by
    torch's FlopCounterMode on the fp32 eager step (convolutions and matmuls, direct algorithm)."""
    step = make_step(stage, device, "eager-fp32")
    with FlopCounterMode(display=False) as counter:
        step(*fixed_batch(device))
    return float(counter.get_total_flops())


BODY_CONV = (64, 64, 3, 24)  # in, out, kernel, LR side: the residual body's convolution


def mean_seconds(run: Callable[[], object], device: torch.device, *, warmup: int, repeats: int,
                 min_seconds: float = 0.0) -> float:
    """Seconds of one ``run()``: the mean over batches of ``repeats`` runs (one device sync each,
    so a GPU's queue is drained) until ``min_seconds`` have passed, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        run()
    sync(device)
    start, runs = time.perf_counter(), 0
    while runs == 0 or time.perf_counter() - start < min_seconds:
        for _ in range(repeats):
            run()
        runs += repeats
        sync(device)
    return (time.perf_counter() - start) / runs


def body_conv_seconds(device: torch.device, memory_format: torch.memory_format, *, repeats: int = 10,
                      min_seconds: float = 0.0) -> float:
    """Seconds of one forward + backward (input and weight gradients) of the body convolution."""
    cin, cout, k, side = BODY_CONV
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, k, padding=k // 2).to(device).to(memory_format=memory_format)
    x = torch.randn(BATCH, cin, side, side, device=device).to(memory_format=memory_format).requires_grad_()
    grad = torch.randn(BATCH, cout, side, side, device=device).to(memory_format=memory_format)
    return mean_seconds(lambda: conv(x).backward(grad), device, warmup=3, repeats=repeats,
                        min_seconds=min_seconds)


def body_conv_flops() -> float:
    cin, cout, k, side = BODY_CONV
    return 3 * 2 * BATCH * side * side * cin * cout * k * k  # forward, input and weight gradients


MATMUL_SIDE = 2048  # the sgemm: big enough that the BLAS runs at its own ceiling


def matmul_seconds(device: torch.device, *, side: int = MATMUL_SIDE, repeats: int = 3,
                   min_seconds: float = 0.0) -> float:
    """Seconds of one fp32 ``side`` x ``side`` matrix product (the BLAS's best case), timed like the
    roofline convolution: it tells whether the roofline sits below the machine's matrix-multiply
    rate (there is headroom for the step to hide its other work in) or at it."""
    torch.manual_seed(0)
    a, b = (torch.randn(side, side, device=device) for _ in range(2))
    return mean_seconds(lambda: a @ b, device, warmup=1, repeats=repeats, min_seconds=min_seconds)


def matmul_flops(side: int = MATMUL_SIDE) -> float:
    return 2 * side**3


CONV_OPS = (torch.ops.aten.convolution.default, torch.ops.aten.convolution_backward.default)


class TensorSpec(tuple):
    """(shape, strides, dtype) of a recorded tensor argument."""


def _spec(arg):
    """A hashable stand-in for a convolution argument: a tensor's TensorSpec, a list as a tuple."""
    if isinstance(arg, torch.Tensor):
        return TensorSpec((tuple(arg.shape), arg.stride(), arg.dtype))
    return tuple(arg) if isinstance(arg, list) else arg


def _from_spec(spec, device: torch.device):
    """The argument that _spec stood in for: random values for a tensor, a list for a tuple."""
    if isinstance(spec, TensorSpec):
        shape, stride, dtype = spec
        return torch.empty_strided(shape, stride, dtype=dtype, device=device).normal_()
    return list(spec) if isinstance(spec, tuple) else spec


class ConvCalls(TorchDispatchMode):
    """Records each convolution a step runs, forward and backward (the products autograd asks
    for), as (op, arguments with every tensor replaced by its shape, strides and dtype), and the
    seconds they took by ``clock``: on the CPU, whose ops are synchronous, their time in the step
    itself, with the caches and the memory the step leaves them."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__()
        self.calls: list[tuple] = []
        self.clock, self.seconds = clock, 0.0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func not in CONV_OPS:
            return func(*args, **(kwargs or {}))
        self.calls.append((func, tuple(map(_spec, args))))
        start = self.clock()
        out = func(*args, **(kwargs or {}))
        self.seconds += self.clock() - start
        return out


def step_convolutions(step: Callable, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[tuple, int]:
    """Each distinct convolution call of one run of ``step``, and how often the step makes it."""
    with ConvCalls() as recorder:
        step(*batch)
    return dict(collections.Counter(recorder.calls))


def in_step_convolution_seconds(step: Callable, batch: tuple[torch.Tensor, torch.Tensor], *,
                                clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds that one run of ``step`` spends in its convolutions (CPU only: on a GPU the calls
    return before their kernels finish)."""
    with ConvCalls(clock) as recorder:
        step(*batch)
    return recorder.seconds


def replay_seconds(call: tuple, device: torch.device, repeats: int = 3) -> float:
    """Seconds of one run of a recorded convolution call, alone, on random tensors of its layout."""
    func, specs = call
    args = [_from_spec(spec, device) for spec in specs]
    return mean_seconds(lambda: func(*args), device, warmup=1, repeats=repeats)


def roofline_table(device: torch.device, stages: list[str], variants: list[str], steps: int,
                   rounds: int) -> tuple[list[tuple], float | None]:
    """Rows (what, ms, GFLOP/s, fraction of the roofline) and the roofline fraction of ours-fp32's
    SRResNet step. The roofline and the steps are timed in interleaved rounds (best of each):
    a shared 2-core VM drifts by 20% within minutes. The convolution is timed over a window as long
    as one step timing (``steps`` of the fastest step), after the round's steps: the best of
    short windows catches the VM's fast moments more often than the best of long ones, which
    would bias the fraction low (measured on a 2-core EPYC: 10 repeats, 0.24 s, gave 102 GFLOP/s
    in one run where 84 to 87 was the rule)."""
    flops = {stage: step_flops(stage, device) for stage in stages}
    batch = fixed_batch(device)
    formats = {"channels_last": torch.channels_last, "NCHW": torch.contiguous_format}
    conv = {name: math.inf for name in formats}
    best = {(stage, v): math.inf for stage in stages for v in variants}
    steppers: dict[tuple[str, str], Callable] = {}
    convolutions: dict[tuple, int] = {}
    conv_best: dict[tuple, float] = {}
    in_step, matmul = math.inf, math.inf
    for _ in range(rounds):
        for stage in stages:
            for variant in variants:
                if (stage, variant) not in steppers:  # built once: compiles and warms up here
                    steppers[stage, variant] = make_step(stage, device, variant)
                keep_freed_memory(VARIANTS[variant][3] and device.type == "cpu")
                rate, _ = time_loop(itertools.repeat(batch), steppers[stage, variant], device, steps, 1)
                best[stage, variant] = min(best[stage, variant], BATCH / rate)
        window = steps * min(best.values())
        for name, fmt in formats.items():
            conv[name] = min(conv[name], body_conv_seconds(device, fmt, min_seconds=window))
        matmul = min(matmul, matmul_seconds(device, min_seconds=window))
        if ("srresnet", "ours-fp32") in steppers:
            convolutions = convolutions or step_convolutions(steppers["srresnet", "ours-fp32"], batch)
            for call in convolutions:
                conv_best[call] = min(conv_best.get(call, math.inf), replay_seconds(call, device))
            if device.type == "cpu":
                in_step = min(in_step, in_step_convolution_seconds(steppers["srresnet", "ours-fp32"], batch))
    layout = min(conv, key=conv.get)
    roof = body_conv_flops() / conv[layout]

    def row(what: str, seconds: float, work: float) -> tuple:
        return what, seconds * 1e3, work / seconds / 1e9, work / seconds / roof

    rows = [row(f"body conv 64->64 3x3 at 24x24, fwd+bwd fp32, {layout} (the roofline)", conv[layout],
                body_conv_flops())]
    rows += [row(f"body conv, {name}", seconds, body_conv_flops()) for name, seconds in conv.items() if name != layout]
    rows.append(row(f"matrix product {MATMUL_SIDE}x{MATMUL_SIDE} fp32 (the BLAS's rate, for scale)", matmul,
                    matmul_flops()))
    for stage in stages:
        for variant in variants:
            rows.append(row(f"{stage} step ({flops[stage] / 1e9:.1f} GFLOP), {variant_label(device, variant)}",
                            best[stage, variant], flops[stage]))
    fraction = (flops["srresnet"] / best["srresnet", "ours-fp32"] / roof
                if ("srresnet", "ours-fp32") in best else None)
    if in_step < math.inf:  # what the step would reach if everything but its convolutions took no time
        rows.append(row(f"srresnet step, ours-fp32: its {sum(convolutions.values())} convolution calls as timed "
                        "within the step (the ceiling if nothing else took time)", in_step, flops["srresnet"]))
    if convolutions:  # the same calls on warm caches, alone
        alone = sum(count * conv_best[call] for call, count in convolutions.items())
        rows.append(row(f"srresnet step, ours-fp32: its {sum(convolutions.values())} convolution calls alone, "
                        "each replayed in isolation", alone, flops["srresnet"]))
    return rows, fraction


def throughput_rows(paths: list[Path], store: ImageStore, device: torch.device, stages: list[str],
                    variants: list[str], steps: int, warmup: int, rounds: int) -> tuple[list[tuple], list, list]:
    """The data-fed table: the reference and each variant (the first in both sampling modes)."""
    samplers = {mode: CropSampler(store, hr_size=HR, per_image=8, batch_size=BATCH, seed=0, mode=mode)
                for mode in ("fixed", "random")}
    rows, ratios, random_vs_fixed = [], [], []
    for stage in stages:
        keep_freed_memory(False)
        ref = reference_rate(paths, stage, device, steps, warmup)
        rows.append((stage, "reference (PIL per sample, fp32, eager, NCHW)", ref, 1.0, None))
        for k, variant in enumerate(variants):
            modes = ("fixed", "random") if k == 0 else ("fixed",)
            best = {mode: (0.0, 0.0) for mode in modes}
            for _ in range(rounds):  # interleaved rounds, best of each: a noisy shared VM
                for mode in modes:
                    best[mode] = max(best[mode], our_rate(samplers[mode], stage, device, steps, warmup,
                                                          variant=variant))
            for mode in modes:
                rate, wait = best[mode]
                rows.append((stage, f"{variant_label(device, variant)}, {mode} sampling", rate, rate / ref, wait))
                if k == 0 and mode == "fixed":
                    ratios.append(rate / ref)
                    fixed_rate = rate
                elif k == 0:
                    random_vs_fixed.append(rate / fixed_rate)
    return rows, ratios, random_vs_fixed


def training_images(folders: list[Path], tmp: Path) -> list[Path]:
    paths = [p for folder in folders if folder.is_dir() for p in list_images(folder)]
    if not paths:  # no offline benchmark data: the scikit-image photographs, as PNG files
        import skimage.data
        for name in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry"):
            Image.fromarray(getattr(skimage.data, name)()).save(tmp / f"{name}.png")
        paths = list_images(tmp)
    return [p for p in paths if min(Image.open(p).size) >= HR]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, nargs="*",
                        default=[SHARED / "T91", SHARED / "BSD100" / "HR"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (best counts)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default="ours,eager-fp32")
    parser.add_argument("--roofline-variants", default="eager-fp32,ours-fp32")
    parser.add_argument("--stages", default="srresnet,srgan")
    parser.add_argument("--roofline-only", action="store_true", help="skip the data-fed table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    np.random.seed(0)
    stages = args.stages.split(",")
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {args.threads} threads"
    if not args.roofline_only:
        with tempfile.TemporaryDirectory() as tmp:
            paths = training_images(args.images, Path(tmp))
            write_image_store(paths, Path(tmp) / "store", scale=SCALE)
            rows, ratios, random_vs_fixed = throughput_rows(
                paths, ImageStore(Path(tmp) / "store"), device, stages,
                [v for v in args.variants.split(",") if v], args.steps, args.warmup, args.rounds)
        print(f"Training throughput, batch {BATCH} x {HR}x{HR} HR crops, {name}, {len(paths)} training "
              f"images, {args.steps} timed steps after {args.warmup} warm-up (ours: best of {args.rounds} "
              f"interleaved rounds)\n")
        print("| step | implementation | patches/s | vs reference | data wait (s/step) |")
        print("|---|---|---|---|---|")
        for stage, label, rate, ratio, wait in rows:
            print(f"| {stage} | {label} | {rate:.1f} | {ratio:.2f}x | {'-' if wait is None else f'{wait:.4f}'} |")
        print(f"\nrandom_vs_fixed: {min(random_vs_fixed):.2f}")
        print(f"ratio: {min(ratios):.2f}\n")
    rows, fraction = roofline_table(device, stages, [v for v in args.roofline_variants.split(",") if v],
                                    args.steps, args.rounds)
    print(f"Roofline, {name}: compute only (one fixed batch), best of {args.rounds} interleaved rounds of "
          f"{args.steps} steps\n")
    print("| what | ms | GFLOP/s | fraction of roofline |")
    print("|---|---|---|---|")
    for what, ms, gflops, frac in rows:
        print(f"| {what} | {ms:.1f} | {gflops:.0f} | {frac:.2f} |")
    if fraction is not None:
        print(f"\nroofline_fraction: {fraction:.2f}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
