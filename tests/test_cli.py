"""``srgan upscale``: tiled inference equals whole-image inference, and the CLI writes the PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

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
    torch.save({"model_args": {"num_blocks": 1, "upsample": "pixelshuffle", "scale": 4},
                "generator": generator.state_dict()}, tmp_path / "g.pt")
    Image.fromarray(np.zeros((10, 12), dtype=np.uint8)).save(tmp_path / "in.png")  # grayscale in
    assert main(["upscale", str(tmp_path / "in.png"), str(tmp_path / "out.png"),
                 "--checkpoint", str(tmp_path / "g.pt"), "--device", "cpu", "--tile", "4"]) == 0
    with Image.open(tmp_path / "out.png") as image:
        assert image.size == (48, 40) and image.mode == "RGB"
    with pytest.raises(SystemExit):
        main(["upscale", "a.png", "b.png", "--checkpoint", str(tmp_path / "missing.pt")])
