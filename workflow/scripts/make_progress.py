"""Rule figure_progress: the report's Fig. 15, one validation crop at chosen epochs."""

from pathlib import Path

from srgan.io import start_rule
from srgan.panels import plot_progress_from_file


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    plot_progress_from_file(Path(smk.input.progress), Path(smk.input.data[0]), stage=smk.wildcards.stage,
                            epochs=list(smk.params.epochs), scale=smk.params.scale,
                            protocol=smk.params.protocol, round_y=smk.params.round_y,
                            dpi=smk.params.dpi, out=Path(smk.output.figure))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
