# Config validation and the input functions. The config is read here, and only here; rules pass
# plain values to the scripts through params (so that a changed key reruns exactly its stages).

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml", set_default=True)

EXP = config["experiment"]
STAGES = ["srresnet", "srgan"]
ENV = "../../envs/srgan.yaml"


def _check_dataset_names():
    known = set(config["datasets"])
    for key in ("train_set", "test_sets", "val_sets"):
        names = config[key] if isinstance(config[key], list) else [config[key]]
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(
                f"config key {key!r} names {unknown}, which are not in datasets: {sorted(known)}"
            )
    if config["patches"]["hr_size"] % config["scale"]:
        raise ValueError(
            f"patches.hr_size {config['patches']['hr_size']} is not a multiple of scale {config['scale']}"
        )


_check_dataset_names()


wildcard_constraints:
    exp="[A-Za-z0-9_.-]+",
    dataset="[A-Za-z0-9_.-]+",
    stage="srresnet|srgan",


def eval_dirs(names):
    return [f"results/data/eval/{name}" for name in names]


def metrics_csvs(exp):
    methods = ["bicubic"] + STAGES
    return [
        f"results/{exp}/eval/{method}/{name}/metrics.csv"
        for method in methods
        for name in config["test_sets"]
    ]


def stage_checkpoint(wildcards):
    return f"results/{wildcards.exp}/{wildcards.stage}/generator.pt"


def all_outputs():
    return [
        f"results/{EXP}/tables/results.csv",
        f"results/{EXP}/tables/results.md",
        f"results/{EXP}/figures/curves.png",
        f"results/{EXP}/figures/comparison.png",
        f"results/{EXP}/tables/bicubic.md",
    ]
