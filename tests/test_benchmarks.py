"""benchmarks/train_throughput.py's convolution ceiling counts the step's convolutions right."""

from __future__ import annotations

import sys
from collections import Counter

import torch

from conftest import REPO
from srgan.models import SRResNet
from srgan.speed import adam, training_forward
from srgan.training import srresnet_step

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
