"""LPIPS (srgan.perceptual): the library's documented input range and colour order, the scores in
evaluation, and the "n/a" path when the AlexNet weights cannot be had."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from srgan import perceptual
from srgan.evaluate import (bicubic_predictor, evaluate_pairs, lpips_scorer, lpips_status,
                            write_metrics_csv)
from srgan.imresize import imresize


@pytest.fixture(scope="module")
def alexnet_file(tmp_path_factory) -> Path:
    """A torchvision AlexNet state dict (random init: the ImageNet file cannot be downloaded here)
    under the file name torchvision's cache uses."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / perceptual.ALEXNET_FILE
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def metric(alexnet_file: Path) -> torch.nn.Module:
    module, source = perceptual.load_lpips(weights_path=str(alexnet_file), allow_unavailable=False)
    assert source == f"file:{alexnet_file}"
    return module


def _images(seed: int = 0, shape=(48, 40, 3)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, shape), 0, 255).astype(np.uint8)
    return a, b


def test_inputs_are_rgb_in_zero_one_as_torchmetrics_documents_for_normalize(metric) -> None:
    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[..., 0] = 255  # pure red
    tensor = perceptual.to_lpips_input(image)
    assert tensor.shape == (1, 3, 2, 3) and tensor.dtype == torch.float32
    assert torch.equal(tensor[0, 0], torch.ones(2, 3)) and tensor[0, 1:].abs().max() == 0
    # normalize=True on [0, 1] is the original LPIPS on [-1, 1] (what the v0.1 layers were fit on).
    a, b = _images()
    ours = perceptual.lpips_distance(metric, a, b)
    reference = metric.net(2 * perceptual.to_lpips_input(a) - 1, 2 * perceptual.to_lpips_input(b) - 1)
    assert ours == pytest.approx(float(reference), rel=1e-6)


def test_colour_order_and_range_matter(metric) -> None:
    a, b = _images(1)
    ours = perceptual.lpips_distance(metric, a, b)
    bgr = perceptual.lpips_distance(metric, a[..., ::-1].copy(), b[..., ::-1].copy())
    assert abs(ours - bgr) > 1e-4 * ours  # a BGR mix-up would change the score
    with pytest.raises(ValueError, match="uint8 HxWx3 RGB"):
        perceptual.to_lpips_input(a.astype(np.float32) / 255)


def test_lpips_is_zero_on_identical_images_symmetric_and_grows_with_the_error(metric) -> None:
    a, b = _images(2)
    assert perceptual.lpips_distance(metric, a, a) == 0
    assert perceptual.lpips_distance(metric, a, b) == pytest.approx(perceptual.lpips_distance(metric, b, a))
    worse = np.clip(a.astype(int) + 3 * (b.astype(int) - a.astype(int)), 0, 255).astype(np.uint8)
    assert perceptual.lpips_distance(metric, a, worse) > perceptual.lpips_distance(metric, a, b)


def test_the_standard_protocol_crops_the_border_like_psnr(metric) -> None:
    a, b = _images(3)
    b_inner_equal = b.copy()
    b_inner_equal[4:-4, 4:-4] = a[4:-4, 4:-4]  # differs from a only in the 4-pixel border
    standard = lpips_scorer(metric, scale=4, protocol="standard")
    report = lpips_scorer(metric, scale=4, protocol="report")
    assert standard(b_inner_equal, a) == 0 and report(b_inner_equal, a) > 0


def test_evaluation_writes_an_lpips_column_and_its_mean(metric, tmp_path: Path) -> None:
    pairs = []
    for k in range(2):
        hr, _ = _images(10 + k, (40, 48, 3))
        pairs.append((f"img{k}", imresize(hr, 0.25), hr))
    score = lpips_scorer(metric, scale=4, protocol="standard")
    frame = evaluate_pairs(pairs, bicubic_predictor(4), scale=4, protocol="standard", lpips=score)
    expected = [score(imresize(lr, 4), hr) for _, lr, hr in pairs]
    assert frame["lpips"].tolist() == pytest.approx(expected) and min(expected) > 0
    write_metrics_csv(frame, tmp_path / "metrics.csv")
    mean = pd.read_csv(tmp_path / "metrics.csv").set_index("image").loc["mean"]
    assert mean["lpips"] == pytest.approx(np.mean(expected), abs=1e-6)


def test_without_weights_lpips_is_na_with_the_reason_or_an_error_saying_how(tmp_path: Path, monkeypatch,
                                                                           caplog) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # nothing cached
    missing = str(tmp_path / "nowhere.pth")
    status = lpips_status(weights_path=missing, allow_unavailable=True)
    assert status == {"available": False, "reason": status["reason"]}
    assert "AlexNet ImageNet weights unavailable" in status["reason"] and "nowhere.pth" in status["reason"]
    assert "LPIPS is n/a" in caplog.text
    with pytest.raises(RuntimeError, match=r"cannot compute LPIPS: .* set lpips\.weights_path"):
        perceptual.load_lpips(weights_path=missing, allow_unavailable=False)
    frame = evaluate_pairs([("x", np.zeros((8, 8, 3), np.uint8), np.zeros((32, 32, 3), np.uint8))],
                           bicubic_predictor(4), scale=4, protocol="standard", lpips=None)
    assert math.isnan(frame["lpips"].iloc[0])
