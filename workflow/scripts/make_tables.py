"""Rule tables: results.csv / .md / .tex / .html (rows bicubic / SRResNet / SRGAN, columns test
sets), with the paper's Table 2 and our difference from it where the test set is one of the paper's."""

from pathlib import Path

from srgan.io import start_rule
from srgan.tables import write_results_tables


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    write_results_tables([Path(p) for p in smk.input.metrics], methods=list(smk.params.methods),
                         test_sets=list(smk.params.test_sets),
                         content_network=Path(smk.input.content_network),
                         lpips_status=Path(smk.input.lpips), protocol=smk.params.protocol,
                         scale=smk.params.scale, smoke_scale=smk.params.smoke_scale,
                         experiment=smk.wildcards.exp, csv_out=Path(smk.output.csv),
                         markdown_out=Path(smk.output.markdown), latex_out=Path(smk.output.latex),
                         html_out=Path(smk.output.html))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
