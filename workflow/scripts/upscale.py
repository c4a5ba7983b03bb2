"""Rule upscale: the configured photo folder, upscaled by one trained generator."""

from pathlib import Path

import torch

from srgan.io import start_rule
from srgan.upscale import upscale_folder


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    torch.set_num_threads(smk.threads)
    run = smk.params.run
    upscale_folder(Path(smk.params.folder), Path(smk.output.photos), Path(smk.input.generator),
                   device=run["device"], tile=run["tile"], fmt=smk.params.format,
                   quality=smk.params.quality, max_pixels=run["max_image_pixels"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
