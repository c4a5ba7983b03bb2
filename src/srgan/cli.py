"""``srgan upscale IN OUT --checkpoint G.pt``: super-resolve photos (a file, or a folder
recursively) with a trained generator; ``srgan check-config``; ``srgan fetch-weights``.

Large images are processed in overlapping LR tiles (``--tile``), so memory stays bounded; each tile
keeps only its centre, and the overlap defaults to the generator's receptive radius
(``srgan.models.receptive_radius``), so the result is whole-image inference. The tiler is the one
evaluation uses (``srgan.evaluate.super_resolve``); photo handling is ``srgan.upscale``'s.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from srgan.config import ConfigError, load_yaml
from srgan.io import MAX_PIXELS_DEFAULT


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


def upscale(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``srgan upscale``: the numbers checked here, the rest by ``srgan.upscale.upscale_paths``."""
    from srgan.upscale import upscale_paths

    for flag, value, low in (("--tile", args.tile, 0), ("--overlap", args.overlap, 0),
                             ("--batch", args.batch, 1), ("--quality", args.quality, 1)):
        if value is not None and value < low:
            parser.error(f"{flag} must be >= {low}{' (0: whole image)' * (flag == '--tile')}, got {value}")
    if args.quality > 100:
        parser.error(f"--quality must be <= 100, got {args.quality}")
    try:
        with logging_redirect_tqdm():
            failures = upscale_paths(args.input, args.output, args.checkpoint, device=args.device,
                                     tile=args.tile, overlap=args.overlap, batch=args.batch,
                                     half=args.half, fmt=args.format, quality=args.quality,
                                     max_pixels=args.max_pixels or None,
                                     skip_existing=args.skip_existing)
    except (ValueError, RuntimeError) as error:  # UpscaleError, CheckpointError are ValueErrors
        print(f"srgan upscale: error: {error}", file=sys.stderr)
        return 2
    if failures:
        print(f"srgan upscale: {len(failures)} failed:\n" +
              "\n".join(f"  - {failure}" for failure in failures), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srgan", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "upscale", help="super-resolve photos (a file or a folder) with a generator checkpoint",
        description="Super-resolve INPUT (an image, or a folder of images, recursively) into OUTPUT "
                    "(a file, or a folder keeping the relative names). The output's extension picks "
                    "its format: .png, .jpg/.jpeg or .webp. Every input and output is checked before "
                    "the model is loaded.")
    up.add_argument("input", type=Path)
    up.add_argument("output", type=Path)
    up.add_argument("--checkpoint", type=Path, required=True,
                    help="results/<exp>/srgan/generator.pt or results/<exp>/srresnet/generator.pt")
    up.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    up.add_argument("--tile", type=int, default=256, help="LR tile size in pixels (default 256); 0 = "
                    "the whole image in one pass (memory grows with the image: ~10 kB per LR pixel)")
    up.add_argument("--overlap", type=int, default=None,
                    help="LR pixels each tile reads beyond what it keeps (default: the generator's "
                         "receptive radius, which makes tiles equal whole-image inference)")
    up.add_argument("--batch", type=int, default=None,
                    help="tiles per forward pass (default: 1 on the CPU, where batching only adds "
                         "memory; 8 on a GPU)")
    up.add_argument("--half", action="store_true",
                    help="bf16 autocast on devices that compute bf16 natively (else float32)")
    up.add_argument("--quality", type=int, default=95, help="JPEG and WebP quality, 1-100 (default 95)")
    up.add_argument("--format", choices=["png", "jpeg", "webp"], default=None,
                    help="output format for a folder's images (default: each keeps its own "
                         "extension where it is PNG, JPEG or WebP, else PNG)")
    up.add_argument("--skip-existing", action="store_true",
                    help="leave outputs that already exist (outputs are written atomically, so an "
                         "existing one is complete): continues an interrupted folder")
    up.add_argument("--max-pixels", type=int, default=MAX_PIXELS_DEFAULT,
                    help=f"refuse inputs larger than this many pixels (default {MAX_PIXELS_DEFAULT:,}; "
                         f"0: no limit), a guard against decompression bombs")
    check = commands.add_parser(
        "check-config", help="name the file, line and column of YAML syntax errors in configs "
        "(Snakemake's --configfile says only 'not valid JSON or YAML')")
    check.add_argument("configs", type=Path, nargs="+")
    commands.add_parser("fetch-weights", help="download the VGG19 and AlexNet ImageNet weights into "
                        "the torch hub cache (on a machine with network, before a cluster run)")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(message)s", stream=sys.stderr)
    logging.getLogger("srgan").setLevel(logging.INFO)  # what it does, file by file, on stderr
    if args.command == "check-config":
        return check_configs(args.configs)
    if args.command == "fetch-weights":
        return fetch_weights()
    return upscale(args, parser)


if __name__ == "__main__":
    raise SystemExit(main())
