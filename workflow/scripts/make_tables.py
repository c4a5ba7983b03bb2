"""Rule tables: results.csv / .md / .tex (rows bicubic / SRResNet / SRGAN, columns test sets),
with the paper's Table 2 and our difference from it where the test set is one of the paper's."""

import json
from pathlib import Path

from srgan.io import start_rule, write_text
from srgan.tables import (paper_comparison, paper_markdown, results_table, table_notes, to_html,
                          to_latex, to_markdown, write_table)


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    test_sets = list(smk.params.test_sets)
    keys = [(method, name) for method in smk.params.methods for name in test_sets]
    table = results_table(dict(zip(keys, map(Path, smk.input.metrics))), test_sets)
    content = json.loads(Path(smk.input.content_network).read_text())
    lpips = json.loads(Path(smk.input.lpips).read_text())
    notes = table_notes(protocol=smk.params.protocol, scale=smk.params.scale,
                        content_weights=content["weights"], smoke_scale=smk.params.smoke_scale,
                        lpips_unavailable=None if lpips["available"] else lpips["reason"])
    markdown = to_markdown(table, test_sets, notes)
    comparison = paper_comparison(table, test_sets)
    if smk.params.protocol == "standard" and smk.params.scale == 4 and len(comparison):
        markdown += ("\n### Ledig et al. 2017, Table 2, and our difference\n\n"
                     + paper_markdown(comparison) + "\nThe paper's SSIM came from the daala tool and "
                     "reads higher than the standard SSIM; its PSNR is comparable.\n")
    write_text(smk.output.html, to_html(table, test_sets, notes,
                                        title=f"Results of experiment {smk.wildcards.exp}"))
    write_table(table, markdown, csv_path=Path(smk.output.csv), markdown_path=Path(smk.output.markdown))
    write_text(smk.output.latex, to_latex(table, test_sets,
                                         f"x{smk.params.scale} super-resolution, protocol {smk.params.protocol}",
                                         notes))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
