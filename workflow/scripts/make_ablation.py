"""Rule ablation: the paper's Table 1 layout, one row per distinct SRResNet (naming the experiments
that share it) and one SRGAN row per experiment."""

from pathlib import Path

from srgan.io import start_rule
from srgan.tables import write_ablation


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    write_ablation(smk.params.experiments, test_sets=smk.params.test_sets, protocol=smk.params.protocol,
                   scale=smk.params.scale, csv_out=Path(smk.output.csv), markdown_out=Path(smk.output.markdown))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
