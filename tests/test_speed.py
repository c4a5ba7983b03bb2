"""The training's speed paths compute what the eager fp32 module computes (srgan.speed, and the
SRGAN step's frozen D in the G step): exact identities in float64, and 20 training steps in
float32 and float64 ending with the same losses and weights to 1e-4, relative (see
_assert_same_training for float32's weights)."""

from __future__ import annotations

import copy
import logging
import subprocess
import sys
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srgan import training
from srgan.losses import ContentLoss, discriminator_loss, generator_adversarial_loss, pixel_mse
from srgan.models import Discriminator, SRResNet, VGGFeatures
from srgan.speed import (adam, conv_after_upsample, generator_memory_format, keep_freed_memory, prelu,
                         training_forward)
from srgan.training import compiled, srgan_step, srresnet_step

CL = torch.channels_last
CPU = torch.device("cpu")


def _upsample(x: torch.Tensor, r: int, mode: str) -> torch.Tensor:
    return F.pixel_shuffle(x, r) if mode == "pixelshuffle" else F.interpolate(x, scale_factor=r, mode="nearest")


@pytest.mark.parametrize("mode", ["pixelshuffle", "nearest"])
@pytest.mark.parametrize("r, k", [(2, 9), (2, 3), (4, 9), (3, 5), (2, 1)])
def test_a_conv_after_upsampling_equals_its_form_on_the_coarse_grid(mode: str, r: int, k: int) -> None:
    torch.manual_seed(k * 10 + r)
    channels = 5 * r * r if mode == "pixelshuffle" else 5
    x = torch.randn(2, channels, 7, 6, dtype=torch.float64)
    weight, bias = torch.randn(3, 5, k, k, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    for b in (bias, None):
        torch.testing.assert_close(conv_after_upsample(x, weight, b, r, mode),
                                   F.conv2d(_upsample(x, r, mode), weight, b, padding=k // 2),
                                   rtol=1e-12, atol=1e-12)


def test_an_even_kernel_or_an_unknown_upsampling_is_refused() -> None:
    with pytest.raises(ValueError, match="odd square kernel"):
        conv_after_upsample(torch.zeros(1, 4, 3, 3), torch.zeros(1, 1, 2, 2), None, 2, "pixelshuffle")
    with pytest.raises(ValueError, match="mode must be one of"):
        conv_after_upsample(torch.zeros(1, 4, 3, 3), torch.zeros(1, 1, 3, 3), None, 2, "bilinear")


@pytest.mark.parametrize("slopes", [7, 1])
def test_prelu_has_torchs_values_and_gradients(slopes: int) -> None:
    """Including inputs exactly 0, where torch's PReLU takes the slope's branch."""
    torch.manual_seed(slopes)
    x = torch.randn(3, 7, 5, 4, dtype=torch.float64).to(memory_format=CL)
    x[0, :, 0, 0] = 0
    weight = torch.rand(slopes, dtype=torch.float64) - 0.5
    grad = torch.randn(3, 7, 5, 4, dtype=torch.float64)
    ours = [t.clone().requires_grad_() for t in (x, weight)]
    theirs = [t.clone().requires_grad_() for t in (x, weight)]
    out = prelu(*ours)
    ref = F.prelu(*theirs)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    out.backward(grad)
    ref.backward(grad)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-12)


def _trained_bn(generator: nn.Module) -> nn.Module:
    """Batch-norm statistics away from their init, so that eval mode is checked too."""
    for m in generator.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return generator


@pytest.mark.parametrize("upsample, scale", [("pixelshuffle", 4), ("pixelshuffle", 2), ("nearest", 4),
                                             ("pixelshuffle", 8)])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_training_forward_is_the_generators_function(upsample: str, scale: int, mode: str) -> None:
    """Same output, same gradient of every parameter, same batch-norm statistics afterwards."""
    torch.manual_seed(scale)
    generator = _trained_bn(SRResNet(num_blocks=2, channels=8, upsample=upsample, scale=scale).double())
    generator.train(mode == "train")
    twin = copy.deepcopy(generator)
    lr = torch.rand(2, 3, 6, 5, dtype=torch.float64)
    out, ref = training_forward(generator)(lr), twin(lr)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    weight = torch.randn_like(ref)
    (out * weight).sum().backward()
    (ref * weight).sum().backward()
    for (name, a), b in zip(generator.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12, msg=name)
    for (name, a), b in zip(generator.named_buffers(), twin.buffers()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_the_training_forward_under_bf16_autocast_runs_in_bf16_like_the_module() -> None:
    """Autocast reaches the coarse-grid tail and the custom PReLU as it reaches the module's
    layers: a bf16 result, within bf16's rounding of the module's, and fp32 weight gradients."""
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=2, channels=16)
    twin = copy.deepcopy(generator)
    lr = torch.rand(2, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, ref = training_forward(generator)(lr), twin(lr)
    assert out.dtype == ref.dtype == torch.bfloat16
    assert float((out.detach().float() - ref.detach().float()).abs().max()) < 0.05
    out.float().sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in generator.parameters())


@pytest.mark.parametrize("capability, expected", [("AVX512", CL), ("AVX2", torch.contiguous_format),
                                                  ("DEFAULT", torch.contiguous_format)])
def test_the_generator_trains_channels_last_only_where_the_cpu_has_avx512(
        monkeypatch, capability: str, expected: torch.memory_format) -> None:
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert generator_memory_format(torch.device("cpu")) == expected
    assert generator_memory_format(torch.device("cuda")) == CL


@pytest.mark.parametrize("generator_layout, batch_layout", [(torch.contiguous_format, CL),
                                                            (CL, torch.contiguous_format)])
def test_the_training_forward_runs_in_the_generators_layout_whatever_the_batchs(
        generator_layout: torch.memory_format, batch_layout: torch.memory_format) -> None:
    """A convolution runs channels_last when its input is, so without the conversion a
    channels_last batch (as the image store delivers it) would run an NCHW generator in
    channels_last, and the layout chosen for the machine would be lost."""
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=1, channels=8).to(memory_format=generator_layout)
    lr = torch.rand(2, 3, 6, 5).contiguous(memory_format=batch_layout)
    layouts: list[bool] = []
    for conv in (m for m in generator.modules() if isinstance(m, nn.Conv2d)):
        conv.register_forward_hook(lambda _m, _a, out: layouts.append(out.is_contiguous(memory_format=generator_layout)))
    out = training_forward(generator)(lr)
    assert layouts and all(layouts)
    assert out.is_contiguous(memory_format=generator_layout)
    torch.testing.assert_close(out, generator(lr.contiguous()), rtol=1e-5, atol=1e-6)


def test_the_training_forward_needs_an_srresnet() -> None:
    with pytest.raises(TypeError, match="needs an SRResNet"):
        training_forward(Discriminator(input_size=16))


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30))


def _flat(module: nn.Module) -> torch.Tensor:
    """All weights and batch-norm statistics of ``module``, as one vector."""
    return torch.cat([t.detach().double().flatten() for t in module.state_dict().values()
                      if t.is_floating_point()])


def _assert_same_training(ours: list[dict], ref: list[dict], modules: list[tuple[nn.Module, nn.Module]], *,
                          weights_rtol: float) -> None:
    """Every step's losses to 1e-4 relative; the weights and BN statistics at the end to
    ``weights_rtol`` relative, each tensor in float64, and all of them as one vector in float32.

    Why float32 gets a looser bound for the weights: Adam divides each gradient by its own running
    RMS, so where a gradient is near zero (the biases of the convolutions that a batch norm
    cancels, the zero-initialised BN shifts) rounding alone moves an element by a whole
    learning-rate step either way, and the trajectories drift apart. Eager channels_last against
    eager NCHW, both float32, differ by 2.8e-4 after these 20 steps. In float64 every path agrees
    with the eager module to about 1e-14.
    """
    for step, (a, b) in enumerate(zip(ours, ref)):
        for name in b:
            assert abs(a[name] - b[name]) <= 1e-4 * abs(b[name]), (step, name, a[name], b[name])
    for fast, eager in modules:
        pairs = list(zip(fast.state_dict().items(), eager.state_dict().values()))
        for (name, a), b in pairs:
            if not a.is_floating_point():
                assert torch.equal(a, b), name
            elif a.dtype == torch.float64:
                assert _relative(a, b) <= weights_rtol, (name, _relative(a, b))
        assert _relative(_flat(fast), _flat(eager)) <= weights_rtol, _relative(_flat(fast), _flat(eager))


def _assert_moved(trained: nn.Module, initial: nn.Module) -> None:
    """The 20 steps moved the weights 100 times further than the tolerance, so that agreeing
    to it means something."""
    assert _relative(_flat(trained), _flat(initial)) > 1e-2


def _batches(n: int, *, size: int, batch: int = 4,
             dtype: torch.dtype = torch.float32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Smooth HR crops (so the losses fall, as on images) and their 4x average-pooled LR."""
    generator = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        coarse = torch.rand(batch, 3, size // 4, size // 4, generator=generator).to(dtype) * 2 - 1
        hr = F.interpolate(coarse, scale_factor=4, mode="bilinear", align_corners=False)
        out.append((F.avg_pool2d((hr + 1) / 2, 4), hr))
    return out


LR = 1e-4  # the paper's, for both stages

SPEED_PATHS = {  # name -> (channels_last, torch.compile)
    "training_forward": (False, False),
    "training_forward, channels_last": (True, False),
    "training_forward, channels_last, torch.compile": (True, True),
}


def _layout(module: nn.Module, channels_last: bool) -> nn.Module:
    return module.to(memory_format=CL) if channels_last else module


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("path", list(SPEED_PATHS))
def test_twenty_srresnet_steps_match_the_eager_module(path: str, dtype: torch.dtype) -> None:
    channels_last, compile = SPEED_PATHS[path]
    torch.manual_seed(0)
    eager = SRResNet(num_blocks=3).to(dtype)
    initial = copy.deepcopy(eager)
    fast = _layout(copy.deepcopy(eager), channels_last)
    forward = training_forward(fast)
    forward = torch.compile(forward) if compile else forward
    ours = srresnet_step(forward, adam(fast.parameters(), lr=LR, device=CPU))
    ref = srresnet_step(eager, torch.optim.Adam(eager.parameters(), lr=LR))
    losses: tuple[list, list] = ([], [])
    for lr, hr in _batches(20, size=32, dtype=dtype):
        fmt = CL if channels_last else torch.contiguous_format
        losses[0].append({k: float(v) for k, v in ours(lr.to(memory_format=fmt), hr).items()})
        losses[1].append({k: float(v.detach()) for k, v in ref(lr, hr).items()})
    _assert_moved(eager, initial)
    _assert_same_training(*losses, [(fast, eager)], weights_rtol=1e-4 if dtype == torch.float64 else 1e-3)


def test_a_run_resumes_with_the_fused_adam_from_the_default_adams_state() -> None:
    """A resume state written before the update was fused (torch's default Adam) loads into
    srgan.speed.adam and goes on as the default Adam would, to float64 rounding."""
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=1, channels=8).double()
    before = torch.optim.Adam(generator.parameters(), lr=LR, betas=(0.9, 0.999))
    batches = _batches(8, size=16, dtype=torch.float64)
    step = srresnet_step(generator, before)
    for lr, hr in batches[:4]:
        step(lr, hr)
    twin = copy.deepcopy(generator)
    resumed = adam(twin.parameters(), lr=LR, device=CPU)
    resumed.load_state_dict(copy.deepcopy(before.state_dict()))
    ours, ref = srresnet_step(twin, resumed), step
    for lr, hr in batches[4:]:
        ours(lr, hr)
        ref(lr, hr)
    assert max(_relative(a, b) for a, b in zip(twin.parameters(), generator.parameters())) < 1e-12
    assert int(resumed.state[next(twin.parameters())]["step"]) == 8


def reference_srgan_step(generator: nn.Module, discriminator: nn.Module, vgg: VGGFeatures,
                         opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                         feature_scale: float) -> Callable:
    """The SRGAN step written plainly: eager modules, D's weight gradients computed in the G step."""

    def step(lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        sr = generator(lr)
        real, fake = discriminator(hr), discriminator(sr.detach())
        d_loss = discriminator_loss(real, fake)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        content = F.mse_loss(vgg((sr + 1) / 2) * feature_scale, vgg((hr + 1) / 2) * feature_scale)
        adversarial = generator_adversarial_loss(discriminator(sr))
        g_loss = content + 1e-3 * adversarial
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        return {"g_loss": g_loss, "content_loss": content, "adversarial_loss": adversarial,
                "d_loss": d_loss, "mse": pixel_mse(sr, hr), "d_real": torch.sigmoid(real).mean(),
                "d_fake": torch.sigmoid(fake).mean()}

    return step


@pytest.mark.parametrize("channels_last", [False, True])
def test_twenty_srgan_steps_match_the_plain_eager_step(channels_last: bool) -> None:
    """In float64 only: in float32 the GAN's trajectory is chaotic at the rounding level (the
    plain eager step in channels_last and in NCHW differ by 1e-2 in the losses after 20 steps)."""
    torch.manual_seed(0)
    g_eager, d_eager = SRResNet(num_blocks=2), Discriminator(input_size=32, channels=(16, 16, 32, 32))
    vgg = VGGFeatures(layer="block2_conv2", weights="random")
    g_eager, d_eager, vgg = (m.double() for m in (g_eager, d_eager, vgg))
    g_fast, d_fast = (_layout(copy.deepcopy(m), channels_last) for m in (g_eager, d_eager))
    initial = copy.deepcopy((g_eager, d_eager))
    scale = 0.3
    ours = srgan_step(training_forward(g_fast), d_fast,
                      ContentLoss(kind="vgg", vgg=_layout(copy.deepcopy(vgg), channels_last), feature_scale=scale),
                      adam(g_fast.parameters(), lr=LR, device=CPU), adam(d_fast.parameters(), lr=LR, device=CPU),
                      adversarial_weight=1e-3)
    ref = reference_srgan_step(g_eager, d_eager, vgg, torch.optim.Adam(g_eager.parameters(), LR),
                               torch.optim.Adam(d_eager.parameters(), LR), scale)
    losses: tuple[list, list] = ([], [])
    for lr, hr in _batches(20, size=32, dtype=torch.float64):
        fmt = CL if channels_last else torch.contiguous_format
        losses[0].append({k: float(v) for k, v in ours(lr.to(memory_format=fmt), hr).items()})
        losses[1].append({k: float(v.detach()) for k, v in ref(lr, hr).items()})
    _assert_moved(g_eager, initial[0])
    _assert_moved(d_eager, initial[1])
    _assert_same_training(*losses, [(g_fast, g_eager), (d_fast, d_eager)], weights_rtol=1e-4)


def _small_gan() -> tuple[nn.Module, nn.Module, VGGFeatures, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return (SRResNet(num_blocks=1, channels=8), Discriminator(input_size=16, channels=(8, 8)),
            VGGFeatures(layer="block1_conv2", weights="random"), torch.rand(2, 3, 4, 4),
            torch.rand(2, 3, 16, 16) * 2 - 1)


def test_the_g_step_leaves_d_with_its_own_gradients_and_frozen_weights_in_the_pass() -> None:
    """D's weight gradients are not computed in the G step: after the step D holds exactly the
    gradient of its own loss, and the G step's pass through D sees D's parameters frozen."""
    generator, discriminator, vgg, lr, hr = _small_gan()
    d0 = copy.deepcopy(discriminator)
    frozen: list[bool] = []
    discriminator.register_forward_pre_hook(
        lambda m, _: frozen.append(not any(p.requires_grad for p in m.parameters())))
    step = srgan_step(generator, discriminator, ContentLoss(kind="vgg", vgg=vgg),
                      torch.optim.SGD(generator.parameters(), lr=0.0),
                      torch.optim.SGD(discriminator.parameters(), lr=0.0), adversarial_weight=1e-3)
    step(lr, hr)
    assert frozen == [False, False, True]  # D on HR, on the detached SR; then G's pass through D
    with torch.no_grad():
        sr = generator(lr)
    expected = torch.autograd.grad(discriminator_loss(d0(hr), d0(sr)), list(d0.parameters()))
    for (name, p), want in zip(discriminator.named_parameters(), expected):
        torch.testing.assert_close(p.grad, want, msg=name)
        assert p.requires_grad, name  # unfrozen again for the next D step


def test_the_content_loss_runs_vgg_once_on_the_hr_batch_and_without_a_graph() -> None:
    generator, discriminator, vgg, lr, hr = _small_gan()
    calls: list[tuple[bool, bool]] = []  # (input is the HR batch, grad mode)
    vgg.register_forward_pre_hook(lambda _m, args: calls.append(
        (torch.allclose(args[0], (hr + 1) / 2), torch.is_grad_enabled())))
    step = srgan_step(generator, discriminator, ContentLoss(kind="vgg", vgg=vgg),
                      torch.optim.Adam(generator.parameters()), torch.optim.Adam(discriminator.parameters()),
                      adversarial_weight=1e-3)
    step(lr, hr)
    step(lr, hr)
    assert sorted(calls) == [(False, True), (False, True), (True, False), (True, False)]


def test_cuda_graphs_compile_in_reduce_overhead_mode_on_cuda(monkeypatch) -> None:
    """And the generator, called first in each step, marks the step's start before each call, so
    that torch may reuse the previous step's graph outputs; D does not (its outputs of one step
    are read after its next call in that step)."""
    calls: list = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: calls.append(kwargs) or fn)
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: calls.append("step"))
    forward = lambda x: calls.append("forward") or x  # noqa: E731
    cuda = torch.device("cuda")
    g = compiled(forward, device=cuda, compile=False, cuda_graphs=True, starts_step=True)
    d = compiled(forward, device=cuda, compile=False, cuda_graphs=True)
    assert d is forward
    g(1), d(1), d(1), g(1)
    compiled(forward, device=cuda, compile=True, cuda_graphs=False)
    assert compiled(forward, device=torch.device("cpu"), compile=False, cuda_graphs=False) is forward
    assert calls == [{"mode": "reduce-overhead"}, {"mode": "reduce-overhead"},
                     "step", "forward", "forward", "forward", "step", "forward", {}]


def test_cuda_graphs_elsewhere_warn_and_run_as_asked_otherwise(monkeypatch, caplog) -> None:
    calls: list[dict] = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: calls.append(kwargs) or fn)
    forward = lambda x: x  # noqa: E731
    with caplog.at_level(logging.WARNING, logger="srgan.training"):
        assert compiled(forward, device=torch.device("cpu"), compile=False, cuda_graphs=True) is forward
        compiled(forward, device=torch.device("cpu"), compile=True, cuda_graphs=True)
    assert calls == [{}]
    assert caplog.text.count("cuda_graphs needs a CUDA device") == 2


PAGE_FAULTS = """
import resource, sys, torch
from srgan.speed import keep_freed_memory

def faults_of_fresh_tensors(count=4, mib=64):
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(count):
        block = torch.empty(mib * 2**20 // 4)
        block.fill_(1.0)
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults

if not keep_freed_memory(sys.argv[1] == "keep"):
    print("no-mallopt")
else:
    faults_of_fresh_tensors()  # the first blocks fault their pages in either way
    faults_of_fresh_tensors()
    print(faults_of_fresh_tensors())
"""


def _page_faults_of_fresh_tensors(setting: str) -> str:
    """Minor page faults of four fresh 64 MiB blocks after warm-up, in a process of their own:
    a process's heap keeps what it freed before, so in this one the count would depend on which
    tests ran first."""
    result = subprocess.run([sys.executable, "-c", PAGE_FAULTS, setting], capture_output=True,
                            text=True, timeout=120, check=True)
    return result.stdout.strip()


def test_freed_memory_is_kept_for_the_next_step() -> None:
    """With glibc's defaults every fresh 64 MiB block page-faults again (16k faults per block);
    kept, only the first does."""
    default = _page_faults_of_fresh_tensors("default")
    if default == "no-mallopt":
        pytest.skip("this C library has no mallopt (not glibc)")
    assert int(default) > 3 * 16_000
    assert int(_page_faults_of_fresh_tensors("keep")) < 2_000


def test_cpu_training_keeps_freed_memory(monkeypatch) -> None:
    kept: list[bool] = []
    monkeypatch.setattr(training, "keep_freed_memory", lambda keep=True: kept.append(keep) or True)
    training.setup_backend(torch.device("cpu"))
    assert kept == [True]
