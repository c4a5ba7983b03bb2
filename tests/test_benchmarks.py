"""The benchmarks' own bookkeeping: train_throughput's convolution ceiling counts the step's
convolutions, and profile_step's dispatch timer attributes each op to its network."""

from __future__ import annotations

import sys
from collections import Counter

import torch
from torch.utils.flop_counter import FlopCounterMode

from conftest import REPO
from srgan.losses import ContentLoss
from srgan.models import Discriminator, SRResNet, VGGFeatures
from srgan.speed import adam, training_forward
from srgan.training import srgan_step, srresnet_step

sys.path.insert(0, str(REPO / "benchmarks"))
import train_throughput as tt  # noqa: E402

CONV, CONV_BACKWARD = tt.CONV_OPS


def test_the_ceiling_replays_every_convolution_of_the_step_forward_and_backward() -> None:
    """Two blocks: the head, 2 x 2 body convolutions and the trunk's, two upsampling convolutions
    and the coarse tail, each once forward and once backward; the head's backward without the
    input gradient, which autograd does not ask for (the LR batch needs none)."""
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=2, channels=16).to(memory_format=torch.channels_last)
    step = srresnet_step(training_forward(generator), adam(generator.parameters(), lr=1e-4,
                                                           device=torch.device("cpu")))
    batch = (torch.rand(2, 3, 8, 8), torch.rand(2, 3, 32, 32) * 2 - 1)
    calls = tt.step_convolutions(step, batch)
    forward = {call: n for call, n in calls.items() if call[0] == CONV}
    backward = {call: n for call, n in calls.items() if call[0] == CONV_BACKWARD}
    assert sum(forward.values()) == sum(backward.values()) == 9
    weight_shapes = Counter()
    for call, n in forward.items():
        weight_shapes[call[1][1][0]] += n
    assert weight_shapes == {(16, 3, 9, 9): 1, (16, 16, 3, 3): 5, (64, 16, 3, 3): 2, (12, 64, 5, 5): 1}
    masks = [(call[1][1][0], call[1][-1]) for call in backward]  # (input shape, output mask)
    assert [mask for shape, mask in masks if shape == (2, 3, 8, 8)] == [(False, True, True)]
    assert all(mask == (True, True, True) for shape, mask in masks if shape != (2, 3, 8, 8))
    head = next(call for call in backward if call[1][1][0] == (2, 3, 8, 8))
    assert tt.replay_seconds(head, torch.device("cpu"), repeats=1) > 0


def test_the_dispatch_timer_tells_d_from_vgg_forward_and_backward() -> None:
    """D's first convolution and VGG's (3->64 3x3 on the same batch) have the same shapes; the
    timer must attribute each call, forward and backward, to its own network: VGG runs twice
    forward (HR, without a graph, and SR) and once backward (SR, input gradients only), D three
    times forward (HR, detached SR, SR in the G step) and three times backward."""
    import profile_step as ps

    torch.manual_seed(0)
    generator = SRResNet(num_blocks=1, channels=8)
    discriminator = Discriminator(input_size=16, channels=(64, 64))
    vgg = VGGFeatures(layer="block1_conv2", weights="random")
    cpu = torch.device("cpu")
    step = srgan_step(training_forward(generator), discriminator, ContentLoss(kind="vgg", vgg=vgg),
                      adam(generator.parameters(), lr=1e-4, device=cpu),
                      adam(discriminator.parameters(), lr=1e-4, device=cpu), adversarial_weight=1e-3)
    batch = (torch.rand(2, 3, 4, 4), torch.rand(2, 3, 16, 16) * 2 - 1)
    with ps.OpTimer({"D": discriminator, "VGG": vgg}, ps.layer_names(generator)) as timer:
        step(*batch)
    d_convs = sum(isinstance(m, torch.nn.Conv2d) for m in discriminator.modules())
    assert timer.counts["VGG convs"] == 2 * 2 + 2
    assert timer.counts["D convs"] == 6 * d_convs
    assert timer.counts["D linear"] > 0 and "G convs" not in timer.counts
    assert not (discriminator._forward_hooks or vgg._forward_pre_hooks)  # removed with the mode


def test_the_in_step_ceiling_times_each_convolution_call_and_nothing_else() -> None:
    """A clock that ticks one second per reading: the 2-block step's 9 + 9 convolution calls are
    each timed once, and none of its hundred other ops (BN, PReLU, shuffles, the loss, Adam)."""
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=2, channels=16).to(memory_format=torch.channels_last)
    step = srresnet_step(training_forward(generator), adam(generator.parameters(), lr=1e-4,
                                                           device=torch.device("cpu")))
    batch = (torch.rand(2, 3, 8, 8), torch.rand(2, 3, 32, 32) * 2 - 1)
    ticks = iter(range(10_000))
    assert tt.in_step_convolution_seconds(step, batch, clock=lambda: float(next(ticks))) == 18.0
    assert next(ticks) == 36  # two readings per call, no more


def test_the_matrix_product_row_counts_the_flops_torch_counts() -> None:
    """The scale row's GFLOP/s is only comparable with the roofline's if both count alike (torch's
    FlopCounterMode counts the steps): a multiply-add is two."""
    a = torch.randn(48, 48)
    with FlopCounterMode(display=False) as counter:
        a @ a
    assert tt.matmul_flops(48) == counter.get_total_flops()
