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
                 "train_gan", "evaluate", "tables", "bicubic_table", "figure_curves",
                 "figure_comparison", "figure_progress"):
        assert jobs.get(rule, 0) >= 1, f"{rule} not planned: {jobs}"
    assert jobs["evaluate"] == 2 * len(yaml.safe_load((REPO / "config.yaml").read_text())["test_sets"])


def test_presets_plan_downloads_and_every_stage(tmp_path: Path) -> None:
    for preset, variants in (("paper", 1), ("report", 1)):
        result = run_snakemake(tmp_path, "-n", "--configfile", str(REPO / "presets" / f"{preset}.yaml"))
        assert result.returncode == 0, result.stderr[-3000:]
        jobs = planned_jobs(result.stdout)
        assert jobs["pretrain"] == variants and jobs["train_gan"] == variants, (preset, jobs)
        assert "resources/datasets/DIV2K_train/HR" in result.stdout
    result = run_snakemake(tmp_path, "-n", "--configfile", str(REPO / "presets" / "paper.yaml"),
                           str(REPO / "presets" / "ablation.yaml"))
    jobs = planned_jobs(result.stdout)
    assert (jobs["pretrain"], jobs["train_gan"], jobs["ablation"]) == (1, 3, 1), jobs


@pytest.mark.parametrize(("edit", "message"), [
    ({"pretrain": {"epochs": 0}}, "epochs"),
    ({"experiments": {"bad": {"gan": {"content": "l1"}}}}, "l1"),
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


def _edited(config_path: Path, target: Path, **edits: dict) -> Path:
    """A copy of a config with nested keys replaced: _edited(p, t, gan={"lr": 1e-5})."""
    config = yaml.safe_load(config_path.read_text())
    for key, value in edits.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    target.write_text(yaml.safe_dump(config))
    return target


FIGURES = ["curves.png", "losses.png", "discriminator.png", "comparison_tiny_test.png",
           "progress_srresnet.png", "progress_srgan.png"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """The whole DAG on the tiny config, once for the tests below (they only read or dry-run)."""
    workdir = tmp_path_factory.mktemp("tiny")
    config = copy_config(TINY, workdir / "tiny.yaml")
    result = run_snakemake(workdir, "--cores", "2", "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


@pytest.mark.slow
def test_end_to_end_tiny(tiny_run: Path) -> None:
    """Every output exists, parses and holds finite metrics."""
    exp = tiny_run / "results" / "tiny"
    table = pd.read_csv(exp / "tables" / "results.csv")
    assert list(table["method"]) == ["Bicubic", "SRResNet", "SRGAN"]
    assert list(table.columns) == ["method", "tiny_test_psnr", "tiny_test_ssim"]
    assert all(math.isfinite(v) for v in table[["tiny_test_psnr", "tiny_test_ssim"]].to_numpy().ravel())
    markdown = (exp / "tables" / "results.md").read_text()
    assert "| Bicubic |" in markdown and "RANDOM VGG19 weights" in markdown
    assert r"\begin{tabular}" in (exp / "tables" / "results.tex").read_text()
    bicubic = pd.read_csv(exp / "tables" / "bicubic.csv")
    assert bicubic["psnr"].iloc[0] == pytest.approx(table["tiny_test_psnr"].iloc[0])

    for stage, loss in (("srresnet", "mse"), ("srgan", "g_loss")):
        history = pd.read_csv(exp / "history" / f"{stage}.csv")
        assert list(history["epoch"]) == [1, 2]
        for column in ("iteration", loss, "tiny_test_psnr", "tiny_test_ssim", "seconds"):
            assert history[column].map(math.isfinite).all(), (stage, column)
        # The table's rows and the last history row measure the same generator on the same set,
        # and the table holds exactly the mean row of the per-image metrics CSV.
        label = {"srresnet": "SRResNet", "srgan": "SRGAN"}[stage]
        row = table[table["method"] == label]
        assert row["tiny_test_psnr"].iloc[0] == pytest.approx(history["tiny_test_psnr"].iloc[-1], abs=1e-4)
        per_image = pd.read_csv(exp / "eval" / stage / "tiny_test" / "metrics.csv").set_index("image")
        assert row["tiny_test_ssim"].iloc[0] == pytest.approx(per_image.loc["mean", "ssim"], abs=1e-6)

    for figure in FIGURES:
        with Image.open(exp / "figures" / figure) as image:
            assert image.size[0] > 200 and image.size[1] > 100, figure
    assert json.loads((exp / "srgan" / "content_network.json").read_text())["weights"] == "random-fallback"
    assert "RANDOM VGG19" in (tiny_run / "results" / "logs" / "tiny" / "train_gan.log").read_text()

    # Nothing is left to do, and no temporary file is left behind.
    again = run_snakemake(tiny_run, "-n", "--configfile", str(tiny_run / "tiny.yaml"))
    assert "Nothing to be done" in again.stdout + again.stderr
    assert not list((tiny_run / "results").rglob(".tmp-*"))


@pytest.mark.slow
def test_html_report_names_every_figure(tiny_run: Path) -> None:
    report = tiny_run / "results" / "report.html"
    result = run_snakemake(tiny_run, "--report", str(report), "--configfile", str(tiny_run / "tiny.yaml"))
    assert result.returncode == 0, result.stderr[-3000:]
    html = report.read_text(errors="replace")
    for name in FIGURES + ["results.csv", "bicubic.csv"]:
        assert name in html, name


# Which jobs a one-key edit plans (issue: stage-precise reruns). Each entry: the edit, rules that
# must be planned, rules that must not.
RERUNS = {
    "gan learning rate": ({"gan": {"lr": 5e-5}}, {"train_gan", "evaluate", "tables"},
                          {"prepare_dataset", "prepare_train", "prepare_eval", "pretrain",
                           "adopt_pretrain", "bicubic_baseline"}),
    "metric protocol": ({"metrics": {"protocol": "report"}},
                        {"bicubic_baseline", "evaluate", "tables", "figure_curves", "figure_comparison"},
                        {"prepare_dataset", "prepare_train", "pretrain", "train_gan"}),
    "test sets": ({"datasets": {"tiny_train": {"source": "skimage", "images": ["chelsea", "camera"]},
                                "tiny_test": {"source": "skimage", "images": ["astronaut"]},
                                "more": {"source": "skimage", "images": ["coffee"]}},
                   "test_sets": ["tiny_test", "more"]},
                  {"evaluate", "bicubic_baseline", "tables", "figure_comparison"},
                  {"prepare_train", "pretrain", "train_gan"}),
    "crop size": ({"patches": {"hr_size": 16}}, {"prepare_train", "pretrain", "train_gan", "evaluate"},
                  {"prepare_dataset", "prepare_eval", "bicubic_baseline"}),
    "plot setting": ({"plots": {"dpi": 61}}, {"figure_curves", "figure_comparison", "figure_progress"},
                     {"tables", "evaluate", "train_gan", "pretrain", "prepare_train", "bicubic_baseline"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("change", list(RERUNS))
def test_one_key_reruns_only_its_stages(tiny_run: Path, tmp_path: Path, change: str) -> None:
    edits, planned, not_planned = RERUNS[change]
    config = _edited(tiny_run / "tiny.yaml", tmp_path / "edited.yaml", **edits)
    result = run_snakemake(tiny_run, "-n", "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = set(planned_jobs(result.stdout))
    assert planned <= jobs, (change, jobs)
    assert not (not_planned & jobs), (change, jobs)


@pytest.mark.slow
def test_ablation_shares_one_pretraining(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / TINY).read_text())
    config["experiments"] = yaml.safe_load((REPO / "presets" / "ablation.yaml").read_text())["experiments"]
    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump(config))
    plan = run_snakemake(tmp_path, "-n", "--configfile", str(path))
    jobs = planned_jobs(plan.stdout)
    assert jobs["prepare_train"] == 1 and jobs["pretrain"] == 1, jobs
    assert jobs["train_gan"] == 3 and jobs["adopt_pretrain"] == 3 and jobs["ablation"] == 1, jobs

    result = run_snakemake(tmp_path, "--cores", "2", "--configfile", str(path))
    assert result.returncode == 0, result.stderr[-4000:]
    table = pd.read_csv(tmp_path / "results" / "ablation" / "ablation.csv")
    assert list(table["method"]) == ["SRResNet (MSE)", "SRGAN-MSE (srgan_mse)",
                                     "SRGAN-VGG22 (srgan_vgg22)", "SRGAN-VGG54 (srgan_vgg54)"]
    assert table.drop(columns="method").map(math.isfinite).all().all()
    # The three experiments start from the very same SRResNet weights.
    weights = [(tmp_path / "results" / exp / "srresnet" / "generator.pt").read_bytes()
               for exp in ("srgan_mse", "srgan_vgg22", "srgan_vgg54")]
    assert weights[0] == weights[1] == weights[2]
