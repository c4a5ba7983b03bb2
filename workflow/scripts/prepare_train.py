"""Rule prepare_train: the training image store (mod-cropped HR + MATLAB-bicubic LR, uint8,
memory-mapped), written one image at a time."""

from pathlib import Path

from srgan.io import list_images, start_rule
from srgan.patches import write_image_store


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    write_image_store(list_images(smk.input.hr), Path(smk.output.store), scale=smk.params.scale)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
