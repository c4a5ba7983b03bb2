"""The ablation table (rule ablation): one row per distinct SRResNet, naming the experiments that
share it, then one SRGAN row per experiment, each cell from that experiment's own files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from srgan.tables import ablation_table, content_label, write_ablation


def metrics_csv(path: Path, psnr: float, ssim: float, lpips: float = math.nan) -> str:
    """A per-image metrics CSV as srgan.evaluate writes it (one image and the mean row)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"image": ["img", "mean"], "psnr": [psnr, psnr], "ssim": [ssim, ssim],
                  "lpips": [lpips, lpips]}).to_csv(path, index=False)
    return str(path)


def status(path: Path, **content) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return str(path)


@pytest.fixture
def experiments(tmp_path: Path) -> dict:
    """Three experiments: mse and vgg22 share one SRResNet (the same files), vgg54 has its own;
    every file holds a PSNR that says whose it is. vgg54 also evaluates a set the others do not."""
    shared = {s: metrics_csv(tmp_path / "pretrain/a/eval" / s / "metrics.csv", 30.0 + k, 0.90)
              for k, s in enumerate(["Set5", "Set14"])}
    own = {s: metrics_csv(tmp_path / "pretrain/b/eval" / s / "metrics.csv", 40.0 + k, 0.95)
           for k, s in enumerate(["Set5", "Set14", "B100"])}

    def srgan(exp: str, base: float, sets: list[str]) -> dict:
        return {s: metrics_csv(tmp_path / exp / "srgan/eval" / s / "metrics.csv", base + k, 0.80, 0.1 * (k + 1))
                for k, s in enumerate(sets)}

    return {
        "srgan_mse": {"content": "mse", "vgg_layer": "block5_conv4", "srresnet": shared,
                      "srgan": srgan("srgan_mse", 20.0, ["Set5", "Set14"])},
        # the same SRResNet files, spelt another way: still one SRResNet
        "srgan_vgg22": {"content": "vgg", "vgg_layer": "block2_conv2",
                        "srresnet": {s: f"{tmp_path}/pretrain/a/./eval/{s}/metrics.csv" for s in shared},
                        "srgan": srgan("srgan_vgg22", 22.0, ["Set5", "Set14"])},
        "srgan_vgg54": {"content": "vgg", "vgg_layer": "block5_conv4", "srresnet": own,
                        "srgan": srgan("srgan_vgg54", 24.0, ["Set14", "B100", "Set5"])},
    }


def test_one_srresnet_row_per_distinct_srresnet_naming_the_experiments_that_share_it(experiments: dict) -> None:
    table = ablation_table(experiments, ["Set5", "Set14"]).set_index("method")
    assert list(table.index) == ["SRResNet-MSE (srgan_mse, srgan_vgg22)", "SRResNet-MSE (srgan_vgg54)",
                                 "SRGAN-MSE (srgan_mse)", "SRGAN-VGG22 (srgan_vgg22)", "SRGAN-VGG54 (srgan_vgg54)"]
    # each row's numbers are its own SRResNet's (not the first experiment's for all)
    assert table.loc["SRResNet-MSE (srgan_mse, srgan_vgg22)", ["Set5_psnr", "Set14_psnr"]].tolist() == [30.0, 31.0]
    assert table.loc["SRResNet-MSE (srgan_vgg54)", ["Set5_psnr", "Set14_psnr"]].tolist() == [40.0, 41.0]


def test_every_srgan_cell_comes_from_its_experiments_file_of_that_test_set(experiments: dict) -> None:
    # vgg54 lists its sets in another order and has one more: cells are found by set, never by position
    table = ablation_table(experiments, ["Set5", "Set14"]).set_index("method")
    assert list(table.columns) == ["Set5_psnr", "Set5_ssim", "Set5_lpips", "Set14_psnr", "Set14_ssim", "Set14_lpips"]
    assert table.loc["SRGAN-MSE (srgan_mse)", ["Set5_psnr", "Set14_psnr"]].tolist() == [20.0, 21.0]
    assert table.loc["SRGAN-VGG22 (srgan_vgg22)", ["Set5_psnr", "Set14_psnr"]].tolist() == [22.0, 23.0]
    assert table.loc["SRGAN-VGG54 (srgan_vgg54)", ["Set5_psnr", "Set14_psnr"]].tolist() == [26.0, 24.0]
    assert table.loc["SRGAN-VGG54 (srgan_vgg54)", "Set14_lpips"] == pytest.approx(0.1)
    assert table["Set5_lpips"].iloc[:2].isna().all()  # the SRResNets' LPIPS was n/a


def test_write_ablation_names_a_random_vgg_and_an_unavailable_lpips_of_any_experiment(
        experiments: dict, tmp_path: Path) -> None:
    for exp, spec in experiments.items():
        weights = "random-fallback" if exp == "srgan_vgg54" else "imagenet"
        spec["content_network"] = status(tmp_path / exp / "content_network.json", weights=weights)
        spec["lpips"] = status(tmp_path / "lpips" / f"{exp}.json", available=exp != "srgan_vgg22",
                               reason=None if exp != "srgan_vgg22" else "AlexNet weights missing")
    table = write_ablation(experiments, test_sets=["Set5"], protocol="standard", scale=4,
                           csv_out=tmp_path / "out/ablation.csv", markdown_out=tmp_path / "out/ablation.md")
    written = pd.read_csv(tmp_path / "out/ablation.csv")
    assert list(written["method"]) == list(table["method"])
    assert written["Set5_psnr"].tolist() == pytest.approx(table["Set5_psnr"].tolist())
    markdown = (tmp_path / "out/ablation.md").read_text()
    assert "| SRResNet-MSE (srgan_mse, srgan_vgg22) |" in markdown
    assert "RANDOM VGG19 weights" in markdown
    assert "**LPIPS is n/a**: AlexNet weights missing" in markdown
    assert "Protocol `standard`" in markdown and "in brackets, the experiments" in markdown


def test_write_ablation_without_caveats_says_none(experiments: dict, tmp_path: Path) -> None:
    for exp, spec in experiments.items():
        spec["content_network"] = status(tmp_path / exp / "content_network.json", weights="imagenet")
        spec["lpips"] = status(tmp_path / "lpips.json", available=True, reason=None)
    write_ablation(experiments, test_sets=["Set5"], protocol="report", scale=4,
                   csv_out=tmp_path / "a.csv", markdown_out=tmp_path / "a.md")
    markdown = (tmp_path / "a.md").read_text()
    assert "RANDOM" not in markdown and "LPIPS is n/a" not in markdown
    assert "Protocol `report`" in markdown


@pytest.mark.parametrize(("content", "layer", "label"), [
    ("mse", "block5_conv4", "SRGAN-MSE"), ("vgg", "block2_conv2", "SRGAN-VGG22"),
    ("vgg", "block5_conv4", "SRGAN-VGG54"), ("vgg", "block3_conv4", "SRGAN-VGG34")])
def test_content_label_names_the_variant_as_the_paper_does(content: str, layer: str, label: str) -> None:
    assert content_label(content, layer) == label
