"""Checks of a whole config that the schema cannot express, run when Snakemake plans.

The JSON schema (workflow/schemas/config.schema.yaml) checks each key on its own. What depends
on several keys, or on the file system (a folder that must hold images, a skimage name, the
number of training crops against the batch size), is checked here, before any job runs: a
reproduction that fails after a day of pretraining because of a typo in the GAN's settings has
lost that day. Every problem names the key, the value and what is allowed, and all problems of
a config are reported together.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import yaml
from PIL import Image

from srgan.datasets import skimage_image_names
from srgan.io import IMAGE_SUFFIXES, find_images, list_images
from srgan.registry import REGISTRY

# VGG19's layers, Keras-style (convolutions per block: 2, 2, 4, 4, 4). Spelled out rather than
# imported from srgan.models, which imports torch: planning a run must not take seconds (a test
# checks that the two agree).
VGG19_LAYERS = [f"block{block}_conv{conv}" for block, convs in enumerate((2, 2, 4, 4, 4), start=1)
                for conv in range(1, convs + 1)]

# LR crops need this many pixels a side. With fewer, even the centre pixel's 9x9 window of the
# generator's first convolution is mostly zero padding (at 6 px: 36 of its 81 taps see the
# image), so training would fit borders rather than images. The paper's crops are 24 px.
MIN_LR_CROP = 8


# The ImageNet weights that torchvision caches under <hub>/checkpoints/, by the config section
# whose weights_path can replace them: (file, URL, the key that allows running without them).
WEIGHTS = {"vgg": ("vgg19-dcbb9e9d.pth", "VGG19 (the SRGAN content loss)", "allow_random_fallback"),
           "lpips": ("alexnet-owt-7be5be79.pth", "AlexNet (LPIPS)", "allow_unavailable")}


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch: $TORCH_HOME/hub, else
    $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return Path(os.path.expanduser(home)) / "hub"


def weights_problems(cfg: Mapping) -> list[str]:
    """ImageNet weights that a run needs and cannot find, unless its config allows that.

    A job that would fail on them (the VGG19 of train_gan, after the whole SRResNet
    pretraining) fails here instead. A download at run time is not counted on: compute nodes
    often have no network; `srgan fetch-weights` fills the cache on a machine that has.
    """
    problems = []
    for section, (filename, what, allow) in WEIGHTS.items():
        if section == "vgg" and cfg["gan"]["content"] != "vgg":
            continue
        path = cfg[section]["weights_path"]
        cached = torch_hub_dir() / "checkpoints" / filename
        url = f"https://download.pytorch.org/models/{filename}"
        if path is not None and not Path(path).is_file():
            problems.append(f"{section}.weights_path = {path!r}: no such file (the {what} weights, "
                            f"{filename} from {url})")
        elif path is None and not cached.is_file() and not cfg[section][allow]:
            problems.append(f"the {what} ImageNet weights are not in the torch hub cache ({cached}): "
                            f"run `srgan fetch-weights` on a machine with network, or download {url} "
                            f"and set {section}.weights_path to it (or set {section}.{allow}: true, "
                            f"for a smoke run only)")
    return problems


class ConfigError(ValueError):
    """A config that cannot run; the message lists every problem found."""


def load_yaml(path: str | Path) -> dict:
    """Parse a YAML config, naming the file, line and column of a syntax error (Snakemake's own
    message names neither)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or str(error)
        context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
        if context and start is not None:  # an unclosed bracket is found where the next key starts
            context = f"{context} that starts at line {start.line + 1}, column {start.column + 1}"
        raise ConfigError(f"{where}: YAML syntax error: {problem}"
                          + (f" ({context})" if context else "")) from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys, got a YAML {type(data).__name__}")
    return data or {}


def folder_images(path: str, *, min_side: int = 0) -> tuple[int, int]:
    """(images in the folder, those of them at least ``min_side`` pixels a side), from the image
    headers only; unreadable files count as images (loading them names the fault)."""
    files = list_images(Path(path))
    large = 0
    for file in files:
        try:
            with Image.open(file) as image:
                large += min(image.size) >= min_side
        except (OSError, SyntaxError, ValueError):
            large += 1
    return len(files), large


def dataset_problems(name: str, spec: Mapping) -> list[str]:
    """What is wrong with one dataset's source, from the config and the file system."""
    key, source = f"datasets.{name}", spec["source"]
    if source == "skimage":
        known = skimage_image_names()
        unknown = [image for image in spec["images"] if image not in known]
        return [f"{key}.images names {unknown}, which skimage.data does not ship; it has "
                f"{sorted(known)}"] if unknown else []
    if source == "folder":
        folder = Path(spec["path"])
        if not folder.is_dir():
            return [f"{key}.path = {spec['path']!r}: no such folder (relative paths start at "
                    f"{Path.cwd()})"]
        if not list_images(folder):
            return [f"{key}.path = {spec['path']!r}: the folder holds no images (png, jpg, jpeg, "
                    f"bmp, tif, tiff, ppm)"]
        return []
    if source == "registry" and spec["name"] not in REGISTRY:
        return [f"{key}.name = {spec['name']!r} is not in the registry; it has {sorted(REGISTRY)}"]
    return []


def training_images(spec: Mapping, *, hr_size: int) -> int | None:
    """How many training images give crops of ``hr_size``, where that is known before the data
    is prepared (None for a folder whose headers are unreadable, for instance)."""
    if spec["source"] == "skimage":
        return len(spec["images"])
    if spec["source"] == "folder":
        if not Path(spec["path"]).is_dir():
            return None
        return folder_images(spec["path"], min_side=hr_size)[1]
    entry = REGISTRY.get(spec["name"])
    return entry.images if entry is not None else None


def stage_problems(stage: str, train: Mapping, *, crops_per_epoch: int | None) -> list[str]:
    """Batch size, iteration counts and lr steps of one training stage (``pretrain`` or ``gan``)."""
    problems = []
    batch = train["batch_size"]
    if crops_per_epoch is not None and batch > crops_per_epoch:
        problems.append(f"{stage}.batch_size = {batch} is more than the {crops_per_epoch} training "
                        f"crops of an epoch (training images x patches.per_image); lower it or "
                        f"raise patches.per_image")
    iterations = train.get("iterations")
    if iterations is None and crops_per_epoch:
        iterations = train["epochs"] * (crops_per_epoch // batch)
    if iterations and train.get("eval_every") and train["eval_every"] > iterations:
        problems.append(f"{stage}.eval_every = {train['eval_every']} is more than the stage's "
                        f"{iterations} iterations: there would be one snapshot only")
    if train.get("lr_step_iterations") and iterations and train["lr_step_iterations"] >= iterations:
        problems.append(f"{stage}.lr_step_iterations = {train['lr_step_iterations']} is not below "
                        f"the stage's {iterations} iterations, so the lr would never be stepped")
    if train.get("lr_step_epochs") and train.get("iterations") is None \
            and train["lr_step_epochs"] >= train["epochs"]:
        problems.append(f"{stage}.lr_step_epochs = {train['lr_step_epochs']} is not below "
                        f"{stage}.epochs = {train['epochs']}, so the lr would never be stepped")
    return problems


def stage_epochs(train: Mapping, *, crops_per_epoch: int | None) -> float | None:
    """A stage's length in epochs (fractional when set by iterations), when it can be known."""
    if train.get("iterations") is None:
        return float(train["epochs"])
    if not crops_per_epoch or crops_per_epoch < train["batch_size"]:
        return None
    return train["iterations"] / (crops_per_epoch // train["batch_size"])


def epoch_list_problems(epochs: list[int], lengths: Mapping[str, float | None]) -> list[str]:
    """``plots.progress_epochs``: every entry must be an epoch that some stage reaches (counted
    from the end when negative); 0 is no epoch."""
    known = [length for length in lengths.values() if length is not None]
    if not known:
        return []
    longest = max(known)
    bad = [epoch for epoch in epochs if epoch == 0 or abs(epoch) > math.ceil(longest)]
    if not bad:
        return []
    stages = ", ".join(f"{stage} {length:g}" for stage, length in lengths.items() if length is not None)
    return [f"plots.progress_epochs = {epochs}: {bad} fall outside the training length (epochs: "
            f"{stages}); use 1..{math.ceil(longest)}, or -1 for the last"]


def upscale_problems(section: Mapping) -> list[str]:
    """The photo folder of rule upscale must exist and hold images (found as srgan upscale finds
    them), so that a typo fails at planning, not after training."""
    folder = section["folder"]
    if folder is None:
        return []
    if not Path(folder).is_dir():
        return [f"upscale.folder = {folder!r}: no such folder"]
    if not find_images(folder):
        return [f"upscale.folder = {folder!r} holds no images ({', '.join(IMAGE_SUFFIXES)})"]
    return []


def experiment_problems(cfg: Mapping) -> list[str]:
    """Every problem of one experiment's (schema-valid, defaults filled) config."""
    problems = []
    known = set(cfg["datasets"])
    for key in ("train_set", "test_sets", "val_sets"):
        names = cfg[key] if isinstance(cfg[key], list) else [cfg[key]]
        unknown = [n for n in names if n not in known]
        if unknown:
            problems.append(f"{key} names {unknown}, which are not in datasets: {sorted(known)}")
    scale, hr_size = cfg["scale"], cfg["patches"]["hr_size"]
    # The schema makes hr_size a multiple of 16 and scale 2, 4 or 8, so hr_size / scale is whole.
    if hr_size // scale < MIN_LR_CROP:
        problems.append(f"patches.hr_size = {hr_size} with scale = {scale} gives {hr_size // scale}"
                        f"-pixel LR crops; the generator needs at least {MIN_LR_CROP} (hr_size >= "
                        f"{MIN_LR_CROP * scale} at this scale)")
    if cfg["gan"]["content"] == "vgg" and cfg["gan"]["vgg_layer"] not in VGG19_LAYERS:
        problems.append(f"gan.vgg_layer = {cfg['gan']['vgg_layer']!r} is not a VGG19 layer; it has "
                        f"{', '.join(VGG19_LAYERS)}")
    problems += weights_problems(cfg)
    problems += upscale_problems(cfg["upscale"])
    if cfg["train_set"] in known:
        images = training_images(cfg["datasets"][cfg["train_set"]], hr_size=hr_size)
        crops = None if images is None else images * cfg["patches"]["per_image"]
        if images == 0:
            problems.append(f"train_set {cfg['train_set']!r} has no image of at least "
                            f"{hr_size}x{hr_size} pixels (patches.hr_size)")
        else:
            problems += stage_problems("pretrain", cfg["pretrain"], crops_per_epoch=crops)
            problems += stage_problems("gan", cfg["gan"], crops_per_epoch=crops)
            problems += epoch_list_problems(cfg["plots"]["progress_epochs"], {
                "pretrain": stage_epochs(cfg["pretrain"], crops_per_epoch=crops),
                "gan": stage_epochs(cfg["gan"], crops_per_epoch=crops)})
    return problems


def check_experiments(experiments: Mapping[str, Mapping]) -> None:
    """Raise ConfigError listing every problem of every experiment, and of the datasets they use
    (each dataset checked once)."""
    problems = []
    used = {}
    for name, cfg in experiments.items():
        problems += [f"experiment {name!r}: {problem}" for problem in experiment_problems(cfg)]
        for dataset in [cfg["train_set"], *cfg["test_sets"], *cfg["val_sets"]]:
            if dataset in cfg["datasets"]:
                used.setdefault(dataset, cfg["datasets"][dataset])
    for dataset, spec in used.items():
        problems += dataset_problems(dataset, spec)
    if problems:
        raise ConfigError("the config cannot run:\n" + "\n".join(f"  - {p}" for p in problems))


def _schema_type(spec: Mapping) -> str:
    """A short type for the config reference: enum values, type names, or the referenced $def."""
    if "enum" in spec:
        return " / ".join("null" if v is None else f"`{v}`" for v in spec["enum"])
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1].replace("_", " ")
    kinds = spec.get("type", "")
    return " or ".join(kinds) if isinstance(kinds, list) else kinds


def _schema_default(spec: Mapping) -> str:
    if "default" not in spec or spec["default"] in ({}, []) and spec.get("type") == "object":
        return ""
    return f"`{yaml.safe_dump(spec['default'], default_flow_style=True).strip().removesuffix('...').strip()}`"


def schema_markdown(schema: Mapping) -> str:
    """The config reference (config/README.md): every section and key of the schema with its
    type, default and description, generated so that it can never disagree with the schema."""
    lines = ["# Configuration", "",
             "Generated from `workflow/schemas/config.schema.yaml` by `make config-doc` (a test checks "
             "that it is current). The embedded default is `config.yaml` at the top of the repository; "
             "`presets/` holds the paper's, the report's and the ablation's. Every key is optional unless "
             "marked required; Snakemake fills in the defaults below and validates the config before any "
             "job runs.", "", " ".join(str(schema.get("description", "")).split()), ""]
    required = set(schema.get("required", []))
    scalars = {k: v for k, v in schema["properties"].items() if "properties" not in v}
    sections = {k: v for k, v in schema["properties"].items() if "properties" in v}
    lines += ["## Top-level keys", "", "| key | type | default | description |", "|---|---|---|---|"]
    for key, spec in scalars.items():
        mark = " (required)" if key in required else ""
        lines.append(f"| `{key}`{mark} | {_schema_type(spec)} | {_schema_default(spec)} | "
                     f"{' '.join(str(spec.get('description', '')).split())} |")
    for key, spec in scalars.items():  # a map of named entries, e.g. datasets.<name>
        ref = spec.get("additionalProperties", {})
        entry = schema.get("$defs", {}).get(str(ref.get("$ref", "")).rsplit("/", 1)[-1]) if isinstance(ref, dict) else None
        if entry and "properties" in entry:
            sections[f"{key}.<name>"] = entry
    for section, spec in sections.items():
        lines += ["", f"## `{section}`", ""]
        if spec.get("description"):
            lines += [" ".join(str(spec["description"]).split()), ""]
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for key, sub in spec["properties"].items():
            lines.append(f"| `{section}.{key}` | {_schema_type(sub)} | {_schema_default(sub)} | "
                         f"{' '.join(str(sub.get('description', '')).split())} |")
    return "\n".join(lines) + "\n"
