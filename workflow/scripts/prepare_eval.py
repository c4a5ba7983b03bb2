"""Rule prepare_eval: mod-cropped HR and MATLAB-bicubic LR PNG pairs of an evaluation set."""

from pathlib import Path

from srgan.io import start_rule
from srgan.patches import prepare_eval_set


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    prepare_eval_set(Path(smk.input.hr), Path(smk.output.pairs), scale=smk.params.scale)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
