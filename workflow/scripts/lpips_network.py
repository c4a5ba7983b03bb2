"""Rule lpips_network: decide once per LPIPS setting whether LPIPS can be computed (its AlexNet
weights found or downloaded), so that evaluation, tables and figures agree and say why not."""

from pathlib import Path

from srgan.evaluate import write_lpips_status
from srgan.io import start_rule


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    write_lpips_status(Path(smk.output.status), weights_path=smk.params.weights_path,
                       allow_unavailable=smk.params.allow_unavailable)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
