"""The library calls behind the rules' scripts that tests/test_tables.py and test_evaluate.py do not
cover: the figures assembled from the pipeline's files (charts, panels), and the data and training
stages' entry points, which unpack the config sections that the rules pass."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from srgan import charts, metrics, panels, training
from srgan.datasets import prepare_dataset_from_spec
from srgan.evaluate import write_metrics_csv, write_progress
from srgan.imresize import imresize, modcrop
from srgan.io import save_png
from srgan.patches import ImageStore, prepare_eval_set, prepare_train_store

DPI = 100


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def saved(monkeypatch) -> dict[str, plt.Figure]:
    """{file name: Figure} of every figure charts.save_figure would have written."""
    figures = {}
    monkeypatch.setattr(charts, "save_figure", lambda fig, path, **kwargs: figures.__setitem__(Path(path).name, fig))
    return figures


def metrics_csv(path: Path, images: list[str], psnr: list[float], ssim: list[float],
                lpips: list[float] | None = None) -> Path:
    write_metrics_csv(pd.DataFrame({"image": images, "psnr": psnr, "ssim": ssim,
                                    "lpips": lpips or [np.nan] * len(images)}), path)
    return path


def random_image(shape: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


# --- figure_curves -------------------------------------------------------------------------------


def history_csv(path: Path, stage: str, epochs: int) -> Path:
    k = np.arange(1, epochs + 1, dtype=float)
    frame = {"epoch": k, "iteration": 10 * k, "val_psnr": 20 + k, "val_ssim": 0.5 + k / 100}
    if stage == "srresnet":
        frame["mse"] = 0.01 / k
    else:
        frame |= {"content_loss": 0.02 / k, "adversarial_loss": 2 + k, "d_loss": 1 / k,
                  "d_real": 0.6 + 0 * k, "d_fake": 0.3 + 0 * k, "g_loss": 0.02 / k + 1e-3 * (2 + k)}
    pd.DataFrame(frame).to_csv(path, index=False)
    return path


def test_training_figures_draw_each_history_and_the_bicubic_means(tmp_path: Path, saved) -> None:
    histories = [history_csv(tmp_path / "r.csv", "srresnet", 3), history_csv(tmp_path / "g.csv", "srgan", 2)]
    bicubic = metrics_csv(tmp_path / "b.csv", ["x", "y"], [21.0, 22.0], [0.60, 0.64])
    charts.plot_training_figures(histories, stages=["srresnet", "srgan"], val_sets=["val"],
                                 bicubic_csvs=[bicubic], bicubic_sets=["val"], protocol="standard", dpi=DPI,
                                 curves_out=tmp_path / "curves.png", losses_out=tmp_path / "losses.png",
                                 discriminator_out=tmp_path / "discriminator.png")
    assert sorted(saved) == ["curves.png", "discriminator.png", "losses.png"]
    psnr, ssim = saved["curves.png"].axes
    lines = {line.get_label(): line for line in psnr.get_lines()}
    # SRGAN's epochs continue SRResNet's: each history is its stage's, in training order.
    assert list(lines["SRResNet (MSE), val"].get_xdata()) == [1, 2, 3]
    assert list(lines["SRGAN, val"].get_xdata()) == [4, 5]
    assert list(lines["SRResNet (MSE), val"].get_ydata()) == [21, 22, 23]
    # The bicubic line is the mean row of its metrics CSV: PSNR on the left, SSIM on the right.
    assert list(lines["bicubic, val"].get_ydata()) == pytest.approx([21.5, 21.5])
    ssim_line = next(line for line in ssim.get_lines() if line.get_label() == "bicubic, val")
    assert list(ssim_line.get_ydata()) == pytest.approx([0.62, 0.62])
    assert "standard protocol" in psnr.get_title()


def test_training_figures_need_one_history_per_stage(tmp_path: Path, saved) -> None:
    with pytest.raises(ValueError, match="zip"):
        charts.plot_training_figures([history_csv(tmp_path / "r.csv", "srresnet", 2)],
                                     stages=["srresnet", "srgan"], val_sets=["val"], bicubic_csvs=[],
                                     bicubic_sets=[], protocol="standard", dpi=DPI, curves_out=tmp_path / "c.png",
                                     losses_out=tmp_path / "l.png", discriminator_out=tmp_path / "d.png")


# --- figure_perception ---------------------------------------------------------------------------


def perception_files(tmp_path: Path, lpips: bool, status: dict) -> dict:
    values = [0.3, 0.2, 0.1] if lpips else [None] * 3
    csvs = [metrics_csv(tmp_path / f"{k}.csv", ["x", "y"], [20.0 + k, 22.0 + k], [0.5, 0.6],
                        None if value is None else [value, value + 0.02])
            for k, value in enumerate(values)]
    history = tmp_path / "srgan.csv"
    pd.DataFrame({"epoch": [1.0, 2.0], "val_psnr": [20.5, 21.5],
                  "val_lpips": [0.2, 0.15] if lpips else [np.nan, np.nan]}).to_csv(history, index=False)
    (tmp_path / "lpips.json").write_text(json.dumps(status))
    return {"metrics_csvs": csvs, "methods": ["Bicubic", "SRResNet", "SRGAN"], "history_csv": history,
            "lpips_status": tmp_path / "lpips.json", "test_set": "val", "out": tmp_path / "p.png", "dpi": DPI}


def test_perception_figure_places_each_method_at_its_mean_psnr_and_lpips(tmp_path: Path, saved) -> None:
    charts.plot_perception_from_files(**perception_files(tmp_path, True, {"available": True, "source": "x"}))
    ax = saved["p.png"].axes[0]
    points = {c.get_label(): tuple(c.get_offsets()[0]) for c in ax.collections if c.get_label() in
              ("Bicubic", "SRResNet", "SRGAN")}
    assert points == {"Bicubic": pytest.approx((21.0, 0.31)), "SRResNet": pytest.approx((22.0, 0.21)),
                      "SRGAN": pytest.approx((23.0, 0.11))}
    assert "LPIPS (AlexNet" in ax.get_ylabel() and "val" in ax.get_title()


def test_perception_figure_says_why_lpips_is_missing(tmp_path: Path, saved) -> None:
    reason = "AlexNet ImageNet weights unavailable (offline)"
    charts.plot_perception_from_files(**perception_files(tmp_path, False, {"available": False, "reason": reason}))
    ax = saved["p.png"].axes[0]
    assert f"LPIPS unavailable: {reason}" in [t.get_text() for t in ax.texts]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["SRGAN", "SRResNet", "Bicubic"]


# --- figure_comparison ---------------------------------------------------------------------------


@pytest.fixture
def evaluated(tmp_path: Path) -> dict:
    """A prepared test set of two images and, for each method, its SR images and metrics CSV (each
    image with its own PSNR/SSIM, unlike the mean)."""
    hr_dir = tmp_path / "hr"
    for k, name in enumerate(("0801", "0802")):  # DIV2K-style numeric names stay strings
        save_png(hr_dir / f"{name}.png", random_image((40, 44), k))
    prepare_eval_set(hr_dir, tmp_path / "data", scale=4)
    methods = ["bicubic", "srresnet", "srgan"]
    image_dirs, csvs = [], []
    for k, method in enumerate(methods):
        image_dirs.append(tmp_path / method / "images")
        for name in ("0801", "0802"):
            save_png(image_dirs[-1] / f"{name}.png", random_image((40, 44), 10 + k))
        csvs.append(metrics_csv(tmp_path / method / "metrics.csv", ["0801", "0802"], [20.0 + k, 30.0],
                                [0.5 + k / 10, 0.9]))
    return {"data": tmp_path / "data", "methods": methods, "image_dirs": image_dirs, "csvs": csvs}


def test_comparison_panels_show_the_first_image_with_its_own_scores(evaluated: dict) -> None:
    image, shown = panels.comparison_panels(evaluated["data"], evaluated["methods"], evaluated["image_dirs"],
                                            evaluated["csvs"], scale=4)
    assert image == "0801"
    assert [label for label, *_ in shown] == ["LR (x4 nearest)", "Bicubic", "SRResNet", "SRGAN", "HR"]
    lr = np.asarray(Image.open(evaluated["data"] / "LR" / "0801.png"))
    assert np.array_equal(shown[0][1], panels.nearest_upscale(lr, 4)) and shown[0][2:] == (None, None)
    for k, (label, picture, psnr, ssim) in enumerate(shown[1:4]):
        assert np.array_equal(picture, np.asarray(Image.open(evaluated["image_dirs"][k] / "0801.png")))
        assert (psnr, ssim) == pytest.approx((20.0 + k, 0.5 + k / 10)), label  # 0801's row, not the mean
    assert np.array_equal(shown[4][1], np.asarray(Image.open(evaluated["data"] / "HR" / "0801.png")))


@pytest.mark.parametrize("methods, inset_from", [(["bicubic", "srresnet", "srgan"], (2, 3)),
                                                 (["srgan", "bicubic", "srresnet"], (3, 1))])
def test_the_comparison_inset_is_where_srresnet_and_srgan_differ(evaluated: dict, monkeypatch, tmp_path: Path,
                                                                 methods: list[str], inset_from) -> None:
    calls = []
    monkeypatch.setattr(panels, "plot_comparison", lambda shown, **kwargs: calls.append((shown, kwargs)))
    order = [evaluated["methods"].index(m) for m in methods]
    panels.plot_comparison_from_files(evaluated["data"], [evaluated["image_dirs"][k] for k in order],
                                      [evaluated["csvs"][k] for k in order], methods=methods, dataset="Set5",
                                      scale=4, protocol="standard", crop=32, inset_size=8, dpi=DPI,
                                      out=tmp_path / "c.png")
    (shown, kwargs), = calls
    assert kwargs["inset_from"] == inset_from
    assert [shown[i][0] for i in inset_from] == ["SRResNet", "SRGAN"]
    assert kwargs["title"] == "Set5/0801, x4 (standard protocol)"
    assert (kwargs["crop"], kwargs["inset_size"], kwargs["dpi"]) == (32, 8, DPI)


def test_the_comparison_figure_is_written(evaluated: dict, tmp_path: Path) -> None:
    out = tmp_path / "comparison.png"
    panels.plot_comparison_from_files(evaluated["data"], evaluated["image_dirs"], evaluated["csvs"],
                                      methods=evaluated["methods"], dataset="Set5", scale=4,
                                      protocol="standard", crop=32, inset_size=8, dpi=DPI, out=out)
    with Image.open(out) as image:
        assert image.size[0] > 5 * 32  # five panels side by side


# --- figure_progress -----------------------------------------------------------------------------


@pytest.fixture
def progress(tmp_path: Path) -> dict:
    """A prepared validation set and the progression crops of three snapshots (epochs 1, 2, 3)."""
    hr = random_image((48, 52), 0)
    save_png(tmp_path / "hr" / "a.png", hr)
    prepare_eval_set(tmp_path / "hr", tmp_path / "data", scale=4)
    box = (12, 14, 24)
    window = hr[12:36, 14:38]
    crops = np.stack([np.clip(window.astype(int) + noise, 0, 255).astype(np.uint8)
                      for noise in (40, 20, 5)])
    write_progress({"val_set": "val", "image": "a", "box": box, "epochs": np.array([1.0, 2.0, 3.0]),
                    "iterations": np.array([4, 8, 12]), "crops": crops}, tmp_path / "progress.npz")
    return {"npz": tmp_path / "progress.npz", "data": tmp_path / "data", "window": window, "crops": crops}


def test_progress_snapshots_score_each_crop_against_the_same_hr_crop(progress: dict) -> None:
    hr, crops, image = panels.load_progress(progress["npz"], progress["data"])
    assert image == "val/a" and np.array_equal(hr, progress["window"])
    assert sorted(crops) == [1.0, 2.0, 3.0] and np.array_equal(crops[2.0], progress["crops"][1])
    snapshots = panels.progress_snapshots(hr, crops, [1, -1, 7], scale=4, protocol="standard", round_y=True)
    assert [epoch for epoch, *_ in snapshots] == [1.0, 3.0]  # -1 is the last; 7 has no snapshot
    for (epoch, sr, psnr, ssim), k in zip(snapshots, (0, 2)):
        assert np.array_equal(sr, progress["crops"][k])
        assert psnr == pytest.approx(metrics.psnr(progress["crops"][k], progress["window"], scale=4))
        assert ssim == pytest.approx(metrics.ssim(progress["crops"][k], progress["window"], scale=4))
    assert snapshots[0][2] < snapshots[1][2]  # less noise, higher PSNR


def test_the_progress_figure_names_the_stage_the_image_and_the_crop(progress: dict, monkeypatch,
                                                                    tmp_path: Path) -> None:
    calls = []
    monkeypatch.setattr(panels, "plot_progress", lambda hr, snapshots, **kwargs: calls.append((hr, snapshots, kwargs)))
    panels.plot_progress_from_file(progress["npz"], progress["data"], stage="srgan", epochs=[2], scale=4,
                                   protocol="report", round_y=True, dpi=DPI, out=tmp_path / "p.png")
    (hr, snapshots, kwargs), = calls
    assert np.array_equal(hr, progress["window"]) and [s[0] for s in snapshots] == [2.0]
    assert snapshots[0][2] == pytest.approx(metrics.psnr(progress["crops"][1], hr, scale=4, protocol="report"))
    assert kwargs["title"] == ("SRGAN by epoch: val/a, centre 24x24 crop (PSNR/SSIM of the crop, "
                               "report protocol)")


# --- prepare_dataset, prepare_train --------------------------------------------------------------


def test_a_dataset_is_prepared_from_its_config_entry(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    images = {"b": random_image((20, 24), 1), "a": random_image((16, 16), 2)}
    for name, image in images.items():
        save_png(photos / f"{name}.png", image)
    spec = {"source": "folder", "images": [], "path": str(photos), "name": ""}  # the schema's defaults
    count = prepare_dataset_from_spec(spec, out_dir=tmp_path / "HR", manifest=tmp_path / "MANIFEST.tsv",
                                      download_dir=tmp_path / "downloads", max_pixels=1000)
    assert count == 2 and sorted(p.name for p in (tmp_path / "HR").iterdir()) == ["a.png", "b.png"]
    for name, image in images.items():
        assert np.array_equal(np.asarray(Image.open(tmp_path / "HR" / f"{name}.png")), image)
    assert "a.png" in (tmp_path / "MANIFEST.tsv").read_text()
    with pytest.raises(ValueError, match="more than the limit of 400"):  # max_pixels reaches the images
        prepare_dataset_from_spec(spec, out_dir=tmp_path / "HR2", manifest=tmp_path / "M2.tsv",
                                  download_dir=tmp_path / "downloads", max_pixels=400)
    skimage = {"source": "skimage", "images": ["camera"], "path": "", "name": ""}
    assert prepare_dataset_from_spec(skimage, out_dir=tmp_path / "S", manifest=tmp_path / "S.tsv",
                                     download_dir=tmp_path / "downloads", max_pixels=None) == 1
    assert (tmp_path / "S" / "camera.png").is_file()


def test_the_training_store_holds_a_folders_images_in_name_order(tmp_path: Path) -> None:
    images = {"b": random_image((21, 26), 1), "a": random_image((18, 17), 2)}
    for name, image in images.items():
        save_png(tmp_path / "hr" / f"{name}.png", image)
    assert prepare_train_store(tmp_path / "hr", tmp_path / "store", scale=4) == 2
    store = ImageStore(tmp_path / "store")
    assert [entry["name"] for entry in store.images] == ["a", "b"] and store.scale == 4
    for k, name in enumerate(("a", "b")):
        hr = modcrop(images[name], 4)
        assert np.array_equal(store.hr_image(k), hr)
        assert np.array_equal(store.lr_image(k), imresize(hr, 1 / 4))


# --- pretrain, train_gan -------------------------------------------------------------------------

RUN = {"threads": 3, "device": "cpu", "compile": True, "cuda_graphs": True, "checkpoint_every": 7, "tile": 64,
       "max_image_pixels": 1000}
PATCHES = {"hr_size": 40, "per_image": 5, "sampling": "fixed", "augment": True}


def capture(monkeypatch, name: str) -> dict:
    """Replace training.<name> by a stand-in that records its arguments, after checking that the
    real function would take them and that none of its parameters is left to a default."""
    real, captured = getattr(training, name), {}

    def stand_in(**kwargs):
        inspect.signature(real).bind(**kwargs)
        assert set(kwargs) == set(inspect.signature(real).parameters), \
            sorted(set(inspect.signature(real).parameters) - set(kwargs))
        captured.update(kwargs)
        return []

    monkeypatch.setattr(training, name, stand_in)
    return captured


def test_pretraining_gets_each_config_key_where_it_belongs(monkeypatch, tmp_path: Path) -> None:
    captured = capture(monkeypatch, "run_pretrain")
    training.pretrain_from_config(
        tmp_path / "store", patches=PATCHES, model={"variant": "report", "num_blocks": 6},
        train={"epochs": 11, "iterations": 123, "eval_every": 17, "batch_size": 9, "lr": 3e-4,
               "lr_schedule": "cosine"},
        scale=2, seed=13, precision="bf16", run=RUN, resume_dir=tmp_path / "resume",
        generator_out=tmp_path / "g.pt", train_log_out=tmp_path / "log.csv", snapshots_out=tmp_path / "snaps")
    assert captured == {
        "store_dir": tmp_path / "store", "hr_size": 40, "per_image": 5, "sampling": "fixed", "augment": True,
        "variant": "report", "num_blocks": 6, "scale": 2, "epochs": 11, "iterations": 123, "eval_every": 17,
        "batch_size": 9, "lr": 3e-4, "lr_schedule": "cosine", "seed": 13, "precision": "bf16",
        "device": torch.device("cpu"), "compile": True, "cuda_graphs": True, "checkpoint_every": 7, "resume_dir": tmp_path / "resume",
        "generator_out": tmp_path / "g.pt", "train_log_out": tmp_path / "log.csv",
        "snapshots_out": tmp_path / "snaps"}


def test_gan_training_gets_each_config_key_where_it_belongs(monkeypatch, tmp_path: Path) -> None:
    captured = capture(monkeypatch, "run_gan")
    training.gan_from_config(
        tmp_path / "srresnet.pt", tmp_path / "store",
        gan={"epochs": 2, "iterations": 321, "eval_every": 19, "lr_step_iterations": 150, "batch_size": 8,
             "lr": 2e-5, "lr_step_epochs": 1, "content": "vgg", "vgg_layer": "block2_conv2",
             "adversarial_weight": 5e-3},
        vgg={"weights_path": "/vgg.pth", "allow_random_fallback": True}, patches=PATCHES, seed=21,
        precision="auto", run=RUN, resume_dir=tmp_path / "resume", generator_out=tmp_path / "g.pt",
        discriminator_out=tmp_path / "d.pt", content_network_out=tmp_path / "c.json",
        train_log_out=tmp_path / "log.csv", snapshots_out=tmp_path / "snaps")
    assert captured == {
        "generator_checkpoint": tmp_path / "srresnet.pt", "store_dir": tmp_path / "store", "hr_size": 40,
        "per_image": 5, "sampling": "fixed", "augment": True, "epochs": 2, "iterations": 321,
        "eval_every": 19, "lr_step_iterations": 150, "batch_size": 8, "lr": 2e-5, "lr_step_epochs": 1,
        "content": "vgg", "vgg_layer": "block2_conv2", "adversarial_weight": 5e-3,
        "vgg_weights_path": "/vgg.pth", "allow_random_fallback": True, "seed": 21, "precision": "auto",
        "device": torch.device("cpu"), "compile": True, "cuda_graphs": True, "checkpoint_every": 7, "resume_dir": tmp_path / "resume",
        "generator_out": tmp_path / "g.pt", "discriminator_out": tmp_path / "d.pt",
        "content_network_out": tmp_path / "c.json", "train_log_out": tmp_path / "log.csv",
        "snapshots_out": tmp_path / "snaps"}
