"""Rule figure_curves: PSNR/SSIM per epoch, the losses, and D's probabilities."""

from pathlib import Path

import pandas as pd

from srgan.charts import plot_curves, plot_discriminator, plot_losses
from srgan.io import start_rule
from srgan.tables import read_mean


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    histories = {stage: pd.read_csv(path) for stage, path in zip(smk.params.stages, smk.input.histories)}
    bicubic = {name: read_mean(Path(path)) for name, path in zip(smk.params.bicubic_sets, smk.input.bicubic)}
    plot_curves(histories, list(smk.params.val_sets), protocol=smk.params.protocol,
                out=Path(smk.output.curves), dpi=smk.params.dpi, bicubic=bicubic)
    plot_losses(histories, out=Path(smk.output.losses), dpi=smk.params.dpi)
    plot_discriminator(histories, out=Path(smk.output.discriminator), dpi=smk.params.dpi)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
