"""Rule figure_curves: PSNR/SSIM per epoch, the losses, and D's probabilities."""

from pathlib import Path

from srgan.charts import plot_training_figures
from srgan.io import start_rule


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    plot_training_figures([Path(p) for p in smk.input.histories], stages=list(smk.params.stages),
                          val_sets=list(smk.params.val_sets),
                          bicubic_csvs=[Path(p) for p in smk.input.bicubic],
                          bicubic_sets=list(smk.params.bicubic_sets), protocol=smk.params.protocol,
                          dpi=smk.params.dpi, curves_out=Path(smk.output.curves),
                          losses_out=Path(smk.output.losses),
                          discriminator_out=Path(smk.output.discriminator))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
