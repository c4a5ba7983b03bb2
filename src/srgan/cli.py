"""``srgan upscale IN OUT --checkpoint G.pt``: super-resolve one image with a trained generator.

Large images are processed in overlapping LR tiles (``--tile``), so memory stays bounded; each tile
keeps only its centre, where the overlap covers the generator's receptive field.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from srgan.evaluate import load_generator, pick_device, super_resolve
from srgan.io import load_rgb, save_png


def upscale_tiled(generator: nn.Module, lr: np.ndarray, *, scale: int, device: torch.device,
                  tile: int, overlap: int = 16) -> np.ndarray:
    """SR of a uint8 HxWx3 LR image, ``tile`` x ``tile`` LR pixels at a time (0: all at once)."""
    height, width = lr.shape[:2]
    if tile <= 0 or (height <= tile and width <= tile):
        return super_resolve(generator, lr, device=device)
    out = np.zeros((height * scale, width * scale, 3), dtype=np.uint8)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
            y1, x1 = min(top + tile + overlap, height), min(left + tile + overlap, width)
            sr = super_resolve(generator, np.ascontiguousarray(lr[y0:y1, x0:x1]), device=device)
            h, w = min(tile, height - top), min(tile, width - left)
            out[top * scale:(top + h) * scale, left * scale:(left + w) * scale] = \
                sr[(top - y0) * scale:(top - y0 + h) * scale, (left - x0) * scale:(left - x0 + w) * scale]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srgan", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upscale", help="super-resolve an image with a generator checkpoint")
    up.add_argument("input", type=Path)
    up.add_argument("output", type=Path)
    up.add_argument("--checkpoint", type=Path, required=True,
                    help="results/<exp>/srgan/generator.pt or results/<exp>/srresnet/generator.pt")
    up.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    up.add_argument("--tile", type=int, default=256, help="LR tile size in pixels; 0 = whole image")
    args = parser.parse_args(argv)
    if not args.checkpoint.is_file():
        parser.error(f"checkpoint {args.checkpoint} does not exist")
    try:
        lr = load_rgb(args.input)
        device = pick_device(args.device)
        generator = load_generator(args.checkpoint, device=device)
    except (ValueError, RuntimeError) as error:  # CheckpointError is a ValueError
        parser.error(str(error))
    scale = generator.scale
    sr = upscale_tiled(generator, lr, scale=scale, device=device, tile=args.tile)
    save_png(args.output, sr)
    print(f"{args.input} -> {args.output} ({sr.shape[1]}x{sr.shape[0]}, x{scale})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
