"""Rule figure_perception: the methods on the perception-distortion plane (PSNR against LPIPS,
Blau and Michaeli 2018), with SRGAN's per-epoch trajectory; written also when LPIPS is unavailable."""

from pathlib import Path

from srgan.charts import plot_perception_from_files
from srgan.io import start_rule


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    plot_perception_from_files([Path(p) for p in smk.input.metrics], methods=list(smk.params.methods),
                               history_csv=Path(smk.input.history), lpips_status=Path(smk.input.lpips),
                               test_set=smk.params.test_set, out=Path(smk.output.figure),
                               dpi=smk.params.dpi)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
