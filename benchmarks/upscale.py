"""Tiled against untiled ``srgan upscale`` of a 12-megapixel result: wall time and peak memory.

A 1000x750 photo is upscaled to 4000x3000 on the CPU by a 16-block generator (a seeded random one,
or ``--checkpoint``), once whole (``--tile 0``) and once in tiles (``--tile``, default the CLI's),
each in a fresh process so that its peak RSS is its own. Both runs go through the command itself
(``srgan.cli.main``: read, SR, alpha-free PNG write), timed inside the process, so Python's start
and the torch import are not counted and the peak RSS includes torch's own ~0.7 GB.

    python benchmarks/upscale.py [--tile 256] [--threads 2] [--checkpoint G.pt] [--image PHOTO]

Prints a Markdown table; the last two lines are ``tiled_vs_untiled_speed: N.NN`` (untiled time
over tiled time: above 1, tiles are faster) and ``tiled_vs_untiled_memory: N.NN`` (tiled peak RSS
over untiled peak RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data as skimage_data

from srgan.checkpoint import save_checkpoint
from srgan.imresize import imresize
from srgan.models import SRResNet, receptive_radius

LR_SHAPE = (750, 1000)  # 4x: 3000 x 4000, 12 megapixels
DEFAULT_TILE = 256  # srgan.cli's default


def make_inputs(folder: Path, *, checkpoint: Path | None, image: Path | None) -> tuple[Path, Path]:
    """The generator checkpoint and the 1000x750 input photo (skimage's astronaut, resized, when
    no ``image`` is given: content does not change the speed, but a photo shows the result)."""
    if checkpoint is None:
        torch.manual_seed(0)
        generator = SRResNet(num_blocks=16)
        checkpoint = folder / "g16.pt"
        save_checkpoint(checkpoint, {"kind": "generator", "generator": generator.state_dict(),
                                     "model_args": {"num_blocks": 16, "channels": 64,
                                                    "upsample": "pixelshuffle", "scale": 4}})
    rgb = np.asarray(Image.open(image).convert("RGB")) if image else skimage_data.astronaut()
    photo = folder / "photo.png"
    Image.fromarray(imresize(rgb, None, output_shape=LR_SHAPE)).save(photo)
    return checkpoint, photo


def child(args: argparse.Namespace) -> None:
    """One measured run, in its own process: prints JSON with the wall time and peak RSS."""
    from srgan.cli import main

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    code = main(["upscale", str(args.input), str(args.output), "--checkpoint", str(args.checkpoint),
                 "--device", "cpu", "--tile", str(args.tile)])
    wall = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"code": code, "wall_s": wall, "peak_rss_mib": peak_mib}))


def measure(*, tile: int, threads: int, checkpoint: Path, photo: Path, output: Path) -> dict:
    command = [sys.executable, __file__, "--child", "--tile", str(tile), "--threads", str(threads),
               "--checkpoint", str(checkpoint), "--input", str(photo), "--output", str(output)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"the run with --tile {tile} failed:\n{result.stderr[-3000:]}")
    row = json.loads(result.stdout.strip().splitlines()[-1])
    if row["code"] != 0:
        raise SystemExit(f"srgan upscale --tile {tile} returned {row['code']}:\n{result.stderr[-3000:]}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--checkpoint", type=Path, default=None, help="a 16-block generator checkpoint")
    parser.add_argument("--image", type=Path, default=None, help="a photo, resized to 1000x750")
    parser.add_argument("--keep", type=Path, default=None, help="copy the tiled output here (PNG)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint, photo = make_inputs(folder, checkpoint=args.checkpoint, image=args.image)
        common = {"threads": args.threads, "checkpoint": checkpoint, "photo": photo}
        whole = measure(tile=0, output=folder / "whole.png", **common)
        tiled = measure(tile=args.tile, output=folder / "tiled.png", **common)
        a = np.asarray(Image.open(folder / "whole.png")).astype(int)
        b = np.asarray(Image.open(folder / "tiled.png")).astype(int)
        if args.keep:
            args.keep.write_bytes((folder / "tiled.png").read_bytes())
    cpu = platform.machine()
    if Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    print(f"CPU: {cpu}, {args.threads} threads, torch {torch.__version__}; 16-block generator; "
          f"1000x750 -> {a.shape[1]}x{a.shape[0]}")
    print("| run | tile (LR px) | wall (s) | peak RSS (MiB) |")
    print("|---|---|---|---|")
    print(f"| untiled | 0 (whole image) | {whole['wall_s']:.1f} | {whole['peak_rss_mib']:.0f} |")
    overlap = receptive_radius(SRResNet(num_blocks=16))
    print(f"| tiled | {args.tile} (+ overlap {overlap}) | {tiled['wall_s']:.1f} | {tiled['peak_rss_mib']:.0f} |")
    levels = np.abs(a - b)
    print(f"outputs: max difference {levels.max()} levels, {np.mean(levels > 0):.1e} of values differ "
          f"(float summation order flips rounding ties)")
    print(f"tiled_vs_untiled_speed: {whole['wall_s'] / tiled['wall_s']:.2f}")
    print(f"tiled_vs_untiled_memory: {tiled['peak_rss_mib'] / whole['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    main()
