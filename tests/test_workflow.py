"""The workflow as a whole: lint, dry-run plans, config validation, and one end-to-end run."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import REPO, copy_config, run_snakemake

TINY = "tests/config/tiny.yaml"


def planned_jobs(stdout: str) -> dict[str, int]:
    """The 'Job stats' table of a dry-run, as {rule: count}."""
    table = stdout.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def test_lint_is_clean(tmp_path: Path) -> None:
    result = run_snakemake(REPO, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_default_config_plans_every_stage(tmp_path: Path) -> None:
    result = run_snakemake(tmp_path, "-n", "--configfile", str(REPO / "config.yaml"))
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result.stdout)
    for rule in ("prepare_dataset", "prepare_train", "prepare_eval", "bicubic_baseline", "pretrain",
                 "train_gan", "evaluate", "tables", "figures"):
        assert jobs.get(rule, 0) >= 1, f"{rule} not planned: {jobs}"
    assert jobs["evaluate"] == 2 * len(yaml.safe_load((REPO / "config.yaml").read_text())["test_sets"])


@pytest.mark.parametrize(("edit", "message"), [
    ({"pretrain": {"epochs": 0}}, "epochs"),
    ({"patches": {"hr_sise": 96}}, "hr_sise"),
    ({"test_sets": ["nope"]}, "nope"),
    ({"device": "tpu"}, "tpu"),
])
def test_bad_config_is_a_clear_error(tmp_path: Path, edit: dict, message: str) -> None:
    config = yaml.safe_load((REPO / TINY).read_text())
    for key, value in edit.items():
        if isinstance(value, dict):
            config[key] = {**config.get(key, {}), **value}
        else:
            config[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "-n", "--configfile", str(path))
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


@pytest.mark.slow
def test_end_to_end_tiny(tmp_path: Path) -> None:
    """The whole DAG on the tiny config: every output exists, parses and holds finite metrics."""
    config = copy_config(TINY, tmp_path / "tiny.yaml")
    result = run_snakemake(tmp_path, "--cores", "2", "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-4000:]
    exp = tmp_path / "results" / "tiny"

    table = pd.read_csv(exp / "tables" / "results.csv")
    assert list(table["method"]) == ["Bicubic", "SRResNet", "SRGAN"]
    assert list(table.columns) == ["method", "tiny_test_psnr", "tiny_test_ssim"]
    assert all(math.isfinite(v) for v in table[["tiny_test_psnr", "tiny_test_ssim"]].to_numpy().ravel())
    markdown = (exp / "tables" / "results.md").read_text()
    assert "| Bicubic |" in markdown and "RANDOM VGG19 weights" in markdown

    for stage, loss in (("srresnet", "mse"), ("srgan", "g_loss")):
        history = pd.read_csv(exp / "history" / f"{stage}.csv")
        assert list(history["epoch"]) == [1, 2]
        for column in ("iteration", loss, "tiny_test_psnr", "tiny_test_ssim", "seconds"):
            assert history[column].map(math.isfinite).all(), (stage, column)
        # The table's SRResNet/SRGAN rows and the last history row measure the same generator.
        row = table[table["method"] == {"srresnet": "SRResNet", "srgan": "SRGAN"}[stage]]
        assert row["tiny_test_psnr"].iloc[0] == pytest.approx(history["tiny_test_psnr"].iloc[-1], abs=1e-4)

    for figure in ("curves.png", "comparison.png"):
        with Image.open(exp / "figures" / figure) as image:
            assert image.size[0] > 200 and image.size[1] > 100
    assert json.loads((exp / "srgan" / "content_network.json").read_text())["weights"] == "random-fallback"
    assert "RANDOM VGG19" in (tmp_path / "results" / "logs" / "tiny" / "train_gan.log").read_text()

    # Nothing is left to do, and no temporary file is left behind.
    again = run_snakemake(tmp_path, "-n", "--configfile", str(config))
    assert "Nothing to be done" in again.stdout + again.stderr
    assert not list((tmp_path / "results").rglob(".tmp-*"))
