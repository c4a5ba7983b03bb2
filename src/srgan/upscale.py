"""Upscaling people's own photographs with a trained generator (``srgan upscale``, rule ``upscale``).

A photograph is not a benchmark image: it may be a sideways JPEG with an EXIF orientation, carry a
colour profile, be 16-bit, grayscale, a palette, or have an alpha channel, and it often comes as a
folder of thousands. So this module
- plans the whole job first (folders recursively, keeping relative names) and checks every input
  header and every output path before any model is loaded, so that a typo costs seconds, not the
  first hour of a folder;
- reads each photo as the pipeline does (``srgan.io``: EXIF orientation applied, 16-bit / grayscale
  / palette to 8-bit RGB), keeps its ICC profile and EXIF, and upscales an alpha channel with
  MATLAB bicubic, reattached to the SR colour;
- writes PNG, JPEG or WebP by the output's extension, atomically.
The network runs in tiles (``srgan.evaluate.super_resolve``), so memory is bounded by the tile.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, features
from torch import nn
from tqdm import tqdm

from srgan.checkpoint import load_checkpoint
from srgan.evaluate import generator_from_checkpoint, pick_device, super_resolve, tile_count
from srgan.imresize import imresize
from srgan.io import (IMAGE_SUFFIXES, MAX_PIXELS_DEFAULT, atomic_dir, atomic_path,
                      find_images, open_image, to_rgb, upright)
from srgan.models import receptive_radius
from srgan.training import cpu_has_native_bf16

log = logging.getLogger(__name__)

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
FORMAT_SUFFIXES = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}  # --format -> extension
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
MAX_LISTED_PROBLEMS = 20  # a folder of bad files lists this many, then a count


class UpscaleError(ValueError):
    """What is wrong with an upscale job, found before the model is loaded; names every path."""


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


@dataclass
class Photo:
    """A decoded photograph: colour as uint8 HxWx3 RGB, alpha as uint8 HxW (or None), and the
    metadata that is written back (ICC profile; EXIF, with the orientation already applied)."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None
    exif: bytes | None = None


def output_format(path: Path) -> str:
    """Pillow's format name for an output path, from its extension."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UpscaleError(f"output {path}: cannot write {path.suffix or 'files without an extension'}; "
                           f"use {', '.join(OUTPUT_FORMATS)}")
    if fmt == "WEBP" and not features.check("webp"):
        raise UpscaleError(f"output {path}: this Pillow was built without WebP support; use .png or .jpg")
    return fmt


def plan_jobs(source: Path, target: Path, *, fmt: str | None = None) -> list[Job]:
    """The (input, output) pairs of ``srgan upscale SOURCE TARGET``.

    A file goes to ``target`` (or into it, under its own name, when ``target`` is a folder). A
    folder's images, found recursively, go under ``target`` with the same relative names; each
    keeps its extension where it is PNG, JPEG or WebP, else becomes PNG, unless ``fmt``
    (png, jpeg, webp) names one format for all. Images already under ``target`` are not inputs,
    so an output folder inside the input folder is not upscaled again on a rerun.
    """
    if fmt is not None and fmt not in FORMAT_SUFFIXES:
        raise UpscaleError(f"format must be one of {', '.join(FORMAT_SUFFIXES)}, got {fmt!r}")
    if not source.exists():
        raise UpscaleError(f"input {source} does not exist")
    if not source.is_dir():
        if target.is_dir():
            target = target / source.with_suffix(_suffix_for(source, fmt)).name
        elif fmt is not None and output_format(target) != OUTPUT_FORMATS[FORMAT_SUFFIXES[fmt]]:
            raise UpscaleError(f"output {target}: its extension says {output_format(target)}, "
                               f"but --format says {fmt}; the extension decides for a file")
        return [Job(source, target)]
    if target.exists() and not target.is_dir():
        raise UpscaleError(f"output {target} is a file, but input {source} is a folder: give a folder")
    files = find_images(source, exclude=target)
    if not files:
        raise UpscaleError(f"input folder {source} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    jobs = [Job(path, target / path.relative_to(source).with_suffix(_suffix_for(path, fmt)))
            for path in files]
    clashes: dict[Path, list[Path]] = {}
    for job in jobs:
        clashes.setdefault(job.target, []).append(job.source)
    problems = [f"inputs {', '.join(map(str, sources))} would all be written to {output}; "
                f"pass --format to keep them apart, or rename one"
                for output, sources in clashes.items() if len(sources) > 1]
    if problems:
        raise UpscaleError(_listing(problems))
    return jobs


def _suffix_for(source: Path, fmt: str | None) -> str:
    if fmt is not None:
        return FORMAT_SUFFIXES[fmt]
    return source.suffix if source.suffix.lower() in OUTPUT_FORMATS else ".png"


def check_jobs(jobs: list[Job], *, max_pixels: int | None) -> None:
    """Raise UpscaleError listing every input that is not a readable image (from its header, so a
    folder of large photos is checked in seconds) and every output that cannot be written."""
    problems = []
    for job in jobs:
        try:
            with open_image(job.source, max_pixels=max_pixels):
                pass
        except ValueError as error:
            problems.append(str(error))
        try:
            output_format(job.target)
        except UpscaleError as error:
            problems.append(str(error))
        problem = _unwritable(job)
        if problem:
            problems.append(problem)
    if problems:
        raise UpscaleError(_listing(problems))


def _unwritable(job: Job) -> str | None:
    """Why ``job.target`` cannot be written, or None. Checks the nearest existing folder, which is
    where the output's folders would be created."""
    target = job.target
    if target.exists() and job.source.exists() and target.samefile(job.source):
        return f"output {target} is the input itself; write the result elsewhere"
    if target.is_dir():
        return f"output {target} is a folder"
    if target.exists() and not os.access(target, os.W_OK):
        return f"output {target} exists and is not writable"
    folder = target.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        return f"output {target}: {folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        why = "a read-only file system" if os.statvfs(folder).f_flag & os.ST_RDONLY else "permission denied"
        return f"output {target}: cannot write in folder {folder} ({why})"
    return None


def _listing(problems: list[str]) -> str:
    shown = problems[:MAX_LISTED_PROBLEMS]
    more = len(problems) - len(shown)
    lines = [f"{len(problems)} problem{'s' * (len(problems) > 1)} found before loading the model:"]
    lines += [f"  - {problem}" for problem in shown]
    if more:
        lines.append(f"  ... and {more} more")
    return "\n".join(lines)


def read_photo(path: Path, *, max_pixels: int | None) -> Photo:
    """Decode a photo as ``srgan.io.load_rgb`` does (EXIF orientation applied; 16-bit, grayscale,
    palette to 8-bit RGB), except that an alpha channel is kept apart instead of composited, and
    the ICC profile and EXIF (orientation reset, since it has been applied) are kept."""
    with open_image(path, max_pixels=max_pixels) as image:
        image.load()
        icc = image.info.get("icc_profile")
        image = upright(image, name=path.name)
        exif = image.getexif()  # exif_transpose removed the orientation it applied
        alpha = None
        if image.mode in ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
            image = image.convert("RGBA")
            alpha = np.asarray(image.getchannel("A"), dtype=np.uint8).copy()
            log.info("%s: alpha channel kept apart (bicubic-upscaled, then reattached)", path.name)
            image = image.convert("RGB")  # the straight colour, not composited
        rgb = np.asarray(to_rgb(image, name=path.name), dtype=np.uint8).copy()
    return Photo(rgb=rgb, alpha=alpha, icc_profile=icc or None, exif=exif.tobytes() if len(exif) else None)


def write_photo(path: Path, photo: Photo, *, quality: int) -> None:
    """Write ``photo`` atomically in the format of ``path``'s extension, with its ICC profile and
    EXIF. JPEG has no alpha: a photo with one is composited on white there, with a warning.
    JPEG keeps full-resolution colour (4:4:4), since halving the chroma would undo the SR."""
    fmt = output_format(path)
    image = Image.fromarray(photo.rgb)
    if photo.alpha is not None:
        rgba = image.convert("RGBA")
        rgba.putalpha(Image.fromarray(photo.alpha))
        if fmt == "JPEG":
            log.warning("%s: JPEG has no alpha channel; composited on white (write .png or .webp "
                        "to keep it)", path)
            image = to_rgb(rgba, name=path.name)
        else:
            image = rgba
    options: dict = {}
    if photo.icc_profile:
        options["icc_profile"] = photo.icc_profile
    if photo.exif:
        options["exif"] = photo.exif
    if fmt == "JPEG":
        options.update(quality=quality, subsampling=0)
    elif fmt == "WEBP":
        options.update(quality=quality)
    with atomic_path(path) as tmp:
        image.save(tmp, format=fmt, **options)


def upscale_photo(photo: Photo, super_resolve_rgb: Callable[[np.ndarray], np.ndarray], *,
                  scale: int) -> Photo:
    """The SR of ``photo``: colour through the network, alpha by MATLAB bicubic (a network trained
    on photographs has never seen a mask), metadata unchanged."""
    rgb = super_resolve_rgb(photo.rgb)
    alpha = None
    if photo.alpha is not None:
        alpha = imresize(photo.alpha, scale)
        assert alpha.shape == rgb.shape[:2], (alpha.shape, rgb.shape)
    return Photo(rgb=rgb, alpha=alpha, icc_profile=photo.icc_profile, exif=photo.exif)


def half_precision(device: torch.device) -> torch.dtype | None:
    """bf16 autocast for ``--half`` where the device computes bf16 natively; elsewhere None
    (float32) with a warning, since emulated bf16 is slower than float32 (training.py measured a
    third of fp32's speed on an AVX2 CPU)."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        log.warning("--half: this GPU has no bf16; running float32")
        return None
    if device.type == "cpu" and not cpu_has_native_bf16():
        log.warning("--half: this CPU has no native bf16 (AVX512-BF16 or AMX); running float32, "
                    "which is faster here")
        return None
    return torch.bfloat16


def upscale_jobs(jobs: list[Job], generator: nn.Module, *, device: torch.device, tile: int,
                 overlap: int | None, batch: int, autocast: torch.dtype | None, quality: int,
                 max_pixels: int | None, skip_existing: bool = False) -> list[str]:
    """Upscale every job, with a progress bar over files and one over each file's tiles.

    A photo that fails while decoding (truncated data that its header did not show) or writing
    (a full disk) is reported and skipped, and nothing of it is written; the others go on.
    Returns the failures, one message each, naming the path.
    """
    failures = []
    for job in tqdm(jobs, unit="image", desc="images", disable=len(jobs) < 2):
        if skip_existing and job.target.exists():
            log.info("%s exists; skipped (--skip-existing)", job.target)
            continue
        try:
            photo = read_photo(job.source, max_pixels=max_pixels)
            height, width = photo.rgb.shape[:2]
            with tqdm(total=tile_count(height, width, tile=tile), unit="tile", leave=False,
                      desc=job.source.name) as tiles:
                sr = upscale_photo(photo, lambda rgb: super_resolve(
                    generator, rgb, device=device, tile=tile, overlap=overlap, batch=batch,
                    autocast=autocast, on_tiles=tiles.update), scale=generator.scale)
            write_photo(job.target, sr, quality=quality)
        except (ValueError, OSError) as error:
            reason = error if isinstance(error, ValueError) else f"cannot write {job.target}: {error}"
            log.error("%s", reason)
            failures.append(str(reason))
            continue
        log.info("%s -> %s (%dx%d -> %dx%d)", job.source, job.target, width, height,
                 sr.rgb.shape[1], sr.rgb.shape[0])
    log.info("%d of %d image%s upscaled, %d failed", len(jobs) - len(failures), len(jobs),
             "s" * (len(jobs) > 1), len(failures))
    return failures


def upscale_paths(source: Path, target: Path, checkpoint: Path, *, device: str = "auto",
                  tile: int = 256, overlap: int | None = None, batch: int | None = None,
                  half: bool = False, fmt: str | None = None, quality: int = 95,
                  max_pixels: int | None = MAX_PIXELS_DEFAULT, skip_existing: bool = False) -> list[str]:
    """``srgan upscale``: plan and check the whole job, then load the generator, then upscale.

    Every problem with the inputs, the outputs or the checkpoint (missing, not a generator, or
    unsafe) raises a ValueError naming the path before any model is built. Returns the photos that
    failed later (decoding or writing), one message each. ``batch`` None: 1 tile per pass on the
    CPU, where a batch only adds memory, and 8 on a GPU; ``overlap`` None: the receptive radius.
    """
    jobs = plan_jobs(source, target, fmt=fmt)
    if not checkpoint.is_file():
        raise UpscaleError(f"checkpoint {checkpoint} does not exist")
    check_jobs(jobs, max_pixels=max_pixels)
    torch_device = pick_device(device)
    generator = generator_from_checkpoint(load_checkpoint(checkpoint), source=checkpoint)
    generator = generator.to(torch_device).to(memory_format=torch.channels_last).eval()
    overlap = receptive_radius(generator) if overlap is None else overlap
    autocast = half_precision(torch_device) if half else None
    batch = batch or (1 if torch_device.type == "cpu" else 8)
    log.info("%d image%s, x%d, %s%s, tile %d, overlap %d, batch %d", len(jobs), "s" * (len(jobs) > 1),
             generator.scale, torch_device, " bf16" * (autocast is not None), tile, overlap, batch)
    return upscale_jobs(jobs, generator, device=torch_device, tile=tile, overlap=overlap, batch=batch,
                        autocast=autocast, quality=quality, max_pixels=max_pixels,
                        skip_existing=skip_existing)


def upscale_folder(source: Path, target: Path, checkpoint: Path, **settings) -> None:
    """Rule ``upscale``: ``upscale_paths`` of a folder into ``target``, which appears whole or not
    at all; any photo that fails fails the job, naming it."""
    with atomic_dir(target) as tmp:
        failures = upscale_paths(source, tmp, checkpoint, **settings)
        if failures:
            raise UpscaleError(f"{len(failures)} photo{'s' * (len(failures) > 1)} of {source} failed "
                               f"(nothing was written to {target}):\n" +
                               "\n".join(f"  - {failure}" for failure in failures))
