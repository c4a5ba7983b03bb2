"""Rule lpips_network: decide once per experiment whether LPIPS can be computed (its AlexNet
weights found or downloaded), so that evaluation, tables and figures agree and say why not."""

import json

from srgan.evaluate import lpips_status
from srgan.io import start_rule, write_text


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    status = lpips_status(weights_path=smk.params.weights_path,
                          allow_unavailable=smk.params.allow_unavailable)
    write_text(smk.output.status, json.dumps(status, indent=1) + "\n")


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
