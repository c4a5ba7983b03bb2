"""Rule record_config: the resolved config of an experiment, as YAML beside its results and as
a page of the HTML report."""

from pathlib import Path

from srgan.io import start_rule
from srgan.tables import write_config_record


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    write_config_record(dict(smk.params.config), experiment=smk.wildcards.exp,
                        yaml_out=Path(smk.output.config), html_out=Path(smk.output.html))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
