"""Rule bicubic_table: our bicubic PSNR/SSIM per test set beside the published x4 baselines."""

from pathlib import Path

from srgan.io import start_rule
from srgan.tables import write_bicubic_table


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    write_bicubic_table([Path(p) for p in smk.input.metrics], test_sets=list(smk.params.test_sets),
                        protocol=smk.params.protocol, scale=smk.params.scale,
                        round_y=smk.params.round_y, csv_out=Path(smk.output.csv),
                        markdown_out=Path(smk.output.markdown))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
