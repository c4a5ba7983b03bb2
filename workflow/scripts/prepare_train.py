"""Rule prepare_train: random HR crops + MATLAB-bicubic LR crops into uint8 .npy arrays."""

from pathlib import Path

from srgan.io import list_images, start_rule
from srgan.patches import extract_patches


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    extract_patches(list_images(smk.input.hr), hr_size=smk.params.hr_size,
                    per_image=smk.params.per_image, scale=smk.params.scale, seed=smk.params.seed,
                    hr_out=Path(smk.output.hr), lr_out=Path(smk.output.lr))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
