"""Where a training step's time goes: torch.profiler's self time of every op, by kind of layer.

For the SRResNet step and the SRGAN step as ``benchmarks/train_throughput.py`` builds them (paper
networks, batch 16 x 96x96, VGG19 to block5_conv4 with random weights, channels_last except
the generator of ``ours-*`` on CPUs without AVX-512, which trains in NCHW; one fixed batch), in
its variants: by default ``eager-fp32`` (the networks' own forward, D's weight gradients
computed in the G step, as before issue 16) and ``ours-fp32`` (the path the pipeline trains with:
``srgan.speed.training_forward``, D frozen in the G step, freed memory kept).

    python benchmarks/profile_step.py [--steps 3] [--threads 2] [--stages srresnet,srgan]
                                      [--variants eager-fp32,ours-fp32]

Prints one Markdown table per stage: ms per step and share of the step for each kind of layer.
D's and VGG's ops are told apart by profiler scopes, G's convolutions by their weight's shape,
the optimizer by its own scope.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict
from pathlib import Path

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput as tt  # noqa: E402

from srgan.speed import upsampled_conv_weight  # noqa: E402


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
    tail = generator.tail
    coarse, _ = upsampled_conv_weight(tail.weight.detach(), 2, "pixelshuffle")
    names[tuple(coarse.shape)] = f"{names[tuple(tail.weight.shape)]} (coarse form)"
    return names


CONV_OPS = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::_convolution",
            "aten::convolution", "aten::conv2d", "aten::addmm", "aten::mm", "aten::linear")


def kind_of(event, network: str, g_layers: dict[tuple, str]) -> str:
    """The kind of layer an op's self time belongs to."""
    name = event.name
    if network == "optimizer":
        return "optimizer (Adam, zero_grad)"
    if network == "G" and name in ("aten::mm", "aten::addmm"):  # the coarse tail's kernel, made
        return f"G {next(v for v in g_layers.values() if v.endswith('(coarse form)'))}"
    if name in CONV_OPS or "conv" in name:
        if network == "G":
            for shape in event.input_shapes or []:
                if tuple(shape) in g_layers:
                    return f"G {g_layers[tuple(shape)]}"
        kind = "linear" if name in ("aten::addmm", "aten::mm", "aten::linear") else "convs"
        return f"{network} {kind}"
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


def network_of(event, forward_networks: dict[int, str]) -> str:
    """The network an op ran for: its scope, else (backward) the scope of the forward op whose
    autograd node it evaluates; 'optimizer' under the optimizer's own scopes; else G's (the
    losses, which only the elementwise kinds hold, are G's too)."""
    parent = event
    while parent is not None:
        if parent.name.startswith("Optimizer."):
            return "optimizer"
        if parent.name.startswith("## "):
            return parent.name[3:]
        if parent.name.startswith("autograd::engine::evaluate_function") and parent.sequence_nr in forward_networks:
            return forward_networks[parent.sequence_nr]
        parent = parent.cpu_parent
    return "G"


def profile_step(stage: str, variant: str, steps: int) -> tuple[float, dict[str, float]]:
    """Wall ms per step (unprofiled, best of two), and ms per step of each kind (profiled)."""
    cpu = torch.device("cpu")
    nets = tt.networks(cpu, channels_last=True)
    if stage == "srgan":
        Scope("D", nets[1]), Scope("VGG", nets[2])
    step = tt.make_step(stage, cpu, variant, nets)
    batches = itertools.repeat(tt.fixed_batch(cpu))
    best = min(tt.BATCH / tt.time_loop(batches, step, cpu, steps, 2)[0] * 1e3 for _ in range(2))
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            step(*next(batches))
    events = prof.events()
    forward_networks: dict[int, str] = {}
    for event in events:
        network = network_of(event, {})
        if network != "G" and event.sequence_nr >= 0:
            forward_networks[event.sequence_nr] = network
    per_kind: dict[str, float] = defaultdict(float)
    g_layers = layer_names(nets[0])
    for event in events:
        kind = kind_of(event, network_of(event, forward_networks), g_layers)
        per_kind[kind] += event.self_cpu_time_total / 1e3 / steps
    return best, dict(per_kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stages", default="srresnet,srgan")
    parser.add_argument("--variants", default="eager-fp32,ours-fp32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    paths = args.variants.split(",")
    print(f"CPU, {args.threads} threads, batch {tt.BATCH} x {tt.HR}x{tt.HR}, "
          f"ours: {tt.generator_layout(torch.device('cpu'))}; "
          f"torch.profiler self time over {args.steps} steps\n")
    for stage in args.stages.split(","):
        results = {path: profile_step(stage, path, args.steps) for path in paths}
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
            cells += [f"{sum(results[path][1].values()):.1f}", "100%"]
        print("| **profiled total** | " + " | ".join(cells) + " |")
        print("| wall ms/step, unprofiled | " + " | ".join(f"{results[p][0]:.1f} | " for p in paths) + "\n")


if __name__ == "__main__":
    main()
