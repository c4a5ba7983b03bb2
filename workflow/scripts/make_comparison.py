"""Rule figure_comparison: LR | bicubic | SRResNet | SRGAN | HR on one test image, with a zoomed
inset where SRResNet and SRGAN differ most (the report's Fig. 16, the paper's Fig. 6)."""

from pathlib import Path

from srgan.io import start_rule
from srgan.panels import plot_comparison_from_files


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    plot_comparison_from_files(Path(smk.input.data), [Path(p) for p in smk.input.images],
                               [Path(p) for p in smk.input.metrics], methods=list(smk.params.methods),
                               dataset=smk.wildcards.dataset, scale=smk.params.scale,
                               protocol=smk.params.protocol, crop=smk.params.crop,
                               inset_size=smk.params.inset, dpi=smk.params.dpi,
                               out=Path(smk.output.figure))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
