"""``srgan upscale``: tiled inference equals whole-image inference, and the CLI writes the PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import CreatesAFile
from srgan.checkpoint import save_checkpoint
from srgan.cli import main
from srgan.evaluate import super_resolve
from srgan.io import load_rgb
from srgan.models import SRResNet, receptive_radius


@pytest.fixture
def checkpoint(tmp_path: Path) -> tuple[Path, SRResNet]:
    """A 2-block generator checkpoint with non-trivial BN running statistics, and that generator."""
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=2, channels=16)
    with torch.no_grad():
        for _ in range(3):  # train-mode forwards move the BN running statistics off the identity
            generator(torch.rand(2, 3, 12, 12))
    save_checkpoint(tmp_path / "g.pt", {"kind": "generator", "generator": generator.state_dict(),
                                        "model_args": {"num_blocks": 2, "channels": 16,
                                                       "upsample": "pixelshuffle", "scale": 4}})
    return tmp_path / "g.pt", generator.eval()


def upscale(tmp_path: Path, lr: np.ndarray, checkpoint: Path, *flags: str) -> np.ndarray:
    Image.fromarray(lr).save(tmp_path / "in.png")
    assert main(["upscale", str(tmp_path / "in.png"), str(tmp_path / "out.png"),
                 "--checkpoint", str(checkpoint), "--device", "cpu", *flags]) == 0
    return load_rgb(tmp_path / "out.png")


def test_cli_tiles_equal_whole_image_inference(tmp_path: Path, checkpoint, capsys) -> None:
    path, generator = checkpoint
    lr = np.random.default_rng(0).integers(0, 256, (37, 45, 3), dtype=np.uint8)
    whole = super_resolve(generator, lr, device=torch.device("cpu"))  # tile=0
    tiled = upscale(tmp_path, lr, path, "--tile", "8")
    assert tiled.shape == whole.shape == (148, 180, 3)
    # The default overlap is the receptive radius: only float summation order can differ, which
    # flips at most a rounding tie.
    levels = np.abs(tiled.astype(int) - whole.astype(int))
    assert levels.max() <= 1 and (levels > 0).mean() <= 1e-3
    assert f"tile 8, overlap {receptive_radius(generator)}" in capsys.readouterr().err
    assert np.array_equal(upscale(tmp_path, lr, path, "--tile", "0"), whole)
    # --overlap reaches the tiler: without any, tile seams differ from the whole image.
    seams = upscale(tmp_path, lr, path, "--tile", "8", "--overlap", "0")
    assert np.abs(seams.astype(int) - whole.astype(int)).max() > 1


@pytest.mark.parametrize("flag, message", [("--tile", "--tile must be >= 0 (0: whole image), got -1"),
                                           ("--overlap", "--overlap must be >= 0, got -1")])
def test_cli_rejects_negative_tiling(tmp_path: Path, checkpoint, capsys, flag, message) -> None:
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    with pytest.raises(SystemExit) as raised:
        main(["upscale", str(tmp_path / "in.png"), str(tmp_path / "out.png"),
              "--checkpoint", str(checkpoint[0]), "--device", "cpu", flag, "-1"])
    assert raised.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_cli_upscales_with_a_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=1)
    save_checkpoint(tmp_path / "g.pt", {"kind": "generator", "generator": generator.state_dict(),
                                        "model_args": {"num_blocks": 1, "upsample": "pixelshuffle", "scale": 4}})
    Image.fromarray(np.zeros((10, 12), dtype=np.uint8)).save(tmp_path / "in.png")  # grayscale in
    assert main(["upscale", str(tmp_path / "in.png"), str(tmp_path / "out.png"),
                 "--checkpoint", str(tmp_path / "g.pt"), "--device", "cpu", "--tile", "4"]) == 0
    with Image.open(tmp_path / "out.png") as image:
        assert image.size == (48, 40) and image.mode == "RGB"
    with pytest.raises(SystemExit):
        main(["upscale", "a.png", "b.png", "--checkpoint", str(tmp_path / "missing.pt")])


def test_a_crafted_checkpoint_runs_nothing(tmp_path: Path, capsys) -> None:
    witness = tmp_path / "pwned"
    torch.save({"kind": "generator", "model_args": CreatesAFile(witness), "generator": {}},
               tmp_path / "evil.pt")
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    with pytest.raises(SystemExit) as raised:
        main(["upscale", str(tmp_path / "in.png"), str(tmp_path / "out.png"),
              "--checkpoint", str(tmp_path / "evil.pt"), "--device", "cpu"])
    assert raised.value.code == 2
    assert f"refused to load checkpoint {tmp_path / 'evil.pt'}" in capsys.readouterr().err
    assert not witness.exists() and not (tmp_path / "out.png").exists()


def test_a_discriminator_is_not_a_generator(tmp_path: Path, capsys) -> None:
    from srgan.models import Discriminator
    save_checkpoint(tmp_path / "d.pt", {"kind": "discriminator", "input_size": 16,
                                        "discriminator": Discriminator(input_size=16).state_dict()})
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    with pytest.raises(SystemExit):
        main(["upscale", str(tmp_path / "in.png"), str(tmp_path / "out.png"),
              "--checkpoint", str(tmp_path / "d.pt"), "--device", "cpu"])
    assert "is not a generator checkpoint (it holds a discriminator checkpoint)" in capsys.readouterr().err


def test_a_missing_input_is_named(tmp_path: Path, capsys) -> None:
    save_checkpoint(tmp_path / "g.pt", {"kind": "generator", "generator": SRResNet(num_blocks=1).state_dict(),
                                        "model_args": {"num_blocks": 1, "upsample": "pixelshuffle", "scale": 4}})
    with pytest.raises(SystemExit):
        main(["upscale", str(tmp_path / "nope.png"), str(tmp_path / "out.png"),
              "--checkpoint", str(tmp_path / "g.pt"), "--device", "cpu"])
    assert f"cannot read image {tmp_path / 'nope.png'}" in capsys.readouterr().err


def test_check_config_names_the_line_of_a_yaml_error(tmp_path: Path, capsys) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("scale: 4\n")
    bad.write_text("scale: 4\ngan: {lr: 1e-4\npatches: {}\n")
    assert main(["check-config", str(good), str(bad)]) == 1
    out = capsys.readouterr()
    assert f"{good}: YAML OK" in out.out
    assert f"{bad}:3:" in out.err and "starts at line 2, column 6" in out.err
    assert main(["check-config", str(good)]) == 0


def test_fetch_weights_caches_both_files_through_torchvision(tmp_path: Path, monkeypatch) -> None:
    import torch
    from torchvision.models import AlexNet_Weights, VGG19_Weights

    fetched = []
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    for weights in (VGG19_Weights.IMAGENET1K_V1, AlexNet_Weights.IMAGENET1K_V1):
        monkeypatch.setattr(type(weights), "get_state_dict",
                            lambda self, **kwargs: fetched.append((self.url, kwargs)) or {})
    assert main(["fetch-weights"]) == 0
    assert [url.rsplit("/", 1)[1] for url, _ in fetched] == ["vgg19-dcbb9e9d.pth", "alexnet-owt-7be5be79.pth"]
    assert all(kwargs["check_hash"] for _, kwargs in fetched)
