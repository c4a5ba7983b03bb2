# Config validation, experiments, and the input functions. The config is read here, and only
# here; rules pass plain values to the scripts through params (so that a changed key reruns
# exactly the stages that use it).
#
# Experiments: `experiments:` maps a name to overrides of the base config (for example the paper's
# SRGAN-MSE / -VGG22 / -VGG54 ablation, or seeds). Without it, the base config is one experiment,
# named by `experiment`. Stages whose config slice is equal across experiments share one output:
# the training image store is keyed by its dataset and scale, and SRResNet pretraining by a hash of its
# settings (results/pretrain/<key>/), so an ablation of the GAN trains one SRResNet.

import copy
import errno
import math
from pathlib import Path
import hashlib
import json

from snakemake.utils import validate

from srgan.config import check_experiments
from srgan.io import find_images


SCHEMA = "../schemas/config.schema.yaml"
DATA_BASE_MB, DATA_BYTES_PER_PIXEL = 1000, 120
STAGES = ["srresnet", "srgan"]
METHODS = ["bicubic"] + STAGES
ENV = "../../envs/srgan.yaml"


def deep_merge(base, overrides):
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def canonical(value):
    """Keys sorted at every level: Snakemake compares params as written, so the same settings in
    another key order (a hand-edited or re-dumped YAML) must not look like a change."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def load_experiments(config):
    """{name: full config of that experiment}, each validated (defaults filled in)."""
    validate(config, schema=SCHEMA, set_default=True)
    base = {key: value for key, value in config.items() if key != "experiments"}
    overrides = config.get("experiments") or {config["experiment"]: {}}
    experiments = {}
    for name, override in overrides.items():
        cfg = deep_merge(base, override or {})
        cfg["experiment"] = name
        cfg.pop("experiments", None)
        validate(cfg, schema=SCHEMA, set_default=True)
        experiments[name] = canonical(cfg)
    check_experiments(experiments)  # what the schema cannot see, before any job runs
    return experiments


def short_hash(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8]


def store_key(cfg):
    """Readable key of a training image store: the dataset and the scale of its LR."""
    return f"{cfg['train_set']}-x{cfg['scale']}"


def pretrain_slice(cfg):
    """Every setting that changes the SRResNet's weights; equal slices share one SRResNet.
    Validation sets, the device, threads, compile and checkpoint_every do not change them."""
    return {
        "store": store_key(cfg),
        "patches": cfg["patches"],
        "model": cfg["model"],
        "train": cfg["pretrain"],
        "scale": cfg["scale"],
        "seed": cfg["seed"],
        "precision": cfg["precision"],
    }


def pretrain_key(cfg):
    return f"{cfg['model']['variant']}{cfg['model']['num_blocks']}-{short_hash(pretrain_slice(cfg))}"


EXPERIMENTS = dict(sorted(load_experiments(config).items()))
DATASETS = {}
for _name, _cfg in EXPERIMENTS.items():
    for _dataset, _spec in _cfg["datasets"].items():
        if DATASETS.setdefault(_dataset, _spec) != _spec:
            raise ValueError(f"dataset {_dataset!r} is defined differently by two experiments")
STORES = {store_key(c): c for c in EXPERIMENTS.values()}
PRETRAINS = {pretrain_key(c): c for c in EXPERIMENTS.values()}


wildcard_constraints:
    exp="|".join(EXPERIMENTS),
    dataset="[A-Za-z0-9_.-]+",
    stage="srresnet|srgan",
    store="[A-Za-z0-9_.-]+",
    pretrain="[A-Za-z0-9_.-]+",
    scale="[0-9]+",


def exp_param(*keys):
    """A params function: the value at ``keys`` in the experiment's config."""

    def get(wildcards):
        value = EXPERIMENTS[wildcards.exp]
        for key in keys:
            value = value[key]
        return value

    return get


def job_config(wildcards):
    """The config of a job's experiment (or of the first experiment sharing its pretraining,
    its image store, or, for a dataset's job, the first experiment)."""
    if "pretrain" in wildcards.keys():
        return PRETRAINS[wildcards.pretrain]
    if "store" in wildcards.keys():
        return STORES[wildcards.store]
    if "exp" in wildcards.keys():
        return EXPERIMENTS[wildcards.exp]
    return next(iter(EXPERIMENTS.values()))


def get_run_settings(wildcards, threads):
    """How a job runs (threads, device, compile, checkpoint cadence, evaluation tile, image size
    limit), never what it produces.

    A params function that takes ``threads`` is, to Snakemake, derived from the job's resources,
    and such params are not rerun triggers: editing these keys reruns nothing, while every other
    param still does (tests/test_workflow.py checks both).
    """
    cfg = job_config(wildcards)
    return {
        "threads": threads,
        "device": cfg["device"],
        "compile": cfg["compile"],
        "checkpoint_every": cfg["checkpoint_every"],
        "tile": cfg["tile"],
        "max_image_pixels": cfg["max_image_pixels"],
    }


def get_threads(wildcards):
    return job_config(wildcards)["threads"]


def get_upscale_photos(wildcards):
    """The photos of the experiment's upscale.folder: adding or changing one reruns rule upscale."""
    return [str(path) for path in find_images(EXPERIMENTS[wildcards.exp]["upscale"]["folder"])]


def upscale_outputs(exp):
    """Rule upscale's folders of an experiment: none unless upscale.folder is set."""
    if EXPERIMENTS[exp]["upscale"]["folder"] is None:
        return []
    return [f"results/{exp}/upscaled/{stage}" for stage in STAGES]


# Keys that say how a job runs, never what it produces (get_run_settings): not recorded, so
# that editing them reruns nothing.
RUN_KEYS = ["threads", "device", "compile", "checkpoint_every", "tile", "max_image_pixels"]


def get_recorded_config(wildcards):
    """The resolved config of an experiment (defaults filled in), as results/<exp>/config.yaml
    records it: everything that shapes its results."""
    return {key: value for key, value in EXPERIMENTS[wildcards.exp].items() if key not in RUN_KEYS}


def stage_dir(wildcards):
    """Where a training stage of an experiment writes: the shared pretraining, or its own SRGAN."""
    if wildcards.stage == "srresnet":
        return f"results/pretrain/{pretrain_key(EXPERIMENTS[wildcards.exp])}"
    return f"results/{wildcards.exp}/srgan"


def get_snapshots(wildcards):
    return f"{stage_dir(wildcards)}/snapshots"


def get_train_log(wildcards):
    return f"{stage_dir(wildcards)}/train_log.csv"


def eval_dir(cfg, dataset):
    return f"results/data/eval/{dataset}/x{cfg['scale']}"


def eval_dirs(cfg, names):
    return [eval_dir(cfg, name) for name in names]


def store_dir(cfg):
    return f"results/data/train/{store_key(cfg)}"


def store_mem_mb(wildcards, input):
    """mem_mb of a data job that decodes its input images one at a time: a base for Python, torch
    and numba, plus a per-pixel cost of the largest image (measured by
    benchmarks/prepare_memory.py). The PNG headers give the sizes without decoding anything."""
    return DATA_BASE_MB + math.ceil(largest_png_pixels(input.hr) * DATA_BYTES_PER_PIXEL / 2**20)


def largest_png_pixels(folder):
    if not Path(folder).is_dir():  # during planning: Snakemake marks the value <TBD> for now
        raise FileNotFoundError(errno.ENOENT, "not made yet", str(folder))
    largest = 0
    for path in Path(folder).glob("*.png"):
        with open(path, "rb") as handle:
            header = handle.read(24)  # signature, IHDR length and type, width, height
        if header[12:16] == b"IHDR":
            largest = max(largest, int.from_bytes(header[16:20], "big") * int.from_bytes(header[20:24], "big"))
    return largest


def metrics_csvs(exp):
    cfg = EXPERIMENTS[exp]
    return [
        f"results/{exp}/eval/{method}/{name}/metrics.csv"
        for method in METHODS
        for name in cfg["test_sets"]
    ]


def perception_methods(wildcards):
    """(label, metrics CSV) of each point of the perception-distortion figure of a test set: the
    experiment's bicubic, SRResNet and SRGAN, then the SRGAN of every other experiment (an
    ablation) that evaluates the same test set."""
    exp, dataset = wildcards.exp, wildcards.dataset
    points = [
        (label, f"results/{exp}/eval/{method}/{dataset}/metrics.csv")
        for method, label in (("bicubic", "Bicubic"), ("srresnet", "SRResNet"), ("srgan", "SRGAN"))
    ]
    for other, cfg in EXPERIMENTS.items():
        if other != exp and dataset in cfg["test_sets"]:
            points.append((f"SRGAN ({other})", f"results/{other}/eval/srgan/{dataset}/metrics.csv"))
    return points


def get_perception_metrics(wildcards):
    return [path for _, path in perception_methods(wildcards)]


def get_perception_labels(wildcards):
    return [label for label, _ in perception_methods(wildcards)]


def figure_files(exp):
    """The figures of one experiment (the progression figure needs a validation set)."""
    cfg = EXPERIMENTS[exp]
    files = {
        "curves": f"results/{exp}/figures/curves.png",
        "losses": f"results/{exp}/figures/losses.png",
        "discriminator": f"results/{exp}/figures/discriminator.png",
    }
    files.update(
        {
            f"comparison_{name}": f"results/{exp}/figures/comparison_{name}.png"
            for name in cfg["test_sets"]
        }
    )
    files.update(
        {
            f"perception_{name}": f"results/{exp}/figures/perception_{name}.png"
            for name in cfg["test_sets"]
        }
    )
    if cfg["val_sets"]:
        files.update(
            {f"progress_{stage}": f"results/{exp}/figures/progress_{stage}.png" for stage in STAGES}
        )
    return files


def all_outputs():
    outputs = []
    for exp in EXPERIMENTS:
        outputs += [
            f"results/{exp}/tables/results.csv",
            f"results/{exp}/tables/bicubic.csv",
            f"results/{exp}/config.yaml",
        ]
        outputs += list(figure_files(exp).values())
        outputs += upscale_outputs(exp)
    if len(EXPERIMENTS) > 1:
        outputs.append("results/ablation/ablation.csv")
    return outputs
