"""Tests for srgan.losses: pixel / VGG content losses and the BCE-with-logits adversarial losses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import yaml

from conftest import REPO

from srgan.losses import (
    ADVERSARIAL_WEIGHT,
    ContentLoss,
    discriminator_loss,
    generator_adversarial_loss,
    pixel_mse,
)
from srgan.models import VGGFeatures


def _images(seed: int, shape=(2, 3, 16, 16)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 2 - 1  # [-1, 1]


def test_pixel_mse():
    torch.manual_seed(0)
    sr, hr = _images(1), _images(2)
    torch.testing.assert_close(pixel_mse(sr, hr), F.mse_loss(sr, hr))
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3, 16, 16\) and \(2, 3, 8, 8\)"):
        pixel_mse(sr, hr[..., :8, :8])


def test_content_loss_mse():
    torch.manual_seed(0)
    sr, hr = _images(1), _images(2)
    loss = ContentLoss(kind="mse")
    torch.testing.assert_close(loss(sr, hr), F.mse_loss(sr, hr))


def test_content_loss_bad_args():
    with pytest.raises(ValueError, match=r"kind must be one of \('mse', 'vgg'\), got 'l1'"):
        ContentLoss(kind="l1")
    with pytest.raises(ValueError, match="kind='vgg' needs a VGGFeatures network, got vgg=None"):
        ContentLoss(kind="vgg")


@pytest.fixture
def vgg22() -> VGGFeatures:
    torch.manual_seed(0)
    return VGGFeatures(layer="block2_conv2", weights="random")


def test_content_loss_vgg_value(vgg22):
    torch.manual_seed(0)
    sr, hr = _images(1), _images(2)
    loss = ContentLoss(kind="vgg", vgg=vgg22)
    assert loss(hr, hr).item() == 0.0
    value = loss(sr, hr)
    assert value.item() > 0
    expected = F.mse_loss(vgg22((sr + 1) / 2) / 12.75, vgg22((hr + 1) / 2) / 12.75)
    torch.testing.assert_close(value, expected)


def test_content_loss_vgg_gradients(vgg22):
    torch.manual_seed(0)
    sr = _images(1).requires_grad_(True)
    hr = _images(2).requires_grad_(True)
    loss = ContentLoss(kind="vgg", vgg=vgg22)
    loss(sr, hr).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert hr.grad is None  # the HR branch runs under no_grad
    assert all(p.grad is None for p in vgg22.parameters())  # VGG stays frozen
    loss.train()
    assert not vgg22.training


def test_generator_adversarial_loss():
    torch.manual_seed(0)
    assert generator_adversarial_loss(torch.zeros(4, 1)).item() == pytest.approx(math.log(2))
    logits = torch.randn(8, 1)
    expected = -torch.log(torch.sigmoid(logits)).mean()  # -log D(G(LR)), averaged
    torch.testing.assert_close(generator_adversarial_loss(logits), expected)
    confident = generator_adversarial_loss(torch.full((2, 1), 50.0))
    assert confident.item() == pytest.approx(0.0, abs=1e-12)
    assert math.isfinite(generator_adversarial_loss(torch.full((2, 1), -200.0)).item())  # stable


def test_discriminator_loss():
    torch.manual_seed(0)
    zeros = torch.zeros(4, 1)
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    real, fake = torch.randn(8, 1), torch.randn(8, 1)
    expected = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    torch.testing.assert_close(discriminator_loss(real, fake), expected)
    perfect = discriminator_loss(torch.full((2, 1), 50.0), torch.full((2, 1), -50.0))
    assert perfect.item() == pytest.approx(0.0, abs=1e-12)


def test_the_papers_adversarial_weight_is_what_the_configs_train_with():
    """Ledig et al. 2017, Eq. (3): l_SR = l_X + 1e-3 l_Gen. The weight that training uses comes
    from the config (gan.adversarial_weight), so the schema default, the base config and the
    presets of the paper and of the student report (which kept the paper's weight) must hold
    it, not only the constant."""
    assert ADVERSARIAL_WEIGHT == 1e-3
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    assert schema["properties"]["gan"]["properties"]["adversarial_weight"]["default"] == ADVERSARIAL_WEIGHT
    for name in ("config.yaml", "presets/paper.yaml", "presets/report.yaml"):
        config = yaml.safe_load((REPO / name).read_text())
        assert config["gan"]["adversarial_weight"] == ADVERSARIAL_WEIGHT, name


def test_calibrated_feature_scale_matches_pixel_mse() -> None:
    from srgan.losses import calibrated_feature_scale
    torch.manual_seed(0)
    vgg = VGGFeatures(layer="block2_conv2", weights="random")
    hr = torch.rand(2, 3, 32, 32) * 2 - 1
    sr = (hr + 0.2 * torch.randn_like(hr)).clamp(-1, 1)
    scale = calibrated_feature_scale(vgg, sr, hr)
    loss = ContentLoss(kind="vgg", vgg=vgg, feature_scale=scale)(sr, hr)
    assert loss.item() == pytest.approx(pixel_mse(sr, hr).item(), rel=1e-4)
