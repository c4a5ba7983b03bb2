"""Rule record_config: the resolved config of an experiment, as YAML beside its results and as
a page of the HTML report."""

import yaml

from srgan.io import start_rule, write_text
from srgan.tables import config_html

HEADER = ("# The resolved config of this experiment (defaults filled in): every key that shapes its\n"
          "# results. How it ran (threads, device, compile, checkpoint_every, tile,\n"
          "# max_image_pixels) is in the logs.\n")


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    text = HEADER + yaml.safe_dump(dict(smk.params.config), sort_keys=True)
    write_text(smk.output.config, text)
    write_text(smk.output.html, config_html(text, title=f"Config of experiment {smk.wildcards.exp}"))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
