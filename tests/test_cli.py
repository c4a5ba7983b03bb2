"""``srgan upscale``: tiled inference equals whole-image inference, and the CLI writes the PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import CreatesAFile
from srgan.checkpoint import save_checkpoint
from srgan.cli import main, upscale_tiled
from srgan.evaluate import super_resolve
from srgan.models import SRResNet


def test_tiles_match_the_whole_image() -> None:
    torch.manual_seed(0)
    generator = SRResNet(num_blocks=1).eval()
    lr = np.random.default_rng(0).integers(0, 256, (37, 45, 3), dtype=np.uint8)
    whole = super_resolve(generator, lr, device=torch.device("cpu"))
    tiled = upscale_tiled(generator, lr, scale=4, device=torch.device("cpu"), tile=16, overlap=16)
    assert tiled.shape == whole.shape == (148, 180, 3)
    # The overlap covers the receptive field: only float summation order can differ.
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1


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
