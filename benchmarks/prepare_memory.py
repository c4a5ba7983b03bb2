"""Peak memory and wall time of prepare_train (srgan.patches.write_image_store) on DIV2K-sized data.

Builds a synthetic training folder of DIV2K-like images (default: 200 PNGs of 2040x1356, smooth
gradients plus texture so that PNG encoding stays quick; DIV2K train HR is 800 images of about
2040x1400), then runs, each in a fresh process so that peak RSS is its own:

- ours: ``write_image_store``, one image decoded at a time, at two image counts (a quarter of
  them, and all), to show that the peak does not grow with the count;
- baseline: the former preparation's memory pattern, every image decoded into RAM before
  anything is written (what ``extract_patches`` did), at the full count.

    python benchmarks/prepare_memory.py [--images 200] [--width 2040] [--height 1356] [--keep DIR]

Prints a Markdown table; then `ours_vs_baseline_memory: N.NN` (peak RSS of ours over the
baseline's, full count) and, last, `peak_rss_mb: N` (ours, full count).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from srgan.io import list_images, load_rgb
from srgan.imresize import imresize, modcrop
from srgan.patches import write_image_store

mode, folder, count, out = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
paths = list_images(folder)[:count]
start = time.perf_counter()
if mode == "ours":
    write_image_store(paths, out, scale=4)
else:  # the former pattern: decode every image first, then process
    images = [modcrop(load_rgb(p), 4) for p in paths]
    out.mkdir()
    with open(out / "hr.bin", "wb") as hr, open(out / "lr.bin", "wb") as lr:
        for image in images:
            hr.write(image.tobytes())
            lr.write(imresize(image, 0.25).tobytes())
seconds = time.perf_counter() - start
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": seconds}))
"""


def synthetic_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A photo-like uint8 image: colour gradients, a few sinusoidal textures, mild noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        fy, fx, phase = rng.uniform(0.002, 0.05, 2).tolist() + [rng.uniform(0, 6.3)]
        channel = 127 + 60 * np.sin(fy * y + fx * x + phase) + 40 * (x / width) - 20 * (y / height)
        channels.append(channel)
    image = np.stack(channels, axis=-1) + rng.normal(0, 4, (height, width, 3)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def build_folder(folder: Path, count: int, height: int, width: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in range(count):
        path = folder / f"{k:04d}.png"
        if not path.exists():
            Image.fromarray(synthetic_image(rng, height, width)).save(path, compress_level=1)


def run(mode: str, folder: Path, count: int, work: Path) -> dict:
    out = work / f"{mode}-{count}"
    result = subprocess.run([sys.executable, "-c", CHILD, mode, str(folder), str(count), str(out)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--width", type=int, default=2040)
    parser.add_argument("--height", type=int, default=1356)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the synthetic folder here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "images"
        start = time.perf_counter()
        build_folder(folder, args.images, args.height, args.width)
        print(f"synthetic training folder: {args.images} PNGs of {args.width}x{args.height} "
              f"({time.perf_counter() - start:.0f} s to build)\n", flush=True)
        quarter = max(args.images // 4, 1)
        rows = [("ours (one image at a time)", quarter, run("ours", folder, quarter, Path(tmp))),
                ("ours (one image at a time)", args.images, run("ours", folder, args.images, Path(tmp))),
                ("baseline (all images decoded first)", args.images,
                 run("baseline", folder, args.images, Path(tmp)))]
    print("| preparation | images | peak RSS (MB) | wall time (s) |")
    print("|---|---|---|---|")
    for label, count, result in rows:
        print(f"| {label} | {count} | {result['peak_rss_mb']:.0f} | {result['seconds']:.1f} |")
    ours, baseline = rows[1][2]["peak_rss_mb"], rows[2][2]["peak_rss_mb"]
    print(f"\nours_vs_baseline_memory: {ours / baseline:.2f}")
    print(f"peak_rss_mb: {ours:.0f}")


if __name__ == "__main__":
    main()
