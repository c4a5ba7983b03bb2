"""``srgan upscale IN OUT --checkpoint G.pt``: super-resolve one image with a trained generator.

Large images are processed in overlapping LR tiles (``--tile``), so memory stays bounded; each tile
keeps only its centre, and the overlap defaults to the generator's receptive radius
(``srgan.models.receptive_radius``), so the result is whole-image inference. The tiler is the one
evaluation uses (``srgan.evaluate.super_resolve``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srgan.config import ConfigError, load_yaml
from srgan.evaluate import load_generator, pick_device, super_resolve
from srgan.io import load_rgb, save_png
from srgan.models import receptive_radius


def check_configs(paths: list[Path]) -> int:
    """Parse each config; print its YAML error with file, line and column, or that it parses."""
    failed = 0
    for path in paths:
        try:
            load_yaml(path)
            print(f"{path}: YAML OK (snakemake -n --configfile {path} checks its keys)")
        except ConfigError as error:
            print(error, file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def fetch_weights() -> int:
    """The ImageNet weights that a real run needs (the plan-time check looks for them)."""
    from srgan.models import fetch_vgg19_weights
    from srgan.perceptual import fetch_weights as fetch_alexnet_weights

    for path in (fetch_vgg19_weights(), fetch_alexnet_weights()):
        print(f"cached {path}", file=sys.stderr)
    return 0


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
    up.add_argument("--overlap", type=int, default=None,
                    help="LR pixels each tile reads beyond what it keeps (default: the generator's "
                         "receptive radius, which makes tiles equal whole-image inference)")
    check = commands.add_parser(
        "check-config", help="name the file, line and column of YAML syntax errors in configs "
        "(Snakemake's --configfile says only 'not valid JSON or YAML')")
    check.add_argument("configs", type=Path, nargs="+")
    commands.add_parser("fetch-weights", help="download the VGG19 and AlexNet ImageNet weights into "
                        "the torch hub cache (on a machine with network, before a cluster run)")
    args = parser.parse_args(argv)
    if args.command == "check-config":
        return check_configs(args.configs)
    if args.command == "fetch-weights":
        return fetch_weights()
    if args.tile < 0:
        parser.error(f"--tile must be >= 0 (0: whole image), got {args.tile}")
    if args.overlap is not None and args.overlap < 0:
        parser.error(f"--overlap must be >= 0, got {args.overlap}")
    if not args.checkpoint.is_file():
        parser.error(f"checkpoint {args.checkpoint} does not exist")
    try:
        lr = load_rgb(args.input)
        device = pick_device(args.device)
        generator = load_generator(args.checkpoint, device=device)
    except (ValueError, RuntimeError) as error:  # CheckpointError is a ValueError
        parser.error(str(error))
    overlap = receptive_radius(generator) if args.overlap is None else args.overlap
    sr = super_resolve(generator, lr, device=device, tile=args.tile, overlap=overlap)
    save_png(args.output, sr)
    print(f"{args.input} -> {args.output} ({sr.shape[1]}x{sr.shape[0]}, x{generator.scale}, "
          f"tile {args.tile}, overlap {overlap})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
