"""The workflow as a whole: lint, dry-run plans, config validation, and one end-to-end run."""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from srgan.checkpoint import load_checkpoint
from srgan.cli import main

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
                 "train_gan", "evaluate", "evaluate_snapshots", "tables", "bicubic_table", "figure_curves",
                 "figure_comparison", "figure_progress"):
        assert jobs.get(rule, 0) >= 1, f"{rule} not planned: {jobs}"
    assert jobs["evaluate"] == 2 * len(yaml.safe_load((REPO / "config.yaml").read_text())["test_sets"])


def _hub_with_weights(tmp_path: Path) -> dict:
    """TORCH_HOME of a torch hub cache holding (stand-ins for) the VGG19 and AlexNet files."""
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for name in ("vgg19-dcbb9e9d.pth", "alexnet-owt-7be5be79.pth"):
        (checkpoints / name).write_bytes(b"stand-in")
    return {"TORCH_HOME": str(tmp_path / "torch")}


def test_presets_plan_downloads_and_every_stage(tmp_path: Path) -> None:
    env = _hub_with_weights(tmp_path)
    for preset, variants in (("paper", 1), ("report", 1)):
        result = run_snakemake(tmp_path, "-n", "--configfile", str(REPO / "presets" / f"{preset}.yaml"),
                               env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        jobs = planned_jobs(result.stdout)
        assert jobs["pretrain"] == variants and jobs["train_gan"] == variants, (preset, jobs)
        assert "resources/datasets/DIV2K_train/HR" in result.stdout
    result = run_snakemake(tmp_path, "-n", "--configfile", str(REPO / "presets" / "paper.yaml"),
                           str(REPO / "presets" / "ablation.yaml"), env=env)
    jobs = planned_jobs(result.stdout)
    assert (jobs["pretrain"], jobs["train_gan"], jobs["ablation"]) == (1, 3, 1), jobs


def test_a_preset_without_the_imagenet_weights_stops_before_any_job(tmp_path: Path) -> None:
    # Today's alternative: the whole SRResNet pretraining, then train_gan fails on VGG19.
    env = {"TORCH_HOME": str(tmp_path / "empty-torch-home")}
    result = run_snakemake(tmp_path, "-n", "--configfile", str(REPO / "presets" / "report.yaml"), env=env)
    assert result.returncode != 0
    console = result.stdout + result.stderr
    assert "VGG19 (the SRGAN content loss) ImageNet weights are not in the torch hub cache" in console
    assert "AlexNet (LPIPS) ImageNet weights" in console and "srgan fetch-weights" in console


@pytest.mark.parametrize(("edit", "message"), [
    ({"pretrain": {"epochs": 0}}, "epochs"),
    ({"experiments": {"bad": {"gan": {"content": "l1"}}}}, "l1"),
    ({"patches": {"hr_sise": 96}}, "hr_sise"),
    ({"test_sets": ["nope"]}, "nope"),
    ({"device": "tpu"}, "tpu"),
    # Caught at plan time by srgan.config (tests/test_config.py has one test per check); before,
    # these passed `snakemake -n` and failed only in the job that needed them.
    ({"gan": {"vgg_layer": "block1_conv4"}}, "gan.vgg_layer = 'block1_conv4' is not a VGG19 layer"),
    ({"datasets": {"tiny_train": {"source": "skimage", "images": ["chelsae"]},
                   "tiny_test": {"source": "skimage", "images": ["astronaut"]}}},
     "datasets.tiny_train.images names ['chelsae']"),
    ({"datasets": {"tiny_train": {"source": "folder", "path": "no/such/folder"},
                   "tiny_test": {"source": "skimage", "images": ["astronaut"]}}},
     "datasets.tiny_train.path = 'no/such/folder': no such folder"),
    ({"pretrain": {"batch_size": 64}}, "pretrain.batch_size = 64 is more than the 16 training crops"),
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


def test_a_yaml_error_in_the_embedded_config_names_the_file_and_line(tmp_path: Path) -> None:
    text = (REPO / "config.yaml").read_text().replace("scale: 4", "scale: [4", 1)
    (tmp_path / "config.yaml").write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if row.startswith("scale: [4"))
    result = run_snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert re.search(rf"config\.yaml:\d+:\d+: YAML syntax error: .* starts at line {line}, column 8",
                     result.stdout + result.stderr), result.stdout[-2000:]


def _makefile_flags(target: str) -> list[str]:
    """The options that a Makefile target passes to snakemake (after ``snakemake``)."""
    recipe = (REPO / "Makefile").read_text().split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
    line = next(row for row in recipe.splitlines() if "/snakemake " in row)
    return [flag for flag in line.split("/snakemake ", 1)[1].split() if flag.startswith("--")
            and flag != "--cores"]


def test_a_failed_job_shows_its_error_on_the_console(tmp_path: Path) -> None:
    # A corrupt image passes the plan-time checks (the folder holds images) and fails in
    # prepare_dataset; `make demo` shows the log's error, not only the log's path.
    photos = tmp_path / "photos"
    photos.mkdir()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(photos / "good.png")
    (photos / "broken.png").write_bytes((photos / "good.png").read_bytes()[:2000])  # cut short
    config = yaml.safe_load((REPO / TINY).read_text())
    config["datasets"]["tiny_train"] = {"source": "folder", "path": str(photos)}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    flags = _makefile_flags("demo")
    assert "--show-failed-logs" in flags
    result = run_snakemake(tmp_path, "--cores", "1", "--configfile", str(tmp_path / "bad.yaml"), *flags)
    assert result.returncode != 0
    console = result.stdout + result.stderr
    assert f"cannot read image {photos / 'broken.png'}: truncated or corrupt" in console, console[-3000:]
    assert not (tmp_path / "resources" / "datasets" / "tiny_train").exists()  # nothing half-written
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["show-failed-logs"] is True


def _edited(config_path: Path, target: Path, **edits: dict) -> Path:
    """A copy of a config with nested keys replaced: _edited(p, t, gan={"lr": 1e-5})."""
    config = yaml.safe_load(config_path.read_text())
    for key, value in edits.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    target.write_text(yaml.safe_dump(config))
    return target


def _one(folder: Path, pattern: str) -> Path:
    """The one path under ``folder`` that matches ``pattern``: shared outputs (the SRResNet's
    evaluations, the LPIPS decision) are keyed by a hash of their settings."""
    [path] = folder.glob(pattern)
    return path


# Where each stage's generator and its evaluations are, for the tiny run's glob patterns.
STAGE_DIRS = {"srresnet": "results/pretrain/*", "srgan": "results/tiny/srgan"}

FIGURES = ["curves.png", "losses.png", "discriminator.png", "comparison_tiny_test.png",
           "progress_srresnet.png", "progress_srgan.png", "perception_tiny_test.png"]


def write_photos(folder: Path) -> None:
    """Two small "photos" for rule upscale: an RGBA PNG in a subfolder and a JPEG."""
    rng = np.random.default_rng(0)
    (folder / "trip").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (20, 24, 4), dtype=np.uint8)).save(folder / "trip" / "logo.png")
    Image.fromarray(rng.integers(0, 256, (18, 16, 3), dtype=np.uint8)).save(folder / "cat.jpg")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """The whole DAG on the tiny config, once for the tests below (they only read or dry-run)."""
    workdir = tmp_path_factory.mktemp("tiny")
    config = copy_config(TINY, workdir / "tiny.yaml")
    write_photos(workdir / "photos")
    settings = yaml.safe_load(config.read_text())
    settings["upscale"] = {"folder": "photos", "quality": 90}  # rule upscale, on for this run
    config.write_text(yaml.safe_dump(settings))
    result = run_snakemake(workdir, "--cores", "2", "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


@pytest.mark.slow
def test_end_to_end_tiny(tiny_run: Path) -> None:
    """Every output exists, parses and holds finite metrics."""
    exp = tiny_run / "results" / "tiny"
    table = pd.read_csv(exp / "tables" / "results.csv")
    assert list(table["method"]) == ["Bicubic", "SRResNet", "SRGAN"]
    assert list(table.columns) == ["method", "tiny_test_psnr", "tiny_test_ssim", "tiny_test_lpips"]
    assert all(math.isfinite(v) for v in table[["tiny_test_psnr", "tiny_test_ssim"]].to_numpy().ravel())
    # Offline, the AlexNet weights of LPIPS cannot be had: n/a everywhere, with the reason.
    lpips = json.loads(_one(tiny_run, "results/lpips_network/*.json").read_text())
    assert lpips["available"] is False and "AlexNet ImageNet weights unavailable" in lpips["reason"]
    assert table["tiny_test_lpips"].isna().all()
    markdown = (exp / "tables" / "results.md").read_text()
    assert "| Bicubic |" in markdown and "RANDOM VGG19 weights" in markdown
    assert " / n/a |" in markdown and "**LPIPS is n/a**: AlexNet ImageNet weights unavailable" in markdown
    latex = (exp / "tables" / "results.tex").read_text()
    assert r"\begin{tabular}" in latex and "LPIPS is n/a" in latex and "RANDOM VGG19" in latex
    # The resolved config: the file's keys, with the schema's defaults filled in.
    recorded = yaml.safe_load((exp / "config.yaml").read_text())
    assert recorded["gan"]["vgg_layer"] == "block2_conv2" and recorded["metrics"]["round_y"] is True
    assert recorded["experiment"] == "tiny" and "threads" not in recorded
    bicubic = pd.read_csv(exp / "tables" / "bicubic.csv")
    assert bicubic["psnr"].iloc[0] == pytest.approx(table["tiny_test_psnr"].iloc[0])

    for stage, loss in (("srresnet", "mse"), ("srgan", "g_loss")):
        history = pd.read_csv(_one(tiny_run, f"{STAGE_DIRS[stage]}/history/*.csv"))
        assert list(history["epoch"]) == [1, 2]
        for column in ("iteration", loss, "tiny_test_psnr", "tiny_test_ssim", "seconds"):
            assert history[column].map(math.isfinite).all(), (stage, column)
        assert history["tiny_test_lpips"].isna().all(), stage
        # The table's rows and the last history row measure the same generator on the same set,
        # and the table holds exactly the mean row of the per-image metrics CSV.
        label = {"srresnet": "SRResNet", "srgan": "SRGAN"}[stage]
        row = table[table["method"] == label]
        assert row["tiny_test_psnr"].iloc[0] == pytest.approx(history["tiny_test_psnr"].iloc[-1], abs=1e-4)
        per_image = pd.read_csv(_one(tiny_run, f"{STAGE_DIRS[stage]}/eval/*/tiny_test/metrics.csv")).set_index("image")
        assert row["tiny_test_ssim"].iloc[0] == pytest.approx(per_image.loc["mean", "ssim"], abs=1e-6)

    for figure in FIGURES:
        with Image.open(exp / "figures" / figure) as image:
            assert image.size[0] > 200 and image.size[1] > 100, figure
    # Rule upscale: each photo, by each final generator, exactly as `srgan upscale` writes it.
    for stage in ("srresnet", "srgan"):
        upscaled = exp / "upscaled" / stage
        assert sorted(str(p.relative_to(upscaled)) for p in upscaled.rglob("*.*g")) == ["cat.jpg", "trip/logo.png"]
        for name in ("cat.jpg", "trip/logo.png"):
            reference = tiny_run / "reference" / stage / name
            assert main(["upscale", str(tiny_run / "photos" / name), str(reference), "--device", "cpu",
                         "--quality", "90", "--checkpoint", str(exp / stage / "generator.pt")]) == 0
            with Image.open(upscaled / name) as image, Image.open(reference) as expected:
                assert image.mode == expected.mode and image.size == (expected.size[0], expected.size[1])
                assert np.array_equal(np.asarray(image), np.asarray(expected)), (stage, name)
    assert json.loads((exp / "srgan" / "content_network.json").read_text())["weights"] == "random-fallback"
    assert "RANDOM VGG19" in (tiny_run / "results" / "logs" / "tiny" / "train_gan.log").read_text()

    # Nothing is left to do; no temporary file and no resume state is left behind, and each
    # stage kept one snapshot per epoch.
    again = run_snakemake(tiny_run, "-n", "--configfile", str(tiny_run / "tiny.yaml"))
    assert "Nothing to be done" in again.stdout + again.stderr
    assert not list((tiny_run / "results").rglob(".tmp-*"))
    assert not list((tiny_run / "results").rglob("resume*"))
    for snapshots in [*(tiny_run / "results" / "pretrain").glob("*/snapshots"), exp / "srgan" / "snapshots"]:
        assert sorted(p.name for p in snapshots.glob("*.pt")) == ["iter_000000004.pt", "iter_000000008.pt"]


@pytest.mark.slow
def test_leftover_temporaries_are_removed_by_the_next_run_of_their_rule(tiny_run: Path,
                                                                       tmp_path: Path) -> None:
    work = _copy_run(tiny_run, tmp_path / "run")
    out = _one(work, "results/tiny/srgan/eval/*/tiny_test")
    (out / ".tmp-metrics.csv.k1ll3d").write_text("half a csv")
    (out / ".tmp-images.k1ll3d").mkdir()
    (out / ".tmp-images.k1ll3d" / "astronaut.png").write_bytes(b"half a png")
    other = _one(work, "results/pretrain/*/eval/*/tiny_test") / ".tmp-metrics.csv.other"
    other.write_text("another job's")
    result = run_snakemake(work, "--cores", "1", "--configfile", str(work / "tiny.yaml"),
                           "--forcerun", str((out / "metrics.csv").relative_to(work)), "--until", "evaluate")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list(out.glob(".tmp-*"))
    assert other.exists()  # not this job's: left alone
    assert "left by an interrupted run" in _one(work, "results/logs/evaluate/tiny/srgan/*/tiny_test.log").read_text()


@pytest.mark.slow
def test_data_rules_ask_for_memory_by_their_largest_input_image(tiny_run: Path) -> None:
    """mem_mb of prepare_train / prepare_eval = a base + a per-pixel cost of the largest image
    (skimage's camera, 512x512, among the tiny training images; astronaut for the test set)."""
    result = run_snakemake(tiny_run, "-n", "--configfile", str(tiny_run / "tiny.yaml"), "--forcerun",
                           "prepare_train", "prepare_eval", "--until", "prepare_train", "prepare_eval")
    assert result.returncode == 0, result.stderr[-3000:]
    asked = dict(re.findall(r"rule (prepare_train|prepare_eval):.*?mem_mb=(\d+)", result.stdout, re.DOTALL))
    expected = 1000 + math.ceil(512 * 512 * 120 / 2**20)
    assert asked == {"prepare_train": str(expected), "prepare_eval": str(expected)}, result.stdout[-2000:]


@pytest.mark.slow
def test_html_report_names_every_figure(tiny_run: Path) -> None:
    report = tiny_run / "results" / "report.html"
    result = run_snakemake(tiny_run, "--report", str(report), "--configfile", str(tiny_run / "tiny.yaml"))
    assert result.returncode == 0, result.stderr[-3000:]
    html = report.read_text(errors="replace")
    for name in FIGURES + ["results.csv", "bicubic.csv", "results.html", "config.html"]:
        assert name in html, name
    # The table itself and the resolved config are pages of the report, not only downloads.
    # (Snakemake embeds them base64-encoded.)
    pages = [base64.b64decode(blob).decode(errors="replace") for blob in
             re.findall(r"data:text/html;charset=utf8;filename=[^;]+;base64,([A-Za-z0-9+/=]+)", html)]
    table = next(page for page in pages if "Results of experiment tiny" in page)
    assert "<td>SRResNet</td>" in table and "LPIPS is n/a" in table and "RANDOM VGG19" in table
    config = next(page for page in pages if "Config of experiment tiny" in page)
    assert "vgg_layer: block2_conv2" in config


MORE = {"source": "skimage", "images": ["coffee"]}
# The concrete edit of the tiny config behind each row of the README's rerun table.
EDITS = {
    "checkpoint_every": {"checkpoint_every": 5},
    "threads": {"threads": 2},
    "compile": {"compile": True},
    "cuda_graphs": {"cuda_graphs": True},
    "device": {"device": "auto"},
    "tile": {"tile": 64},
    "max_image_pixels": {"max_image_pixels": 10_000_000},
    "precision": {"precision": "bf16"},
    "seed": {"seed": 1},
    "patches.hr_size": {"patches": {"hr_size": 48}},
    "patches.sampling": {"patches": {"sampling": "fixed"}},
    "model.num_blocks": {"model": {"num_blocks": 1}},
    "pretrain.lr": {"pretrain": {"lr": 2e-4}},
    "pretrain.eval_every": {"pretrain": {"eval_every": 2}},
    "gan.lr": {"gan": {"lr": 5e-5}},
    "gan.eval_every": {"gan": {"eval_every": 2}},
    "val_sets": {"datasets": {"more": MORE}, "val_sets": ["tiny_test", "more"]},
    "test_sets": {"datasets": {"more": MORE}, "test_sets": ["tiny_test", "more"]},
    "metrics.protocol": {"metrics": {"protocol": "report"}},
    "metrics.round_y": {"metrics": {"round_y": False}},
    "plots.dpi": {"plots": {"dpi": 61}},
    "plots.progress_epochs": {"plots": {"progress_epochs": [-1]}},
    "upscale.quality": {"upscale": {"quality": 50}},
}


def readme_rerun_table() -> dict[str, set[str]]:
    """{config key: rules it reruns} from the README's rerun table."""
    text = (REPO / "README.md").read_text().split("<!-- rerun-table:")[1]
    rows = {}
    for line in text.splitlines()[3:]:
        if not line.startswith("| `"):
            break
        key, rules = (cell.strip() for cell in line.strip("|").split("|"))
        key = key.split("`")[1]
        rows[key] = set() if rules == "nothing" else {r.strip().rstrip("\\*†") for r in rules.split(",")}
    return rows


def _edit(config: dict, edit: dict) -> dict:
    for key, value in edit.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


def test_the_readme_rerun_table_covers_exactly_the_tested_keys() -> None:
    assert set(readme_rerun_table()) == set(EDITS)


@pytest.mark.slow
@pytest.mark.parametrize("key", list(EDITS))
def test_one_key_reruns_exactly_what_the_readme_says(tiny_run: Path, tmp_path: Path, key: str) -> None:
    config = _edit(yaml.safe_load((tiny_run / "tiny.yaml").read_text()), EDITS[key])
    (tmp_path / "edited.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tiny_run, "-n", "--configfile", str(tmp_path / "edited.yaml"))
    assert result.returncode == 0, result.stderr[-3000:]
    planned = set(planned_jobs(result.stdout)) - {"all"} if "Job stats:" in result.stdout else set()
    assert planned == readme_rerun_table()[key], (key, planned)


def _copy_run(tiny_run: Path, target: Path) -> Path:
    """A private copy of the finished tiny run (outputs, Snakemake metadata), to rerun in."""
    shutil.copytree(tiny_run, target, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    return target


def _generator(path: Path) -> dict:
    return load_checkpoint(path)["generator"]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_forcerun_pretrain_trains_from_scratch(tiny_run: Path, tmp_path: Path) -> None:
    work = _copy_run(tiny_run, tmp_path / "run")
    result = run_snakemake(work, "--cores", "2", "--configfile", str(work / "tiny.yaml"),
                           "--forcerun", "pretrain")
    assert result.returncode == 0, result.stderr[-3000:]
    [log] = (work / "results" / "logs" / "pretrain").glob("*.log")  # the forced run's own log
    text = log.read_text()
    assert "srresnet: training from scratch" in text and "resuming from" not in text, text[-2000:]
    # Deterministic on the CPU: trained again from iteration 0, it is the very same SRResNet.
    assert _same(_generator(work / "results/tiny/srresnet/generator.pt"),
                 _generator(tiny_run / "results/tiny/srresnet/generator.pt"))
    assert not list((work / "results").rglob("resume*"))


@pytest.mark.slow
def test_new_training_images_of_the_same_count_retrain(tiny_run: Path, tmp_path: Path) -> None:
    work = _copy_run(tiny_run, tmp_path / "run")
    config = yaml.safe_load((work / "tiny.yaml").read_text())
    config["datasets"]["tiny_train"]["images"] = ["coffee", "camera"]  # 2 images, as before
    (work / "tiny.yaml").write_text(yaml.safe_dump(config))
    plan = planned_jobs(run_snakemake(work, "-n", "--configfile", str(work / "tiny.yaml")).stdout)
    assert {"prepare_train", "pretrain", "train_gan"} <= set(plan), plan
    result = run_snakemake(work, "--cores", "2", "--configfile", str(work / "tiny.yaml"))
    assert result.returncode == 0, result.stderr[-3000:]
    for stage in ("srresnet", "srgan"):
        assert not _same(_generator(work / f"results/tiny/{stage}/generator.pt"),
                         _generator(tiny_run / f"results/tiny/{stage}/generator.pt")), stage


def _kill_run(work: Path, target: str, marker: str, wildcards: str = "") -> subprocess.CompletedProcess:
    """Run the tiny DAG; the ``target`` call (module:function:N) SIGKILLs Snakemake and its jobs
    (counting only calls in jobs with these ``wildcards``, "name=value,...", when given)."""
    env = {"SRGAN_TEST_KILL": f"{target}:{work / marker}", "SRGAN_TEST_KILL_WILDCARDS": wildcards,
           "PYTHONPATH": str(REPO / "tests" / "killhook")}
    unlock = run_snakemake(work, "--unlock", "--configfile", str(work / "tiny.yaml"))
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    return run_snakemake(work, "--cores", "2", "--configfile", str(work / "tiny.yaml"),
                         "--rerun-incomplete", env=env, new_session=True)


@pytest.mark.slow
def test_kill_9_of_the_pipeline_then_rerun_incomplete_is_exact(tiny_run: Path, tmp_path: Path) -> None:
    work = tmp_path / "killed"
    work.mkdir()
    copy_config(TINY, work / "tiny.yaml")
    # In the middle of pretraining (after the checkpoint of iteration 4), of SRGAN training, and
    # of the SRGAN's per-epoch evaluation (after its first snapshot; it cannot start before
    # train_gan ends, while the SRResNet's may run beside train_gan or before it).
    # Each rerun continues the stage killed by the run before it (its log, read before a later
    # run may replace it, says so).
    logs = work / "results" / "logs"
    resumed_log = {"killed-gan": lambda: next((logs / "pretrain").glob("*.log")),
                   "killed-evaluation": lambda: logs / "tiny" / "train_gan.log"}
    for target, marker, wildcards in (("srgan.training:pixel_mse:6", "killed-pretrain", ""),
                                      ("srgan.training:discriminator_loss:6", "killed-gan", ""),
                                      ("srgan.evaluate:score_snapshot:2", "killed-evaluation",
                                       "model=tiny/srgan")):
        killed = _kill_run(work, target, marker, wildcards)
        assert killed.returncode == -signal.SIGKILL, (marker, killed.stderr[-3000:])
        assert (work / marker).exists()
        if marker in resumed_log:
            assert "resuming from" in resumed_log[marker]().read_text(), marker

    final = run_snakemake(work, "--unlock", "--configfile", str(work / "tiny.yaml"))
    final = run_snakemake(work, "--cores", "2", "--configfile", str(work / "tiny.yaml"), "--rerun-incomplete")
    assert final.returncode == 0, final.stderr[-3000:]
    for stage in ("srresnet", "srgan"):
        assert _same(_generator(work / f"results/tiny/{stage}/generator.pt"),
                     _generator(tiny_run / f"results/tiny/{stage}/generator.pt")), stage
        ours = pd.read_csv(_one(work, f"{STAGE_DIRS[stage]}/history/*.csv")).drop(columns=["seconds", "elapsed"])
        theirs = pd.read_csv(_one(tiny_run, f"{STAGE_DIRS[stage]}/history/*.csv")).drop(columns=["seconds", "elapsed"])
        pd.testing.assert_frame_equal(ours, theirs)
    left = [p for p in (work / "results").rglob("*") if p.name.startswith((".tmp-", "resume"))]
    assert not left, left
    again = run_snakemake(work, "-n", "--configfile", str(work / "tiny.yaml"))
    assert "Nothing to be done" in again.stdout + again.stderr


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
    assert list(table["method"]) == ["SRResNet-MSE (srgan_mse, srgan_vgg22, srgan_vgg54)", "SRGAN-MSE (srgan_mse)",
                                     "SRGAN-VGG22 (srgan_vgg22)", "SRGAN-VGG54 (srgan_vgg54)"]
    assert list(table.columns) == ["method", "tiny_test_psnr", "tiny_test_ssim", "tiny_test_lpips"]
    assert table[["tiny_test_psnr", "tiny_test_ssim"]].map(math.isfinite).all().all()
    assert table["tiny_test_lpips"].isna().all()  # offline: n/a, and the notes say why
    assert "**LPIPS is n/a**" in (tmp_path / "results" / "ablation" / "ablation.md").read_text()
    # The three experiments start from the very same SRResNet weights.
    weights = [(tmp_path / "results" / exp / "srresnet" / "generator.pt").read_bytes()
               for exp in ("srgan_mse", "srgan_vgg22", "srgan_vgg54")]
    assert weights[0] == weights[1] == weights[2]


def _tiny_experiments(tmp_path: Path, experiments: dict) -> Path:
    """The tiny config with ``experiments`` (name: overrides), written to tmp_path."""
    config = yaml.safe_load((REPO / TINY).read_text())
    config["experiments"] = experiments
    path = tmp_path / "experiments.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_ablation_evaluates_its_shared_srresnet_and_bicubic_baseline_once(tmp_path: Path) -> None:
    experiments = yaml.safe_load((REPO / "presets" / "ablation.yaml").read_text())["experiments"]
    plan = run_snakemake(tmp_path, "-n", "--configfile", str(_tiny_experiments(tmp_path, experiments)))
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = planned_jobs(plan.stdout)
    # one SRResNet and three SRGANs, each scored on the one test set and on the one validation set
    assert (jobs["pretrain"], jobs["train_gan"]) == (1, 3), jobs
    assert (jobs["evaluate"], jobs["evaluate_snapshots"]) == (1 + 3, 1 + 3), jobs
    assert (jobs["bicubic_baseline"], jobs["lpips_network"], jobs["prepare_eval"]) == (1, 1, 1), jobs
    assert (jobs["tables"], jobs["figure_progress"], jobs["ablation"]) == (3, 6, 1), jobs


def test_experiments_with_their_own_srresnets_evaluate_each_once(tmp_path: Path) -> None:
    experiments = {"seed0": None, "seed1": {"seed": 1}, "seed1_mse": {"seed": 1, "gan": {"content": "mse"}}}
    plan = run_snakemake(tmp_path, "-n", "--configfile", str(_tiny_experiments(tmp_path, experiments)))
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = planned_jobs(plan.stdout)
    assert (jobs["pretrain"], jobs["evaluate"], jobs["bicubic_baseline"]) == (2, 2 + 3, 1), jobs


def test_an_ablation_of_experiments_scored_differently_stops_before_any_job(tmp_path: Path) -> None:
    experiments = {"x4": None, "x4_rgb": {"metrics": {"protocol": "report"}}}
    plan = run_snakemake(tmp_path, "-n", "--configfile", str(_tiny_experiments(tmp_path, experiments)))
    assert plan.returncode != 0
    console = plan.stdout + plan.stderr
    assert "the ablation table (results/ablation/) of several experiments compares them" in console
    assert "`metrics` differs between experiments (x4: {'protocol': 'standard'" in console, console[-3000:]
    assert "x4_rgb: {'protocol': 'report'" in console and "`scale` differs" not in console
