"""The published bicubic x4 baselines, reproduced by the pipeline on ../shared/data.

Golden source: the bicubic x4 rows of the published tables, EDSR (Lim et al. 2017, "Enhanced Deep
Residual Networks for Single Image Super-Resolution", CVPRW, its benchmark table) and ESRGAN (Wang et al. 2018,
"ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", ECCVW): Set5 28.42/0.8104,
Set14 26.00/0.7027, B100 25.96/0.6675, Urban100 23.14/0.6577, standard protocol (Y as MATLAB
rgb2ycbcr, 4 px border), the protocol of Ledig et al. 2017, Table 2.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake

# (PSNR dB, SSIM) tolerances: Set14 copies differ between sources, so it gets a wider band.
TOLERANCE = {"Set5": (0.01, 0.0005), "Set14": (0.1, 0.002), "BSD100": (0.01, 0.0005),
             "Urban100": (0.01, 0.0005)}


@pytest.mark.slow
def test_pipeline_reproduces_published_bicubic(tmp_path: Path, shared_data: Path) -> None:
    config = yaml.safe_load((REPO / "tests/config/shared_benchmarks.yaml").read_text())
    for name, spec in config["datasets"].items():
        spec["path"] = str(shared_data / name / "HR")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    target = "results/benchmarks_offline/tables/bicubic.csv"
    # The target goes first: --configfile takes every argument after it.
    result = run_snakemake(tmp_path, target, "--cores", "2", "--configfile", str(tmp_path / "config.yaml"))
    assert result.returncode == 0, result.stderr[-4000:]

    table = pd.read_csv(tmp_path / target).set_index("test_set")
    assert list(table.index) == ["Set5", "Set14", "BSD100", "Urban100"]
    for name, (psnr_tol, ssim_tol) in TOLERANCE.items():
        row = table.loc[name]
        assert abs(row["diff_psnr"]) <= psnr_tol, (name, row.to_dict())
        assert abs(row["diff_ssim"]) <= ssim_tol, (name, row.to_dict())
    markdown = (tmp_path / target).with_suffix(".md").read_text()
    assert "| Set5 |" in markdown and "published" in markdown
    # Set14's grayscale `bridge` went through as RGB, and the log says so.
    log = (tmp_path / "results/logs/prepare_dataset/Set14.log").read_text()
    assert "converting mode L to RGB" in log
