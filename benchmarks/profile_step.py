"""Where a training step's time goes: the self time of every op, by kind of layer.

For the SRResNet step and the SRGAN step as ``benchmarks/train_throughput.py`` builds them (paper
networks, batch 16 x 96x96, VGG19 to block5_conv4 with random weights, channels_last except
the generator of ``ours-*`` on CPUs without AVX-512, which trains in NCHW; one fixed batch), in
its variants: by default ``eager-fp32`` (the networks' own forward, D's weight gradients
computed in the G step, as before issue 16) and ``ours-fp32`` (the path the pipeline trains with:
``srgan.speed.training_forward``, D frozen in the G step, freed memory kept).

    python benchmarks/profile_step.py [--steps 3] [--threads 2] [--stages srresnet,srgan]
                                      [--variants eager-fp32,ours-fp32] [--timer profiler|dispatch]

Prints one Markdown table per stage: ms per step and share of the step for each kind of layer.
D's and VGG's ops are told apart by network scopes, G's convolutions by their weight's shape,
the optimizer by its own scope.

Two timers. ``profiler`` (the default) is torch.profiler's self time. On some VMs the profiler
makes the process page-fault (75k to 89k minor faults per step measured on a 2-core EPYC) and
inflates the elementwise rows several times over: a profiled total well above the unprofiled
wall time says so, and the script then warns. ``dispatch`` times each aten op with a
TorchDispatchMode around its call (CPU ops are synchronous), which costs a few microseconds per
op: its total stays within a few percent of the wall time.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode

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


TIMERS = {"profiler": "torch.profiler self time", "dispatch": "self time per aten op (TorchDispatchMode)"}

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


class Op(NamedTuple):
    """What kind_of reads of a profiler event, for an op the dispatch timer saw."""
    name: str
    input_shapes: list


def _next_sequence_nr() -> int:
    """The autograd sequence number the next recorded op gets (that of a throwaway op, plus one)."""
    with torch.enable_grad():
        return (torch.zeros((), requires_grad=True) * 1).grad_fn._sequence_nr() + 1


class OpTimer(TorchDispatchMode):
    """Self time of each aten op run under it, by kind of layer (see kind_of).

    A forward op belongs to the network whose forward call it runs in (hooks); a backward op to
    the network whose forward recorded the autograd node being evaluated, found by the node's
    sequence number among the numbers each forward call took; the optimizer's ops by torch's
    global step hooks; everything else to G. The hooks are in place only while the mode is.
    """

    def __init__(self, networks: dict[str, nn.Module], g_layers: dict[tuple, str]) -> None:
        super().__init__()
        self.networks, self.g_layers, self.paused = networks, g_layers, False
        self.times: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.scope: list[str] = []
        self.ranges: list[tuple[int, int, str]] = []
        self.handles: list = []

    def __enter__(self) -> OpTimer:
        self.handles = [register_optimizer_step_pre_hook(lambda *_: self.scope.append("optimizer")),
                        register_optimizer_step_post_hook(lambda *_: self.scope.pop())]
        for name, module in self.networks.items():
            self.handles += [module.register_forward_pre_hook(lambda *_, name=name: self.enter(name)),
                             module.register_forward_hook(lambda *_: self.exit())]
        return super().__enter__()

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()
        super().__exit__(*exc)

    def enter(self, name: str) -> None:
        self.paused = True
        self.scope.append(name)
        self.ranges.append((_next_sequence_nr(), -1, name))
        self.paused = False

    def exit(self) -> None:
        self.paused = True
        start, _, name = self.ranges[-1]
        self.ranges[-1] = (start, _next_sequence_nr(), name)
        self.scope.pop()
        self.paused = False

    def network(self) -> str:
        if self.scope:
            return self.scope[-1]
        node = torch._C._current_autograd_node()
        if node is not None:
            number = node._sequence_nr()
            for start, end, name in self.ranges:
                if start <= number < end:
                    return name
        return "G"

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        elapsed = time.perf_counter() - start
        if not self.paused:
            shapes = [list(a.shape) if isinstance(a, torch.Tensor) else [] for a in args]
            kind = kind_of(Op(func._schema.name, shapes), self.network(), self.g_layers)
            self.times[kind] += elapsed
            self.counts[kind] += 1
        return out


def dispatch_times(step: Callable, nets: tuple[nn.Module, ...], steps: int) -> dict[str, float]:
    """ms per step of each kind, timed by OpTimer over ``steps`` runs of the warm ``step``."""
    batch = tt.fixed_batch(torch.device("cpu"))
    g, d, vgg = nets
    with OpTimer({"D": d, "VGG": vgg}, layer_names(g)) as timer:
        for _ in range(steps):
            step(*batch)
    return {kind: seconds * 1e3 / steps for kind, seconds in timer.times.items()}


def profile_step(stage: str, variant: str, steps: int, timer: str = "profiler") -> tuple[float, dict[str, float]]:
    """Wall ms per step (untimed, best of two), and ms per step of each kind (``timer``)."""
    cpu = torch.device("cpu")
    nets = tt.networks(cpu, channels_last=True)
    step = tt.make_step(stage, cpu, variant, nets)
    batches = itertools.repeat(tt.fixed_batch(cpu))
    best = min(tt.BATCH / tt.time_loop(batches, step, cpu, steps, 2)[0] * 1e3 for _ in range(2))
    if timer == "dispatch":
        return best, dispatch_times(step, nets, steps)
    if stage == "srgan":
        Scope("D", nets[1]), Scope("VGG", nets[2])
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
    parser.add_argument("--timer", choices=("profiler", "dispatch"), default="profiler")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    paths = args.variants.split(",")
    print(f"CPU, {args.threads} threads, batch {tt.BATCH} x {tt.HR}x{tt.HR}, "
          f"ours: {tt.generator_layout(torch.device('cpu'))}; "
          f"{TIMERS[args.timer]} over {args.steps} steps\n")
    for stage in args.stages.split(","):
        results = {path: profile_step(stage, path, args.steps, args.timer) for path in paths}
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
        print("| **timed total** | " + " | ".join(cells) + " |")
        print("| wall ms/step, untimed | " + " | ".join(f"{results[p][0]:.1f} | " for p in paths) + "\n")
        inflated = [p for p in paths if sum(results[p][1].values()) > 1.2 * results[p][0]]
        if inflated:
            print(f"warning: the timed total of {', '.join(inflated)} exceeds the untimed wall time by more "
                  f"than 20%: the timer's overhead inflates the small ops' rows; --timer dispatch is closer\n")


if __name__ == "__main__":
    main()
