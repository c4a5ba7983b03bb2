"""srgan.evaluate: tiled super-resolution, the per-epoch evaluation stage (snapshots scored on
validation sets) and safe generator loading."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from srgan import evaluate, metrics
from srgan.checkpoint import CheckpointError, save_checkpoint
from srgan.evaluate import (generator_predictor, load_generator, load_val_sets, score_snapshots,
                            reconstruct_radius, super_resolve, super_resolve_float, tile_spans,
                            write_progress)
from conftest import trained_bn_generator, write_random_store
from srgan.imresize import imresize
from srgan.models import receptive_radius
from srgan.patches import prepare_eval_set
from srgan.training import run_pretrain

CPU = torch.device("cpu")


# --- tiled super-resolution ---------------------------------------------------------------------


def random_lr(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def test_tile_spans_keep_every_pixel_once_and_read_the_overlap() -> None:
    assert tile_spans(20, tile=8, overlap=3) == [(0, 8, 0, 11), (8, 16, 5, 19), (16, 20, 13, 20)]
    assert tile_spans(5, tile=8, overlap=3) == [(0, 5, 0, 5)]


@pytest.mark.parametrize("upsample", ["pixelshuffle", "nearest"])
def test_tiles_equal_the_whole_image(upsample: str) -> None:
    generator = trained_bn_generator(upsample=upsample)
    lr = random_lr((37, 29))  # neither side a multiple of the tile
    whole = super_resolve_float(generator, lr, device=CPU)
    tiled = super_resolve_float(generator, lr, device=CPU, tile=8)
    assert tiled.shape == whole.shape == (148, 116, 3) and tiled.dtype == np.float32
    assert whole.std() > 1e-3  # not a flat image, where tiling could not go wrong
    # The overlap covers the receptive field: only float summation order differs.
    assert np.abs(tiled - whole).max() <= 1e-5
    whole_u8 = super_resolve(generator, lr, device=CPU)
    tiled_u8 = super_resolve(generator, lr, device=CPU, tile=8)
    assert tiled_u8.dtype == np.uint8
    levels = np.abs(tiled_u8.astype(int) - whole_u8.astype(int))
    assert levels.max() <= 1 and (levels > 0).mean() <= 1e-3  # at most a rounding tie flips


def test_the_overlap_must_cover_the_receptive_field() -> None:
    generator = trained_bn_generator()
    radius = receptive_radius(generator)
    lr = random_lr((37, 29))
    whole = super_resolve_float(generator, lr, device=CPU)
    for overlap in (0, radius // 2):
        tiled = super_resolve_float(generator, lr, device=CPU, tile=8, overlap=overlap)
        assert np.abs(tiled - whole).max() > 1e-3, overlap
    # Sharp at the radius itself, which float32 noise would blur: in float64 the default overlap
    # is exact and one pixel less is not.
    generator = trained_bn_generator(num_blocks=2, channels=8).double()
    radius = receptive_radius(generator)
    whole = super_resolve_float(generator, lr, device=CPU)
    assert np.abs(super_resolve_float(generator, lr, device=CPU, tile=8) - whole).max() <= 1e-9
    short = super_resolve_float(generator, lr, device=CPU, tile=8, overlap=radius - 1)
    assert np.abs(short - whole).max() > 1e-7


def test_the_network_never_sees_more_than_a_tile(monkeypatch) -> None:
    monkeypatch.setattr(evaluate, "RECONSTRUCT_PIECE", 5)
    generator = trained_bn_generator(num_blocks=2, channels=8)
    overlap, halo = receptive_radius(generator), reconstruct_radius(generator)  # 12, 3
    trunk_seen, upsample_seen = [], []
    generator.head.register_forward_pre_hook(lambda m, args: trunk_seen.append(tuple(args[0].shape[-2:])))
    generator.upsample.register_forward_pre_hook(lambda m, args: upsample_seen.append(tuple(args[0].shape[-2:])))
    lr = random_lr((90, 75))  # much larger than a tile with its overlap (8 + 2 * 12 = 32)
    tiled = super_resolve_float(generator, lr, device=CPU, tile=8)
    assert tiled.shape == (360, 300, 3)
    assert len(trunk_seen) == 12 * 10  # ceil(90 / 8) x ceil(75 / 8) tiles
    assert max(max(shape) for shape in trunk_seen) == 8 + 2 * overlap
    # Only a tile's kept 8x8 (or less) is upsampled, in pieces of 5 with their 3-pixel halo.
    assert halo == 3 and max(max(shape) for shape in upsample_seen) == 5 + 2 * halo
    assert len(upsample_seen) == sum(
        math.ceil(min(8, 90 - top) / 5) * math.ceil(min(8, 75 - left) / 5)
        for top in range(0, 90, 8) for left in range(0, 75, 8))
    trunk_seen.clear()
    upsample_seen.clear()
    whole = super_resolve_float(generator, lr, device=CPU)  # tile=0: one whole-image pass
    assert trunk_seen == upsample_seen == [(90, 75)]
    assert np.abs(tiled - whole).max() <= 1e-5


def test_inference_runs_in_eval_mode_and_restores_the_mode() -> None:
    generator = trained_bn_generator(num_blocks=1, channels=8).train()
    stats = generator.trunk[-1].running_mean.clone()
    lr = random_lr((20, 17))
    tiled = super_resolve_float(generator, lr, device=CPU, tile=8)
    assert generator.training and all(m.training for m in generator.modules())
    assert torch.equal(generator.trunk[-1].running_mean, stats)  # BN ran on its running statistics
    assert np.abs(tiled - super_resolve_float(generator.eval(), lr, device=CPU)).max() <= 1e-5


def test_bad_tiling_arguments_are_named() -> None:
    generator = trained_bn_generator(num_blocks=0, channels=8)
    lr = random_lr((10, 10))
    with pytest.raises(ValueError, match=r"tile must be >= 0 LR pixels \(0: the whole image\), got -1"):
        super_resolve(generator, lr, device=CPU, tile=-1)
    with pytest.raises(ValueError, match=r"overlap must be >= 0 LR pixels .*, got -2"):
        super_resolve(generator, lr, device=CPU, tile=4, overlap=-2)
    with pytest.raises(ValueError, match=r"must be a non-empty uint8 HxWx3 array, got float32 \(10, 10, 3\)"):
        super_resolve(generator, lr.astype(np.float32), device=CPU)


def test_generator_predictor_tiles() -> None:
    generator = trained_bn_generator(num_blocks=1, channels=8)
    seen = []
    generator.head.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape[-2:])))
    lr = random_lr((30, 25))
    sr = generator_predictor(generator, CPU, tile=6)(lr)
    assert len(seen) == 5 * 5 and max(max(shape) for shape in seen) == 6 + 2 * receptive_radius(generator)
    assert np.array_equal(sr, super_resolve(generator, lr, device=CPU))


@pytest.fixture
def pretrained(tmp_path: Path) -> Path:
    """A 3-epoch SRResNet run with its snapshots (iterations 6, 12, 18)."""
    store = write_random_store(tmp_path, count=4, shape=(32, 32))
    run_pretrain(store_dir=store, hr_size=16, per_image=6, variant="paper",
                 num_blocks=1, scale=4, epochs=3, batch_size=4, lr=1e-3, lr_schedule="constant",
                 seed=0, device=CPU, resume_dir=tmp_path / "resume", generator_out=tmp_path / "g.pt",
                 train_log_out=tmp_path / "train_log.csv", snapshots_out=tmp_path / "snapshots")
    return tmp_path


@pytest.fixture
def val_sets(tmp_path: Path) -> dict:
    folder = tmp_path / "val_hr"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for name, shape in (("a", (40, 36, 3)), ("b", (32, 28, 3))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{name}.png")
    prepare_eval_set(folder, tmp_path / "val", scale=4)
    return load_val_sets({"val": tmp_path / "val"})


def test_snapshots_are_scored_like_the_generators_they_hold(pretrained: Path, val_sets) -> None:
    train_log = pd.read_csv(pretrained / "train_log.csv")
    history, progress = score_snapshots(pretrained / "snapshots", train_log, val_sets, device=CPU,
                                        scale=4, protocol="standard", crop=16)
    assert list(history["iteration"]) == [6, 12, 18]
    assert list(history.columns) == list(train_log.columns) + ["val_psnr", "val_ssim", "val_lpips"]
    assert history["val_lpips"].isna().all()  # no LPIPS scorer given: n/a, never a made-up value
    final = load_generator(pretrained / "g.pt", device=CPU)
    srs = [super_resolve(final, lr, device=CPU) for _, lr, _ in val_sets["val"]]
    psnr = np.mean([metrics.psnr(sr, hr, scale=4) for sr, (_, _, hr) in zip(srs, val_sets["val"])])
    ssim = np.mean([metrics.ssim(sr, hr, scale=4) for sr, (_, _, hr) in zip(srs, val_sets["val"])])
    assert history["val_psnr"].iloc[-1] == pytest.approx(psnr, abs=1e-9)
    assert history["val_ssim"].iloc[-1] == pytest.approx(ssim, abs=1e-9)
    assert history["val_psnr"].iloc[0] != pytest.approx(psnr, abs=1e-6)  # an earlier generator
    # The progression crop of the last snapshot is the final generator's centre crop of image a.
    top, left, size = progress["box"]
    assert (progress["val_set"], progress["image"], size) == ("val", "a", 16)
    assert np.array_equal(progress["crops"][-1], srs[0][top:top + size, left:left + size])
    assert list(progress["epochs"]) == [1.0, 2.0, 3.0]


def test_snapshots_are_scored_in_tiles(pretrained: Path, val_sets, monkeypatch) -> None:
    tiles = []

    def recording(generator, lr, *, device, tile=0, overlap=None):
        tiles.append(tile)
        return super_resolve(generator, lr, device=device, tile=tile, overlap=overlap)

    train_log = pd.read_csv(pretrained / "train_log.csv")
    whole, whole_progress = score_snapshots(pretrained / "snapshots", train_log, val_sets,
                                            device=CPU, scale=4, protocol="standard", crop=16)
    monkeypatch.setattr(evaluate, "super_resolve", recording)
    tiled, tiled_progress = score_snapshots(pretrained / "snapshots", train_log, val_sets,
                                            device=CPU, scale=4, protocol="standard", crop=16, tile=4)
    assert tiles == [4] * 6  # 3 snapshots x 2 validation images, every one tiled
    pd.testing.assert_frame_equal(tiled, whole, atol=1e-6, rtol=0)
    assert np.abs(tiled_progress["crops"].astype(int) - whole_progress["crops"].astype(int)).max() <= 1


def test_report_protocol_scores_rgb(pretrained: Path, val_sets) -> None:
    train_log = pd.read_csv(pretrained / "train_log.csv")
    standard, _ = score_snapshots(pretrained / "snapshots", train_log, val_sets, device=CPU, scale=4,
                                  protocol="standard")
    report, _ = score_snapshots(pretrained / "snapshots", train_log, val_sets, device=CPU, scale=4,
                                protocol="report")
    final = load_generator(pretrained / "g.pt", device=CPU)
    rgb = np.mean([metrics.psnr(super_resolve(final, lr, device=CPU), hr, scale=4, protocol="report")
                   for _, lr, hr in val_sets["val"]])
    assert report["val_psnr"].iloc[-1] == pytest.approx(rgb, abs=1e-9)
    assert report["val_psnr"].iloc[-1] != pytest.approx(standard["val_psnr"].iloc[-1], abs=1e-3)


def test_missing_snapshots_are_an_error(pretrained: Path, val_sets) -> None:
    (pretrained / "snapshots" / "iter_000000012.pt").unlink()
    with pytest.raises(ValueError, match=r"holds snapshots of iterations \[6, 18\], but the training "
                                         r"log has evaluation points at \[6, 12, 18\]"):
        score_snapshots(pretrained / "snapshots", pd.read_csv(pretrained / "train_log.csv"), val_sets,
                        device=CPU, scale=4, protocol="standard")


def test_without_validation_sets_the_history_is_the_training_log(pretrained: Path, tmp_path: Path) -> None:
    train_log = pd.read_csv(pretrained / "train_log.csv")
    history, progress = score_snapshots(pretrained / "snapshots", train_log, {}, device=CPU, scale=4,
                                        protocol="standard")
    pd.testing.assert_frame_equal(history, train_log)
    write_progress(progress, tmp_path / "progress.npz")
    assert np.load(tmp_path / "progress.npz")["crops"].shape[0] == 0


def test_load_generator_rejects_a_discriminator_and_resume_state(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "d.pt", {"kind": "discriminator", "discriminator": {"w": torch.ones(1)}})
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'd.pt'} is not a generator checkpoint "
                                              f"\\(it holds a discriminator checkpoint\\)"):
        load_generator(tmp_path / "d.pt", device=CPU)
    save_checkpoint(tmp_path / "state.pt", {"kind": "resume", "modules": {}})
    with pytest.raises(CheckpointError, match="holds a resume checkpoint"):
        load_generator(tmp_path / "state.pt", device=CPU)


# --- the rules' evaluation calls ----------------------------------------------------------------


def lpips_status_file(folder: Path, status: dict) -> Path:
    path = folder / "lpips_network.json"
    path.write_text(json.dumps(status))
    return path


UNAVAILABLE = {"available": False, "reason": "AlexNet ImageNet weights unavailable (offline)"}


def no_lpips_load(*args, **kwargs):
    raise AssertionError("LPIPS was loaded although the experiment's status says it is unavailable")


def test_lpips_status_is_written_once_and_read_back(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(evaluate, "load_lpips", lambda **kwargs: (None, f"no weights at {kwargs['weights_path']}"))
    status = evaluate.write_lpips_status(tmp_path / "a.json", weights_path="/w.pth", allow_unavailable=True)
    assert status == {"available": False, "reason": "no weights at /w.pth"}
    assert evaluate.read_lpips_status(tmp_path / "a.json") == status
    monkeypatch.setattr(evaluate, "load_lpips", lambda **kwargs: (torch.nn.Identity(), "torch hub cache"))
    evaluate.write_lpips_status(tmp_path / "b.json", weights_path=None, allow_unavailable=False)
    assert evaluate.read_lpips_status(tmp_path / "b.json") == {
        "available": True, "source": "torch hub cache", "metric": "LPIPS (AlexNet, v0.1, torchmetrics)"}


def test_bicubic_baseline_scores_matlab_bicubic_of_every_image(tmp_path: Path, val_sets, monkeypatch) -> None:
    monkeypatch.setattr(evaluate, "load_lpips", no_lpips_load)
    frame = evaluate.evaluate_bicubic(tmp_path / "val", lpips_status=lpips_status_file(tmp_path, UNAVAILABLE),
                                      lpips_weights=None, scale=4, protocol="standard", round_y=True,
                                      metrics_out=tmp_path / "out" / "metrics.csv",
                                      images_out=tmp_path / "out" / "images")
    written = pd.read_csv(tmp_path / "out" / "metrics.csv").set_index("image")
    assert list(written.index) == ["a", "b", "mean"] and list(frame["image"]) == ["a", "b"]
    for name, lr, hr in val_sets["val"]:
        sr = imresize(lr, 4)
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "images" / f"{name}.png")), sr)
        assert written.loc[name, "psnr"] == pytest.approx(metrics.psnr(sr, hr, scale=4), abs=1e-6)
        assert written.loc[name, "ssim"] == pytest.approx(metrics.ssim(sr, hr, scale=4), abs=1e-6)
    assert written.loc["mean", "psnr"] == pytest.approx(written.loc[["a", "b"], "psnr"].mean(), abs=1e-6)
    assert written["lpips"].isna().all()


def test_evaluation_scores_lpips_where_the_status_says_it_can(tmp_path: Path, val_sets, monkeypatch) -> None:
    borders = []

    def distance(metric, sr, hr, *, border):
        borders.append(border)
        return float(np.abs(sr.astype(float) - hr).mean())

    monkeypatch.setattr(evaluate, "load_lpips", lambda **kwargs: (torch.nn.Identity(), "stand-in"))
    monkeypatch.setattr(evaluate, "lpips_distance", distance)
    status = lpips_status_file(tmp_path, {"available": True, "source": "stand-in"})
    for protocol, border in (("standard", 4), ("report", 0)):
        borders.clear()
        frame = evaluate.evaluate_bicubic(tmp_path / "val", lpips_status=status, lpips_weights=None, scale=4,
                                          protocol=protocol, round_y=True, metrics_out=tmp_path / "m.csv",
                                          images_out=tmp_path / "images")
        expected = [np.abs(imresize(lr, 4).astype(float) - hr).mean() for _, lr, hr in val_sets["val"]]
        assert frame["lpips"].tolist() == pytest.approx(expected) and borders == [border, border]


def test_a_generator_is_evaluated_in_the_tiles_the_run_settings_name(pretrained: Path, val_sets,
                                                                     monkeypatch) -> None:
    tiles = []

    def recording(generator, lr, *, device, tile=0, overlap=None):
        tiles.append((device, tile))
        return super_resolve(generator, lr, device=device, tile=tile, overlap=overlap)

    monkeypatch.setattr(evaluate, "super_resolve", recording)
    monkeypatch.setattr(evaluate, "load_lpips", no_lpips_load)
    out = pretrained / "eval"
    frame = evaluate.evaluate_generator(pretrained / "g.pt", pretrained / "val", device="cpu", tile=4,
                                        lpips_status=lpips_status_file(pretrained, UNAVAILABLE),
                                        lpips_weights=None, scale=4, protocol="report", round_y=True,
                                        metrics_out=out / "metrics.csv", images_out=out / "images")
    assert tiles == [(CPU, 4), (CPU, 4)]
    final = load_generator(pretrained / "g.pt", device=CPU)
    written = pd.read_csv(out / "metrics.csv").set_index("image")
    for name, lr, hr in val_sets["val"]:
        sr = np.asarray(Image.open(out / "images" / f"{name}.png"))
        assert np.abs(sr.astype(int) - super_resolve(final, lr, device=CPU).astype(int)).max() <= 1
        assert written.loc[name, "psnr"] == pytest.approx(metrics.psnr(sr, hr, scale=4, protocol="report"),
                                                          abs=1e-6)
    assert written.loc["mean", "ssim"] == pytest.approx(frame["ssim"].mean(), abs=1e-6)


def test_rule_evaluate_snapshots_writes_the_scored_history_and_the_crops(pretrained: Path, val_sets,
                                                                         monkeypatch) -> None:
    monkeypatch.setattr(evaluate, "load_lpips", no_lpips_load)
    history = evaluate.evaluate_snapshots(
        pretrained / "snapshots", pretrained / "train_log.csv", val_sets=["val"], val_dirs=[pretrained / "val"],
        device="cpu", tile=0, lpips_status=lpips_status_file(pretrained, UNAVAILABLE), lpips_weights=None,
        scale=4, protocol="standard", round_y=True, history_out=pretrained / "history.csv",
        progress_out=pretrained / "progress.npz")
    expected, progress = score_snapshots(pretrained / "snapshots", pd.read_csv(pretrained / "train_log.csv"),
                                         val_sets, device=CPU, scale=4, protocol="standard")
    pd.testing.assert_frame_equal(history, expected)
    written = pd.read_csv(pretrained / "history.csv")
    assert written["val_psnr"].tolist() == pytest.approx(expected["val_psnr"].tolist(), rel=1e-5)
    assert written["val_lpips"].isna().all()
    crops = np.load(pretrained / "progress.npz")
    assert np.array_equal(crops["crops"], progress["crops"]) and str(crops["image"]) == "a"
    with pytest.raises(ValueError, match="zip"):  # a validation set without its folder
        evaluate.evaluate_snapshots(
            pretrained / "snapshots", pretrained / "train_log.csv", val_sets=["val", "other"],
            val_dirs=[pretrained / "val"], device="cpu", tile=0,
            lpips_status=lpips_status_file(pretrained, UNAVAILABLE), lpips_weights=None, scale=4,
            protocol="standard", round_y=True, history_out=pretrained / "h2.csv",
            progress_out=pretrained / "p2.npz")
