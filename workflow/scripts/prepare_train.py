"""Rule prepare_train: the training image store (mod-cropped HR + MATLAB-bicubic LR, uint8,
memory-mapped), written one image at a time."""

from pathlib import Path

from srgan.io import start_rule
from srgan.patches import prepare_train_store


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    prepare_train_store(Path(smk.input.hr), Path(smk.output.store), scale=smk.params.scale)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
