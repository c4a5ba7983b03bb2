"""Rule tables: results.csv and results.md (rows bicubic / SRResNet / SRGAN, columns test sets)."""

import json
from pathlib import Path

from srgan.io import log_to
from srgan.tables import results_table, table_notes, write_tables


def main(smk) -> None:
    log_to(smk.log[0])
    test_sets = list(smk.params.test_sets)
    keys = [(method, name) for method in smk.params.methods for name in test_sets]
    table = results_table(dict(zip(keys, map(Path, smk.input.metrics))), test_sets)
    content = json.loads(Path(smk.input.content_network).read_text())
    notes = table_notes(protocol=smk.params.protocol, scale=smk.params.scale,
                        content_weights=content["weights"], smoke_scale=smk.params.smoke_scale)
    write_tables(table, test_sets, notes, csv_path=Path(smk.output.csv),
                 markdown_path=Path(smk.output.markdown))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
