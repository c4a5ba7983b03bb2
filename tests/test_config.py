"""Plan-time checks of a whole config (srgan.config): each names the key, the value and what is
allowed, before any job runs."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import REPO
from srgan import config as checks
from srgan.models import VGG19_LAYERS

TINY = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())


def tiny(**edits) -> dict:
    """The tiny test config as validation leaves it (defaults filled), with nested edits."""
    cfg = copy.deepcopy(TINY)
    cfg.setdefault("plots", {}).setdefault("progress_epochs", [1, -1])
    cfg.setdefault("upscale", {"folder": None, "format": None, "quality": 95})
    for section in ("pretrain", "gan"):
        cfg[section] = {"iterations": None, "eval_every": None, "lr_step_epochs": None,
                        "lr_step_iterations": None, **cfg[section]}
    for key, value in edits.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


def problems_of(cfg: dict) -> str:
    with pytest.raises(checks.ConfigError) as error:
        checks.check_experiments({"tiny": cfg})
    return str(error.value)


def test_the_tiny_config_has_no_problem() -> None:
    checks.check_experiments({"tiny": tiny()})


def test_vgg_layer_list_is_the_models_own() -> None:
    assert checks.VGG19_LAYERS == list(VGG19_LAYERS)


def test_a_vgg_layer_that_vgg19_lacks_is_named() -> None:
    message = problems_of(tiny(gan={"vgg_layer": "block1_conv4"}))
    assert "gan.vgg_layer = 'block1_conv4'" in message and "block5_conv4" in message
    # The MSE content loss reads no VGG layer, so the same value is no problem there.
    checks.check_experiments({"tiny": tiny(gan={"vgg_layer": "block1_conv4", "content": "mse"})})


def test_a_misspelled_skimage_name_is_named() -> None:
    cfg = tiny(datasets={**TINY["datasets"], "tiny_train": {"source": "skimage",
                                                            "images": ["chelsea", "camerra"]}})
    message = problems_of(cfg)
    assert "datasets.tiny_train.images names ['camerra']" in message and "'camera'" in message


def test_skimage_names_are_photographs_only() -> None:
    names = checks.skimage_image_names()
    assert {"astronaut", "camera", "chelsea", "coffee"} <= names
    assert not names & {"data_dir", "download_all", "stereo_motorcycle", "lfw_subset"}


@pytest.mark.parametrize("make", ["missing", "empty", "text only"])
def test_a_folder_without_images_is_named(tmp_path: Path, make: str) -> None:
    folder = tmp_path / "photos"
    if make != "missing":
        folder.mkdir()
    if make == "text only":
        (folder / "README.txt").write_text("not an image")
    cfg = tiny(datasets={**TINY["datasets"], "tiny_train": {"source": "folder", "path": str(folder)}})
    message = problems_of(cfg)
    expected = "no such folder" if make == "missing" else "holds no images"
    assert f"datasets.tiny_train.path = {str(folder)!r}: " in message and expected in message


def test_an_upscale_folder_that_is_missing_or_holds_no_photo_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "my photos"
    assert f"upscale.folder = {str(missing)!r}: no such folder" in problems_of(tiny(upscale={"folder": str(missing)}))
    (missing / "sub").mkdir(parents=True)
    (missing / "sub" / "notes.txt").write_text("no photo")
    assert f"upscale.folder = {str(missing)!r} holds no images" in problems_of(tiny(upscale={"folder": str(missing)}))
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(missing / "sub" / "a.webp")  # found recursively
    checks.check_experiments({"tiny": tiny(upscale={"folder": str(missing)})})


def test_an_unknown_registry_name_is_named() -> None:
    cfg = tiny(datasets={**TINY["datasets"], "tiny_test": {"source": "registry", "name": "Set15"}})
    assert "datasets.tiny_test.name = 'Set15' is not in the registry" in problems_of(cfg)


def test_a_batch_larger_than_the_crops_of_an_epoch_is_named() -> None:
    # 2 images x 8 crops = 16 crops per epoch.
    checks.check_experiments({"tiny": tiny(gan={"batch_size": 16})})
    message = problems_of(tiny(gan={"batch_size": 17}))
    assert "gan.batch_size = 17 is more than the 16 training crops" in message
    assert "pretrain.batch_size" not in message


def test_folder_images_smaller_than_the_crop_do_not_count(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, side in (("big", 40), ("small", 20)):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    assert checks.folder_images(str(folder), min_side=32) == (2, 1)
    cfg = tiny(datasets={**TINY["datasets"], "tiny_train": {"source": "folder", "path": str(folder)}},
               pretrain={"batch_size": 9})  # 1 usable image x 8 crops
    assert "pretrain.batch_size = 9 is more than the 8 training crops" in problems_of(cfg)


@pytest.mark.parametrize(("scale", "hr_size", "ok"), [(8, 16, False), (4, 16, False), (4, 32, True),
                                                       (8, 64, True), (2, 16, True)])
def test_lr_crops_must_be_large_enough_for_the_generator(scale: int, hr_size: int, ok: bool) -> None:
    cfg = tiny(scale=scale, patches={"hr_size": hr_size})
    if ok:
        checks.check_experiments({"tiny": cfg})
    else:
        message = problems_of(cfg)
        assert f"{hr_size // scale}-pixel LR crops" in message and f"hr_size >= {8 * scale}" in message


def test_progress_epochs_beyond_the_training_are_named() -> None:
    checks.check_experiments({"tiny": tiny(plots={"progress_epochs": [1, 2, -2]})})
    message = problems_of(tiny(plots={"progress_epochs": [1, 3, 0]}))
    assert "plots.progress_epochs = [1, 3, 0]: [3, 0] fall outside" in message and "1..2" in message


def test_progress_epochs_follow_iterations_when_they_set_the_length() -> None:
    # 16 crops / batch 4 = 4 iterations per epoch: 12 iterations are 3 epochs.
    checks.check_experiments({"tiny": tiny(pretrain={"iterations": 12}, plots={"progress_epochs": [3]})})
    assert "[4] fall outside" in problems_of(tiny(pretrain={"iterations": 12},
                                                  plots={"progress_epochs": [4]}))


def test_an_lr_step_that_never_comes_is_named() -> None:
    assert "gan.lr_step_epochs = 2 is not below gan.epochs = 2" in problems_of(tiny(gan={"lr_step_epochs": 2}))
    message = problems_of(tiny(gan={"iterations": 10, "lr_step_iterations": 10}))
    assert "gan.lr_step_iterations = 10 is not below the stage's 10 iterations" in message


def test_every_problem_is_listed_at_once() -> None:
    message = problems_of(tiny(gan={"vgg_layer": "block1_conv4", "batch_size": 99},
                               test_sets=["nope"]))
    assert message.count("\n  - ") == 3, message


@pytest.mark.parametrize(("text", "where"), [
    ("a: 1\nb: [1, 2\nc: 3\n", ":3:2"),  # found on line 3; the message says where it started
    ("a: 1\n\tb: 2\n", ":2:1"),
    ("datasets:\n  x: {source: skimage\n", ":3:1"),
])
def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(checks.ConfigError, match="YAML syntax error") as error:
        checks.load_yaml(path)
    assert str(error.value).startswith(f"{path}{where}"), error.value


def test_an_unclosed_bracket_names_the_line_it_opens_on(tmp_path: Path) -> None:
    path = tmp_path / "my.yaml"
    path.write_text("a: 1\nb: [1, 2\nc: 3\nd: 4\n")
    with pytest.raises(checks.ConfigError, match="starts at line 2, column 4"):
        checks.load_yaml(path)


def test_a_yaml_that_is_no_mapping_is_named(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(checks.ConfigError, match="mapping of keys, got a YAML list"):
        checks.load_yaml(path)


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_the_weight_files_are_torchvisions_own() -> None:
    # Spelled out to keep torch out of planning; they must be the files torchvision caches.
    from torchvision.models import AlexNet_Weights, VGG19_Weights

    from srgan import perceptual

    assert checks.WEIGHTS["vgg"][0] == VGG19_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
    assert checks.WEIGHTS["lpips"][0] == AlexNet_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
    assert checks.WEIGHTS["lpips"][0] == perceptual.ALEXNET_FILE


def test_the_hub_dir_is_torchs_own(tmp_path: Path, monkeypatch) -> None:
    import torch

    for env in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, {}):
        for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert checks.torch_hub_dir() == Path(torch.hub.get_dir())


def test_missing_weights_stop_the_plan_unless_the_config_allows_running_without(empty_hub: Path) -> None:
    strict = tiny(vgg={"weights_path": None, "allow_random_fallback": False},
                  lpips={"weights_path": None, "allow_unavailable": False})
    message = problems_of(strict)
    assert "VGG19 (the SRGAN content loss) ImageNet weights are not in the torch hub cache" in message
    assert "AlexNet (LPIPS) ImageNet weights are not in the torch hub cache" in message
    assert "srgan fetch-weights" in message and "vgg.weights_path" in message and "lpips.weights_path" in message
    checks.check_experiments({"tiny": tiny()})  # the tiny config allows both
    # Cached by an earlier download: found, as torchvision would find them.
    empty_hub.mkdir(parents=True)
    for filename, _, _ in checks.WEIGHTS.values():
        (empty_hub / filename).write_bytes(b"weights")
    checks.check_experiments({"tiny": strict})


def test_a_weights_path_that_does_not_exist_is_named_even_with_a_fallback(empty_hub: Path, tmp_path: Path) -> None:
    cfg = tiny(vgg={"weights_path": str(tmp_path / "vgg.pth"), "allow_random_fallback": True})
    assert f"vgg.weights_path = {str(tmp_path / 'vgg.pth')!r}: no such file" in problems_of(cfg)
    (tmp_path / "vgg.pth").write_bytes(b"weights")
    checks.check_experiments({"tiny": cfg})


def test_an_mse_content_loss_needs_no_vgg_weights(empty_hub: Path) -> None:
    cfg = tiny(gan={"content": "mse"}, vgg={"weights_path": None, "allow_random_fallback": False})
    checks.check_experiments({"tiny": cfg})
