"""Where a training step's time goes: torch.profiler's self time of every op, by kind of layer.

For the SRResNet step and the SRGAN step (paper networks, batch 16 x 96x96, VGG19 to block5_conv4
with random weights), each in two forms: the eager module (``eager``: the networks' own forward,
and D's weight gradients computed in the G step, as before issue 16) and the path the pipeline
trains with (``ours``: ``srgan.speed.training_forward``, D frozen in the G step, freed memory
kept). fp32 (``--precision``), channels_last, fixed batches (no data loading).

    python benchmarks/profile_step.py [--steps 3] [--threads 2] [--stages srresnet,srgan]
                                      [--paths eager,ours] [--precision fp32]

Prints one Markdown table per stage: ms per step and share of the step for each kind of layer.
Convolutions are told apart by their weight's shape, the optimizer by its profiler scope.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from srgan.losses import ContentLoss
from srgan.models import Discriminator, SRResNet, VGGFeatures
from srgan.speed import keep_freed_memory, training_forward
from srgan.training import autocast_factory, srgan_step, srresnet_step

BATCH, HR = 16, 96


class Scope:
    """A profiler scope named after a network around each of its calls (forward hooks), so that
    its forward ops, and through their autograd sequence numbers its backward ops, are told
    apart from the other networks' ops of the same shapes (VGG's and D's first convs are alike)."""

    def __init__(self, name: str, module: nn.Module) -> None:
        self.name, self.stack = name, []
        module.register_forward_pre_hook(self.enter)
        module.register_forward_hook(self.exit)

    def enter(self, *_) -> None:
        self.stack.append(torch.profiler.record_function(f"## {self.name}"))
        self.stack[-1].__enter__()

    def exit(self, *_) -> None:
        self.stack.pop().__exit__(None, None, None)


def layer_names(generator: nn.Module) -> dict[tuple, str]:
    """G's weight shapes -> layer names, with the coarse-grid form of the tail
    (srgan.speed.upsampled_conv_weight)."""
    names: dict[tuple, str] = {}
    for name, m in generator.named_modules():
        if isinstance(m, nn.Conv2d):
            label = {"head.0": "head", "tail": "tail"}.get(name, "upsample" if "upsample" in name else "body")
            names[tuple(m.weight.shape)] = f"{label} conv {m.kernel_size[0]}x{m.kernel_size[1]} {m.in_channels}->{m.out_channels}"
    out_ch, in_ch, k, _ = generator.tail.weight.shape
    taps = 2 * ((k // 2 + 1) // 2) + 1
    names[(out_ch * 4, in_ch * 4, taps, taps)] = f"tail conv {k}x{k} {in_ch}->{out_ch} (coarse form)"
    return names


CONV_OPS = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::_convolution",
            "aten::convolution", "aten::conv2d", "aten::addmm", "aten::mm", "aten::linear")


def kind_of(event, network: str | None, g_layers: dict[tuple, str]) -> str:
    """The kind of layer an op's self time belongs to."""
    name = event.name
    if network == "optimizer":
        return "optimizer (Adam, zero_grad)"
    if network == "G" and name in ("aten::mm", "aten::addmm"):
        return "G tail conv 9x9 64->3 (coarse form)"  # its kernel, made from the 9x9 one
    if name in CONV_OPS or "conv" in name:
        if network == "G":
            for shape in event.input_shapes or []:
                if tuple(shape) in g_layers:
                    return f"G {g_layers[tuple(shape)]}"
        kind = "linear" if name in ("aten::addmm", "aten::mm", "aten::linear") else "convs"
        return f"{network or '?'} {kind}"
    if "batch_norm" in name:
        return "batch norm"
    if any(key in name for key in ("prelu", "threshold_backward", "lerp", "relu", "leaky")):
        return "activations (PReLU, LeakyReLU, ReLU)"
    if "pixel_shuffle" in name or "pixel_unshuffle" in name:
        return "pixel shuffle"
    if any(key in name for key in ("mse_loss", "binary_cross_entropy", "sigmoid")):
        return "losses"
    if any(key in name for key in ("add", "sub", "mul", "div", "sum", "tanh", "copy_", "clone", "fill_",
                                   "index", "repeat")):
        return "elementwise, copies and reductions"
    return "other (allocation, views, autograd)"


def network_of(event, forward_networks: dict[int, str]) -> str | None:
    """The network an op ran for: its scope, else (backward) the scope of the forward op whose
    autograd node it evaluates; 'optimizer' under the optimizer's own scopes."""
    parent = event
    while parent is not None:
        if parent.name.startswith("Optimizer."):
            return "optimizer"
        if parent.name.startswith("## "):
            return parent.name[3:]
        if parent.name.startswith("autograd::engine::evaluate_function") and parent.sequence_nr in forward_networks:
            return forward_networks[parent.sequence_nr]
        parent = parent.cpu_parent
    return None


def make_step(stage: str, path: str, precision: str) -> tuple[Callable[[], dict], dict[tuple, str]]:
    torch.manual_seed(0)
    fmt = torch.channels_last
    g = SRResNet().to(memory_format=fmt)
    autocast = autocast_factory(torch.device("cpu"), precision)
    module_forward = training_forward(g) if path == "ours" else g

    def forward(lr: torch.Tensor) -> torch.Tensor:
        with torch.profiler.record_function("## G"):
            return module_forward(lr)

    lr = torch.rand(BATCH, 3, HR // 4, HR // 4).to(memory_format=fmt)
    hr = torch.rand(BATCH, 3, HR, HR) * 2 - 1
    if stage == "srresnet":
        step = srresnet_step(forward, torch.optim.Adam(g.parameters(), 1e-4), autocast=autocast)
    else:
        d = Discriminator(input_size=HR).to(memory_format=fmt)
        vgg = VGGFeatures(layer="block5_conv4", weights="random").to(memory_format=fmt)
        Scope("D", d), Scope("VGG", vgg)
        # eager: the G step's pass through D computes D's weight gradients too (no D parameters
        # to freeze), as the step did before
        step = srgan_step(forward, d, ContentLoss(kind="vgg", vgg=vgg), torch.optim.Adam(g.parameters(), 1e-4),
                          torch.optim.Adam(d.parameters(), 1e-4), adversarial_weight=1e-3, autocast=autocast,
                          discriminator_parameters=None if path == "ours" else [])
    return (lambda: step(lr, hr)), layer_names(g)


def profile_step(stage: str, path: str, steps: int, precision: str) -> tuple[float, dict[str, float]]:
    """Wall ms per step (unprofiled, best of two), and ms per step of each kind (profiled)."""
    keep_freed_memory(path == "ours")
    run, g_layers = make_step(stage, path, precision)
    for _ in range(2):
        run()
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(steps):
            run()
        best = min(best, (time.perf_counter() - start) / steps * 1e3)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            run()
    events = prof.events()
    forward_networks: dict[int, str] = {}
    for event in events:
        network = network_of(event, {})
        if network and event.sequence_nr >= 0:
            forward_networks[event.sequence_nr] = network
    per_kind: dict[str, float] = defaultdict(float)
    for event in events:
        kind = kind_of(event, network_of(event, forward_networks), g_layers)
        per_kind[kind] += event.self_cpu_time_total / 1e3 / steps
    return best, dict(per_kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stages", default="srresnet,srgan")
    parser.add_argument("--paths", default="eager,ours")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    paths = args.paths.split(",")
    print(f"CPU, {args.threads} threads, {args.precision}, batch {BATCH} x {HR}x{HR}, channels_last; "
          f"torch.profiler self time over {args.steps} steps\n")
    for stage in args.stages.split(","):
        results = {path: profile_step(stage, path, args.steps, args.precision) for path in paths}
        order = sorted({k for _, kinds in results.values() for k in kinds},
                       key=lambda k: -max(kinds.get(k, 0.0) for _, kinds in results.values()))
        print(f"### {stage} step\n")
        print("| kind of layer | " + " | ".join(f"{p} ms/step | {p} share" for p in paths) + " |")
        print("|---|" + "---|---|" * len(paths))
        for kind in order:
            cells = []
            for path in paths:
                _, kinds = results[path]
                total = sum(kinds.values())
                cells += [f"{kinds.get(kind, 0.0):.1f}", f"{kinds.get(kind, 0.0) / total:.1%}"]
            print(f"| {kind} | " + " | ".join(cells) + " |")
        cells = []
        for path in paths:
            wall, kinds = results[path]
            cells += [f"{sum(kinds.values()):.1f}", "100%"]
        print("| **profiled total** | " + " | ".join(cells) + " |")
        print("| wall ms/step, unprofiled | " + " | ".join(f"{results[p][0]:.1f} | " for p in paths) + "\n")


if __name__ == "__main__":
    main()
