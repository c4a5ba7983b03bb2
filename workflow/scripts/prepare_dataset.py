"""Rule prepare_dataset: materialise one dataset (skimage, folder, or a verified download) as
resources/datasets/<name>/HR/*.png + MANIFEST."""

from pathlib import Path

from srgan.datasets import prepare_dataset_from_spec
from srgan.io import start_rule


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    prepare_dataset_from_spec(dict(smk.params.spec), out_dir=Path(smk.output.hr),
                              manifest=Path(smk.output.manifest),
                              download_dir=Path(smk.params.download_dir),
                              max_pixels=smk.params.run["max_image_pixels"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
