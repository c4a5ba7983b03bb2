"""Tests for srgan.models: parameter counts, shapes, errors, and VGG19 weight loading (offline)."""

from __future__ import annotations

import logging
import math
import socket

import pytest
import torch
from torchvision.models import VGG19_Weights
from torchvision.models.vgg import cfgs, make_layers

from srgan import models
from srgan.models import (
    VGG19_LAYERS,
    Discriminator,
    SRResNet,
    VGGFeatures,
    count_parameters,
    load_content_network,
    receptive_radius,
)

# --- parameter counts ---------------------------------------------------------------------------
# Paper G (B=16, C=64, x4 pixelshuffle), layer by layer; "+ s" = BN running mean/var (Keras counts):
#   conv9x9 3->64:             3*64*81 + 64       =    15,616
#   PReLU(64):                                    =        64
#   residual block: 2 x conv3x3 64->64 (64*64*9 + 64 = 36,928) + 2 x BN (128, + s 128) + PReLU 64
#                   = 73,856 + 256 + 64 = 74,176 (+ s 256 -> 74,432);
#                   x16 = 1,186,816 (+ s 1,190,912)
#   conv3x3 64->64 + BN:       36,928 + 128       =    37,056 (+ s 128 -> 37,184)
#   2 x [conv3x3 64->256 (64*256*9 + 256 = 147,712) + PReLU(64)] = 2 x 147,776 = 295,552
#   conv9x9 64->3:             64*3*81 + 3        =    15,555
#   total: 15,616 + 64 + 1,186,816 + 37,056 + 295,552 + 15,555 = 1,550,659 (paper: "about 1.55M")
#   BN stats: (16 blocks x 2 + 1) BNs x 2 x 64 = 33 x 128 = 4,224 -> 1,554,883
# Report G (the student report's Keras model.summary(): Vinh, Lam and Bao, "Enhance image
# resolution using a GAN"): same up to the long skip (with stats 1,243,776), then
#   conv3x3 64->256 147,712 + PReLU(256) 256; conv3x3 256->256 (256*256*9 + 256 = 590,080) + PReLU
#   256; conv9x9 256->3 (256*3*81 + 3 = 62,211)
#   -> 1,243,776 + 147,968 + 590,336 + 62,211 = 2,044,291;
#   without stats 2,040,067 = the report's trainable count.
# D at 96x96 (Ledig et al. 2017, Fig. 4; as the report's Keras summary counts it): convs with bias 1,792 + 36,928 + 73,856 + 147,584 + 295,168 + 590,080
#   + 1,180,160 + 2,359,808 = 4,685,376; BN on convs 2-8 over 64+128+128+256+256+512+512 = 1,856
#   channels x (gamma, beta, mean, var) = 7,424; Dense 6*6*512*1024 + 1024 = 18,875,392;
#   Dense 1,025. Total 4,685,376 + 7,424 + 18,875,392 + 1,025 = 23,569,217.
# VGG19 to block3_conv4: 1,792 + 36,928 + 73,856 + 147,584 + 295,168 + 3 x 590,080 = 2,325,568.


@pytest.mark.parametrize(
    "upsample, with_stats, expected",
    [
        ("pixelshuffle", True, 1_554_883),
        ("pixelshuffle", False, 1_550_659),
        ("nearest", True, 2_044_291),
        ("nearest", False, 2_040_067),
    ],
)
def test_generator_parameter_count(upsample, with_stats, expected):
    torch.manual_seed(0)
    g = SRResNet(upsample=upsample)
    assert count_parameters(g, include_bn_stats=with_stats) == expected


def test_discriminator_parameter_count():
    torch.manual_seed(0)
    d = Discriminator(input_size=96)
    assert count_parameters(d) == 23_569_217
    assert count_parameters(d, include_bn_stats=False) == 23_569_217 - 2 * 1_856


def test_vgg_parameter_count():
    torch.manual_seed(0)
    vgg = VGGFeatures(layer="block3_conv4", weights="random")
    assert count_parameters(vgg) == 2_325_568


def test_the_reports_combined_model_has_its_parameter_count():
    """The student report's Keras summary of its combined GAN (its G, D at 96x96 and VGG19 up to
    block3_conv4, its content layer): 27,939,076 parameters, counted on the networks we build."""
    torch.manual_seed(0)
    networks = (SRResNet(upsample="nearest"), Discriminator(input_size=96),
                VGGFeatures(layer="block3_conv4", weights="random"))
    assert sum(count_parameters(net) for net in networks) == 27_939_076


def test_count_parameters_skips_num_batches_tracked():
    bn = torch.nn.BatchNorm2d(8)
    assert count_parameters(bn) == 4 * 8
    assert count_parameters(bn, include_bn_stats=False) == 2 * 8


# --- generator ----------------------------------------------------------------------------------


@pytest.mark.parametrize("upsample", ["pixelshuffle", "nearest"])
@pytest.mark.parametrize("scale", [2, 4])
def test_generator_shape_and_range(upsample, scale):
    torch.manual_seed(0)
    g = SRResNet(num_blocks=2, upsample=upsample, scale=scale)
    lr = torch.rand(2, 3, 6, 6)
    sr = g(lr)
    assert sr.shape == (2, 3, 6 * scale, 6 * scale)
    assert sr.min() >= -1 and sr.max() <= 1


def test_report_generator_layout():
    g = SRResNet(num_blocks=1, upsample="nearest")
    convs = [m[0] for m in g.upsample]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(64, 256), (256, 256)]
    assert [m[2].num_parameters for m in g.upsample] == [256, 256]
    assert g.tail.in_channels == 256


def test_generator_bad_args():
    match = r"upsample must be one of \['nearest', 'pixelshuffle'\], got 'bilinear'"
    with pytest.raises(ValueError, match=match):
        SRResNet(upsample="bilinear")
    for bad in (3, 6, 1, 0):
        with pytest.raises(ValueError, match=f"scale must be a power of 2.*got {bad}"):
            SRResNet(num_blocks=0, scale=bad)


# --- receptive field ----------------------------------------------------------------------------
# In LR pixels, along the forward path of SRResNet (skips only add shorter paths): conv9x9 head 4,
# 2 conv3x3 per block 2B, trunk conv3x3 1, then per x2 upsample block i (0-based) a conv3x3 at
# factor 2^i: 1/2^i, and the 9x9 tail at factor `scale`: 4/scale. Both variants alike (the report's
# Upsample(nearest) scales like PixelShuffle; its 256-channel tail is still 9x9). At x4:
# 4 + 2B + 1 + (1 + 1/2) + 1 = 2B + 7.5 -> 2B + 8, so 40 for the paper's 16 blocks.


def _radius_by_hand(num_blocks: int, scale: int) -> int:
    steps = int(math.log2(scale))
    return math.ceil(4 + 2 * num_blocks + 1 + sum(1 / 2**i for i in range(steps)) + 4 / scale)


@pytest.mark.parametrize("upsample", ["pixelshuffle", "nearest"])
@pytest.mark.parametrize("num_blocks, scale", [(0, 4), (1, 4), (2, 4), (5, 4), (16, 4), (3, 2), (3, 8)])
def test_receptive_radius_formula(upsample, num_blocks, scale):
    g = SRResNet(num_blocks=num_blocks, upsample=upsample, scale=scale)
    assert receptive_radius(g) == _radius_by_hand(num_blocks, scale)
    if scale == 4:
        assert receptive_radius(g) == math.ceil(2 * num_blocks + 7.5)


def test_receptive_radius_of_the_paper_and_report_generators():
    assert receptive_radius(SRResNet(num_blocks=16, upsample="pixelshuffle")) == 40
    assert receptive_radius(SRResNet(num_blocks=16, upsample="nearest")) == 40


@pytest.mark.parametrize("upsample", ["pixelshuffle", "nearest"])
@pytest.mark.parametrize("num_blocks", [1, 2])
def test_one_lr_pixel_reaches_exactly_the_receptive_radius(upsample, num_blocks):
    # float64 on the CPU (im2col convs): an SR pixel that does not depend on the perturbed LR
    # pixel comes out bit-identical, so "changed" is an exact != 0.
    torch.manual_seed(0)
    g = SRResNet(num_blocks=num_blocks, channels=8, upsample=upsample).double().eval()
    radius = receptive_radius(g)
    n = 2 * radius + 9  # pixels beyond the radius on every side of the centre
    c = n // 2
    lr = torch.rand(1, 3, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    bumped = lr.clone()
    bumped[0, :, c, c] += 1.0
    with torch.no_grad():
        changed = (g(bumped) - g(lr)).abs().amax(dim=1)[0] != 0  # (4n, 4n)
    lr_row = torch.arange(4 * n) // 4  # the LR pixel each SR row / column lies in
    distance = torch.maximum((lr_row[:, None] - c).abs(), (lr_row[None, :] - c).abs())  # (4n, 4n)
    assert not changed[distance > radius].any()  # nothing beyond the radius ...
    assert changed[distance == radius].any()  # ... and the radius is reached, so it is tight
    assert changed[distance <= radius].float().mean() > 0.5


def test_receptive_radius_refuses_what_it_cannot_walk():
    with pytest.raises(ValueError, match=r"needs stride-1 convs, got stride \(2, 2\) at 'features.2'"):
        receptive_radius(Discriminator(input_size=16))
    sized = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3), torch.nn.Upsample(size=(8, 8)))
    with pytest.raises(ValueError, match=r"needs Upsample\(scale_factor=<int>\), got scale_factor=None"):
        receptive_radius(sized)


# --- discriminator ------------------------------------------------------------------------------


def test_discriminator_shape():
    torch.manual_seed(0)
    d = Discriminator(input_size=32)
    logits = d(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert logits.shape == (2, 1)
    assert d.classifier[1].in_features == 512 * 2 * 2


def test_discriminator_bad_input_size():
    with pytest.raises(ValueError, match="input_size must be a positive multiple of 16.*got 40"):
        Discriminator(input_size=40)
    d = Discriminator(input_size=16)
    with pytest.raises(ValueError, match=r"needs \(B, 3, 16, 16\) input, got \(1, 3, 32, 32\)"):
        d(torch.zeros(1, 3, 32, 32))


# --- VGG19 features -----------------------------------------------------------------------------


def test_vgg_layer_names():
    assert len(VGG19_LAYERS) == 16
    # indices of the ReLU after each conv in torchvision's vgg19().features (pool5 is 36)
    assert VGG19_LAYERS["block2_conv2"] == 8
    assert VGG19_LAYERS["block3_conv4"] == 17
    assert VGG19_LAYERS["block5_conv4"] == 35


def test_vgg_features_shape_frozen_eval():
    torch.manual_seed(0)
    vgg = VGGFeatures(layer="block3_conv4", weights="random")
    assert isinstance(vgg.features[-1], torch.nn.ReLU)
    assert all(not p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training and not any(m.training for m in vgg.modules())
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    out = vgg(x)
    assert out.shape == (2, 256, 8, 8)
    assert out.min() >= 0  # after the ReLU
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # frozen, but gradients reach the input


def test_vgg_bad_args():
    match = r"layer must be one of \['block1_conv1'.*'block5_conv4'\], got 'block6_conv1'"
    with pytest.raises(ValueError, match=match):
        VGGFeatures(layer="block6_conv1", weights="random")
    with pytest.raises(ValueError, match="weights must be 'imagenet' or 'random', got 'none'"):
        VGGFeatures(layer="block1_conv1", weights="none")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Empty TORCH_HOME and a torchvision loader that fails as offline; records socket timeouts."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    seen = []

    def fail(self, *args, **kwargs):
        seen.append(socket.getdefaulttimeout())
        raise OSError("simulated: no network")

    monkeypatch.setattr(VGG19_Weights, "get_state_dict", fail)
    return seen


def test_load_content_network_fallback(offline, caplog):
    torch.manual_seed(0)
    before = socket.getdefaulttimeout()
    with caplog.at_level(logging.WARNING, logger="srgan.models"):
        net, source = load_content_network(
            layer="block2_conv2", weights_path=None, allow_random_fallback=True
        )
    assert source == "random-fallback"
    assert isinstance(net, VGGFeatures) and net.layer == "block2_conv2"
    assert offline == [models.DOWNLOAD_TIMEOUT_S]  # the attempt ran under a timeout ...
    assert socket.getdefaulttimeout() == before  # ... that was restored
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    [record] = [r for r in warnings if r.name == "srgan.models"]
    assert "RANDOM VGG19 weights" in record.getMessage()
    assert "NOT comparable" in record.getMessage()
    assert "simulated: no network" in record.getMessage()


def test_load_content_network_no_fallback_raises(offline, tmp_path):
    with pytest.raises(RuntimeError) as info:
        load_content_network(layer="block2_conv2", weights_path=None, allow_random_fallback=False)
    msg = str(info.value)
    assert "simulated: no network" in msg
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in msg
    assert "574,673,361 bytes" in msg
    assert f"{tmp_path / 'torch_home' / 'hub' / 'checkpoints'}/" in msg
    assert "vgg.weights_path" in msg


def test_load_content_network_missing_file(offline, tmp_path):
    missing = str(tmp_path / "nope.pth")
    with pytest.raises(RuntimeError, match="nope.pth.*vgg19-dcbb9e9d.pth.*vgg.weights_path"):
        load_content_network(
            layer="block1_conv2", weights_path=missing, allow_random_fallback=False
        )
    _, source = load_content_network(
        layer="block1_conv2", weights_path=missing, allow_random_fallback=True
    )
    assert source == "random-fallback"
    assert offline == []  # an explicit weights_path never falls through to the download


def test_load_content_network_bad_layer_not_swallowed(offline):
    with pytest.raises(ValueError, match="layer must be one of"):
        load_content_network(layer="conv5_4", weights_path=None, allow_random_fallback=True)


def test_load_content_network_from_file(offline, tmp_path):
    torch.manual_seed(0)
    # A state dict keyed like torchvision's vgg19 ("features.<i>.weight"); the classifier keys
    # are left out to keep the file small (they are ignored when loading anyway).
    features = make_layers(cfgs["E"])
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    net, source = load_content_network(
        layer="block2_conv2", weights_path=str(path), allow_random_fallback=False
    )
    assert source == f"file:{path}"
    x = torch.rand(1, 3, 16, 16)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = features[: VGG19_LAYERS["block2_conv2"] + 1]((x - mean) / std)  # (1, 128, 8, 8)
    torch.testing.assert_close(net(x), expected)
