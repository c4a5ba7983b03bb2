# Config validation, experiments, and the input and params functions. The config is read here,
# and only here; rules pass plain values to the scripts through params (so that a changed key
# reruns exactly the stages that use it).
#
# Experiments: `experiments:` maps a name to overrides of the base config (for example the paper's
# SRGAN-MSE / -VGG22 / -VGG54 ablation, or seeds). Without it, the base config is one experiment,
# named by `experiment`. Work whose settings are equal across experiments is done once, under a
# key of those settings: the training image store (results/data/train/<set>-x<scale>/), the
# SRResNet pretraining (results/pretrain/<key>/), the LPIPS decision
# (results/lpips_network/<key>.json), the bicubic baseline (results/bicubic/<scoring>/) and the
# evaluation of a shared SRResNet (results/pretrain/<key>/eval/<scoring>/, history/, progress/).
# So an ablation of the GAN trains and evaluates one SRResNet.

import copy
import errno
import math
from pathlib import Path
import hashlib
import json

from snakemake.utils import validate

from srgan.config import ConfigError, check_experiments
from srgan.io import find_images

SCHEMA = "../schemas/config.schema.yaml"
DATA_BASE_MB, DATA_BYTES_PER_PIXEL = 1000, 120
STAGES = ["srresnet", "srgan"]
METHODS = ["bicubic"] + STAGES
# The conda envs of `--sdm conda`, one per concern (envs/*.yaml say which rules use them); they hold
# third-party packages only, and srgan comes from this checkout's src/ (see the Snakefile).
DATA_ENV = "../../envs/data.yaml"
TORCH_ENV = "../../envs/torch.yaml"
REPORT_ENV = "../../envs/report.yaml"


def deep_merge(base, overrides):
    """``base`` with ``overrides`` merged in, key by key at every level (an experiment's config)."""
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
    """8 hex digits of a JSON value: keys of shared outputs that change when the value does."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8]


def store_key(cfg):
    """Readable key of a training image store: the dataset and the scale of its LR."""
    return f"{cfg['train_set']}-x{cfg['scale']}"


def pretrain_slice(cfg):
    """Every setting that changes the SRResNet's weights; equal slices share one SRResNet.
    Validation sets, the device, threads, compile and checkpoint_every do not change them.
    """
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
    """Key of a shared SRResNet: its variant and blocks, and a hash of its pretrain_slice."""
    return f"{cfg['model']['variant']}{cfg['model']['num_blocks']}-{short_hash(pretrain_slice(cfg))}"


def scoring_slice(cfg):
    """Every setting besides the generator and the test set that changes a metrics CSV; equal
    slices share one bicubic baseline and one evaluation of a shared SRResNet."""
    return {"scale": cfg["scale"], "metrics": cfg["metrics"], "lpips": cfg["lpips"]}


def scoring_key(cfg):
    """Key of a scoring: its scale and protocol (readable), and a hash of its scoring_slice."""
    return (
        f"x{cfg['scale']}-{cfg['metrics']['protocol']}-{short_hash(scoring_slice(cfg))}"
    )


def validation_key(cfg):
    """Key of a per-snapshot evaluation (a history): its scoring and its validation sets, in order."""
    return f"{scoring_key(cfg)}-{short_hash(cfg['val_sets'])}"


def lpips_key(cfg):
    """Key of an LPIPS decision: a hash of the lpips settings, the only ones it depends on."""
    return short_hash(cfg["lpips"])


def model_name(exp, stage):
    """A trained generator's folder under results/: the experiment's shared SRResNet
    (pretrain/<key>) or its own SRGAN (<exp>/srgan). Its evaluations are written beside it.
    """
    if stage == "srresnet":
        return f"pretrain/{pretrain_key(EXPERIMENTS[exp])}"
    return f"{exp}/srgan"


def shared_by(key):
    """{key(cfg): cfg of the first experiment with that key}: one job for experiments that share it."""
    shared = {}
    for cfg in EXPERIMENTS.values():
        shared.setdefault(key(cfg), cfg)
    return shared


def ablation_test_sets(experiments):
    """The test sets that every experiment evaluates, in the first one's order: the ablation's columns."""
    first, *others = experiments.values()
    return [
        name
        for name in first["test_sets"]
        if all(name in cfg["test_sets"] for cfg in others)
    ]


def check_ablation(experiments):
    """With several experiments, the ablation table compares them cell by cell: they must be
    scored alike (scale, metrics, lpips) and share a test set. Stop before any job otherwise.
    """
    if len(experiments) < 2:
        return
    problems = []
    for key in scoring_slice(next(iter(experiments.values()))):
        values = {name: cfg[key] for name, cfg in experiments.items()}
        if len({json.dumps(value, sort_keys=True) for value in values.values()}) > 1:
            listed = ", ".join(f"{name}: {value}" for name, value in values.items())
            problems.append(f"`{key}` differs between experiments ({listed})")
    if not ablation_test_sets(experiments):
        listed = ", ".join(
            f"{name}: {cfg['test_sets']}" for name, cfg in experiments.items()
        )
        problems.append(f"no test set is evaluated by every experiment ({listed})")
    if problems:
        raise ConfigError(
            "the ablation table (results/ablation/) of several experiments compares them cell by "
            "cell, so they must be scored alike:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
            + "\nGive them equal settings, or run the odd ones from a config of their own."
        )


EXPERIMENTS = dict(sorted(load_experiments(config).items()))
check_ablation(EXPERIMENTS)
DATASETS = {}
for _name, _cfg in EXPERIMENTS.items():
    for _dataset, _spec in _cfg["datasets"].items():
        if DATASETS.setdefault(_dataset, _spec) != _spec:
            raise ValueError(
                f"dataset {_dataset!r} is defined differently by two experiments"
            )
STORES = shared_by(store_key)
PRETRAINS = shared_by(pretrain_key)
SCORINGS = shared_by(scoring_key)
VALIDATIONS = shared_by(validation_key)
LPIPS_SETTINGS = shared_by(lpips_key)
# The first experiment that trains (or shares) a generator says how its jobs run.
MODELS = {}
for _name in EXPERIMENTS:
    for _stage in STAGES:
        MODELS.setdefault(model_name(_name, _stage), EXPERIMENTS[_name])


wildcard_constraints:
    exp="|".join(EXPERIMENTS),
    model="|".join(MODELS),
    scoring="|".join(SCORINGS),
    validation="|".join(VALIDATIONS),
    lpips="|".join(LPIPS_SETTINGS),
    dataset="[A-Za-z0-9_.-]+",
    stage="srresnet|srgan",
    store="[A-Za-z0-9_.-]+",
    pretrain="[A-Za-z0-9_.-]+",
    scale="[0-9]+",


# -- params functions: a config value of the experiment, or of the shared work, of a job --------


def config_value(cfg, keys):
    """The value at the nested ``keys`` of a config."""
    for key in keys:
        cfg = cfg[key]
    return cfg


def keyed_param(table, wildcard, keys):
    """A params function: the value at ``keys`` in the config that ``table`` holds under the job's
    ``wildcard`` (an experiment, or the first experiment of a piece of shared work)."""

    def get(wildcards):
        return config_value(table[getattr(wildcards, wildcard)], keys)

    return get


def exp_param(*keys):
    """The value at ``keys`` in the config of the job's experiment."""
    return keyed_param(EXPERIMENTS, "exp", keys)


def pretrain_param(*keys):
    """The value at ``keys`` in the config of the job's shared SRResNet."""
    return keyed_param(PRETRAINS, "pretrain", keys)


def store_param(*keys):
    """The value at ``keys`` in the config of the job's image store."""
    return keyed_param(STORES, "store", keys)


def scoring_param(*keys):
    """The value at ``keys`` in the config of the job's scoring."""
    return keyed_param(SCORINGS, "scoring", keys)


def validation_param(*keys):
    """The value at ``keys`` in the config of the job's per-snapshot evaluation."""
    return keyed_param(VALIDATIONS, "validation", keys)


def lpips_param(*keys):
    """The value at ``keys`` in the config of the job's LPIPS decision."""
    return keyed_param(LPIPS_SETTINGS, "lpips", keys)


def job_config(wildcards):
    """The config of a job's experiment (or of the first experiment sharing its generator,
    its pretraining, its image store, or, for a dataset's job, the first experiment)."""
    if "model" in wildcards.keys():
        return MODELS[wildcards.model]
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
        "cuda_graphs": cfg["cuda_graphs"],
        "checkpoint_every": cfg["checkpoint_every"],
        "tile": cfg["tile"],
        "max_image_pixels": cfg["max_image_pixels"],
    }


def get_threads(wildcards):
    """The job's threads (config key threads), which its run settings pass on to torch."""
    return job_config(wildcards)["threads"]


def get_dataset_spec(wildcards):
    """The dataset's config entry (one definition, whichever experiments use it)."""
    return DATASETS[wildcards.dataset]


def get_eval_scale(wildcards):
    """The scale of evaluation pairs, from their folder name (x<scale>)."""
    return int(wildcards.scale)


def get_copy_tmp(wildcards, output):
    """A temporary name beside the copied generator, then a rename: never a half-copied file
    under the output name, and a rerun overwrites what a killed copy left."""
    return str(Path(output.generator).with_name(".tmp-generator.pt.copy"))


def get_smoke_scale(wildcards):
    """Whether the experiment trains on scikit-image's photographs: its tables then say that
    their numbers are not comparable with the paper's."""
    cfg = EXPERIMENTS[wildcards.exp]
    return cfg["datasets"][cfg["train_set"]]["source"] == "skimage"


def get_curves_bicubic_sets(wildcards):
    """The validation sets that are also test sets: the curves draw their bicubic level."""
    cfg = EXPERIMENTS[wildcards.exp]
    return [name for name in cfg["val_sets"] if name in cfg["test_sets"]]


# -- where things are: shared work is found by its key ------------------------------------------


def store_dir(cfg):
    """The training image store of an experiment (shared by its train_set and scale)."""
    return output_path(rules.prepare_train.output.store, store=store_key(cfg))


def eval_dir(cfg, dataset):
    """The evaluation pairs of a dataset at an experiment's scale."""
    return output_path(
        rules.prepare_eval.output.pairs, dataset=dataset, scale=cfg["scale"]
    )


def eval_dirs(cfg, names):
    """The evaluation pairs of several datasets at an experiment's scale, in order."""
    return [eval_dir(cfg, name) for name in names]


def output_path(pattern, **wildcards):
    """A rule's output pattern (rules.X.output.name) with its wildcards filled in: how a rule
    names another rule's output when their wildcards differ."""
    return str(pattern).format(**wildcards)


def lpips_status_file(cfg):
    """The LPIPS decision (rule lpips_network) that an experiment's evaluations and tables read."""
    return output_path(rules.lpips_network.output.status, lpips=lpips_key(cfg))


def evaluation_output(exp, method, output, dataset):
    """One output (metrics or images) of a method's evaluation of an experiment on a test set:
    the bicubic baseline and the SRResNet's evaluation are the ones that its scoring (and its
    SRResNet) share with other experiments."""
    scoring = scoring_key(EXPERIMENTS[exp])
    if method == "bicubic":
        pattern = getattr(rules.bicubic_baseline.output, output)
        return output_path(pattern, scoring=scoring, dataset=dataset)
    pattern = getattr(rules.evaluate.output, output)
    return output_path(
        pattern, model=model_name(exp, method), scoring=scoring, dataset=dataset
    )


def metrics_csv(exp, method, dataset):
    """The per-image metrics CSV of a method of an experiment on a test set."""
    return evaluation_output(exp, method, "metrics", dataset)


def snapshot_evaluation(exp, stage, output):
    """One output (history or progress) of the per-snapshot evaluation of an experiment's stage."""
    pattern = getattr(rules.evaluate_snapshots.output, output)
    return output_path(
        pattern,
        model=model_name(exp, stage),
        validation=validation_key(EXPERIMENTS[exp]),
    )


# -- input functions ------------------------------------------------------------------------------


def get_store_images(wildcards):
    """The HR images of the store's training set."""
    return output_path(
        rules.prepare_dataset.output.hr, dataset=STORES[wildcards.store]["train_set"]
    )


def get_pretrain_store(wildcards):
    """The image store that the shared SRResNet trains on."""
    return store_dir(PRETRAINS[wildcards.pretrain])


def get_experiment_store(wildcards):
    """The image store that the experiment's SRGAN trains on."""
    return store_dir(EXPERIMENTS[wildcards.exp])


def get_pretrained_generator(wildcards):
    """The shared SRResNet that the experiment's SRGAN starts from."""
    return output_path(
        rules.pretrain.output.generator,
        pretrain=pretrain_key(EXPERIMENTS[wildcards.exp]),
    )


def get_scoring_pairs(wildcards):
    """The evaluation pairs of the job's test set at the scoring's scale."""
    return eval_dir(SCORINGS[wildcards.scoring], wildcards.dataset)


def get_scoring_lpips(wildcards):
    """The LPIPS decision of the job's scoring."""
    return lpips_status_file(SCORINGS[wildcards.scoring])


def get_validation_pairs(wildcards):
    """The evaluation pairs of the validation sets of a per-snapshot evaluation, in order."""
    cfg = VALIDATIONS[wildcards.validation]
    return eval_dirs(cfg, cfg["val_sets"])


def get_validation_lpips(wildcards):
    """The LPIPS decision of a per-snapshot evaluation's scoring."""
    return lpips_status_file(VALIDATIONS[wildcards.validation])


def get_experiment_lpips(wildcards):
    """The LPIPS decision of the experiment, which its tables and figures report."""
    return lpips_status_file(EXPERIMENTS[wildcards.exp])


def get_test_pairs(wildcards):
    """The evaluation pairs of the job's test set at the experiment's scale."""
    return eval_dir(EXPERIMENTS[wildcards.exp], wildcards.dataset)


def get_progress_pairs(wildcards):
    """The first validation set's pairs: the progression figure's crop comes from it."""
    cfg = EXPERIMENTS[wildcards.exp]
    return eval_dirs(cfg, cfg["val_sets"][:1])


def get_tables_metrics(wildcards):
    """The metrics CSVs of the results tables, each method's test sets in turn (METHODS order)."""
    exp = wildcards.exp
    return [
        metrics_csv(exp, method, name)
        for method in METHODS
        for name in EXPERIMENTS[exp]["test_sets"]
    ]


def get_bicubic_metrics(wildcards):
    """The bicubic metrics CSV of each test set of the experiment, in order."""
    return [
        metrics_csv(wildcards.exp, "bicubic", name)
        for name in EXPERIMENTS[wildcards.exp]["test_sets"]
    ]


def get_curves_bicubic(wildcards):
    """The bicubic metrics CSV of each of get_curves_bicubic_sets, in order."""
    return [
        metrics_csv(wildcards.exp, "bicubic", name)
        for name in get_curves_bicubic_sets(wildcards)
    ]


def get_comparison_images(wildcards):
    """The SR images of each method on the job's test set, in METHODS order."""
    return [
        evaluation_output(wildcards.exp, method, "images", wildcards.dataset)
        for method in METHODS
    ]


def get_comparison_metrics(wildcards):
    """The metrics CSV of each method on the job's test set, in METHODS order."""
    return [metrics_csv(wildcards.exp, method, wildcards.dataset) for method in METHODS]


def get_histories(wildcards):
    """The history CSV of each stage of the experiment, in STAGES order."""
    return [snapshot_evaluation(wildcards.exp, stage, "history") for stage in STAGES]


def get_srgan_history(wildcards):
    """The experiment's SRGAN history: its per-epoch trajectory in the perception figure."""
    return snapshot_evaluation(wildcards.exp, "srgan", "history")


def get_progress(wildcards):
    """The progression crops of the job's stage of the experiment."""
    return snapshot_evaluation(wildcards.exp, wildcards.stage, "progress")


def get_upscale_photos(wildcards):
    """The photos of the experiment's upscale.folder: adding or changing one reruns rule upscale."""
    return [
        str(path)
        for path in find_images(EXPERIMENTS[wildcards.exp]["upscale"]["folder"])
    ]


# Keys that say how a job runs, never what it produces (get_run_settings): not recorded, so
# that editing them reruns nothing.
RUN_KEYS = [
    "threads",
    "device",
    "compile",
    "cuda_graphs",
    "checkpoint_every",
    "tile",
    "max_image_pixels",
]


def get_recorded_config(wildcards):
    """The resolved config of an experiment (defaults filled in), as results/<exp>/config.yaml
    records it: everything that shapes its results."""
    return {
        key: value
        for key, value in EXPERIMENTS[wildcards.exp].items()
        if key not in RUN_KEYS
    }


def store_mem_mb(wildcards, input):
    """mem_mb of a data job that decodes its input images one at a time: a base for Python, torch
    and numba, plus a per-pixel cost of the largest image (measured by
    benchmarks/prepare_memory.py). The PNG headers give the sizes without decoding anything.
    """
    return DATA_BASE_MB + math.ceil(
        largest_png_pixels(input.hr) * DATA_BYTES_PER_PIXEL / 2**20
    )


def largest_png_pixels(folder):
    """The pixel count of the largest PNG in a folder, read from the PNG headers."""
    if not Path(
        folder
    ).is_dir():  # during planning: Snakemake marks the value <TBD> for now
        raise FileNotFoundError(errno.ENOENT, "not made yet", str(folder))
    largest = 0
    for path in Path(folder).glob("*.png"):
        with open(path, "rb") as handle:
            header = handle.read(24)  # signature, IHDR length and type, width, height
        if header[12:16] == b"IHDR":
            largest = max(
                largest,
                int.from_bytes(header[16:20], "big")
                * int.from_bytes(header[20:24], "big"),
            )
    return largest


def perception_methods(wildcards):
    """(label, metrics CSV) of each point of the perception-distortion figure of a test set: the
    experiment's bicubic, SRResNet and SRGAN, then the SRGAN of every other experiment (an
    ablation) that evaluates the same test set (check_ablation: scored alike)."""
    exp, dataset = wildcards.exp, wildcards.dataset
    labels = {"bicubic": "Bicubic", "srresnet": "SRResNet", "srgan": "SRGAN"}
    points = [(labels[method], metrics_csv(exp, method, dataset)) for method in METHODS]
    for other, cfg in EXPERIMENTS.items():
        if other != exp and dataset in cfg["test_sets"]:
            points.append((f"SRGAN ({other})", metrics_csv(other, "srgan", dataset)))
    return points


def get_perception_metrics(wildcards):
    """The metrics CSV of each point of the perception-distortion figure."""
    return [path for _, path in perception_methods(wildcards)]


def get_perception_labels(wildcards):
    """The label of each point of the perception-distortion figure."""
    return [label for label, _ in perception_methods(wildcards)]


# -- the ablation table of several experiments ---------------------------------------------------


def get_ablation_experiments(wildcards):
    """Each experiment's row of the ablation table as plain values for
    srgan.tables.write_ablation: its content loss, and the files its cells come from (experiments
    that share an SRResNet name the very same SRResNet files)."""
    test_sets = ablation_test_sets(EXPERIMENTS)
    return {
        exp: {
            "content": cfg["gan"]["content"],
            "vgg_layer": cfg["gan"]["vgg_layer"],
            "srresnet": {
                name: metrics_csv(exp, "srresnet", name) for name in test_sets
            },
            "srgan": {name: metrics_csv(exp, "srgan", name) for name in test_sets},
            "content_network": output_path(
                rules.train_gan.output.content_network, exp=exp
            ),
            "lpips": lpips_status_file(cfg),
        }
        for exp, cfg in EXPERIMENTS.items()
    }


def get_ablation_inputs(wildcards):
    """Every file that get_ablation_experiments names, by kind, each once."""
    rows = get_ablation_experiments(wildcards).values()
    return {
        "srresnet": list(
            dict.fromkeys(path for row in rows for path in row["srresnet"].values())
        ),
        "srgan": [path for row in rows for path in row["srgan"].values()],
        "content": [row["content_network"] for row in rows],
        "lpips": list(dict.fromkeys(row["lpips"] for row in rows)),
    }


def get_ablation_test_sets(wildcards):
    """The ablation table's columns: the test sets that every experiment evaluates."""
    return ablation_test_sets(EXPERIMENTS)


def get_ablation_protocol(wildcards):
    """The metric protocol of the ablation (check_ablation: the same for every experiment)."""
    return next(iter(EXPERIMENTS.values()))["metrics"]["protocol"]


def get_ablation_scale(wildcards):
    """The scale of the ablation (check_ablation: the same for every experiment)."""
    return next(iter(EXPERIMENTS.values()))["scale"]


# -- the targets of rule all -------------------------------------------------------------------


def all_outputs():
    """Every final output: each experiment's tables, resolved config, figures (the progression
    figure needs a validation set) and upscaled photos (only with upscale.folder), and, with
    several experiments, the ablation table."""
    outputs = []
    for exp, cfg in EXPERIMENTS.items():
        outputs += expand(
            [
                rules.tables.output.csv,
                rules.bicubic_table.output.csv,
                rules.record_config.output.config,
                *rules.figure_curves.output,
            ],
            exp=exp,
        )
        outputs += expand(
            rules.figure_comparison.output.figure, exp=exp, dataset=cfg["test_sets"]
        )
        outputs += expand(
            rules.figure_perception.output.figure, exp=exp, dataset=cfg["test_sets"]
        )
        if cfg["val_sets"]:
            outputs += expand(
                rules.figure_progress.output.figure, exp=exp, stage=STAGES
            )
        if cfg["upscale"]["folder"] is not None:
            outputs += expand(rules.upscale.output.photos, exp=exp, stage=STAGES)
    if len(EXPERIMENTS) > 1:
        outputs += expand(rules.ablation.output.csv)
    return outputs
