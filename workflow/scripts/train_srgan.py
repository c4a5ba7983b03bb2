"""Rule train_gan: SRGAN from the pretrained SRResNet; writes G, D, the content-network record,
the training log and the snapshots."""

from pathlib import Path

import torch

from srgan.io import start_rule
from srgan.training import gan_from_config


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    torch.set_num_threads(smk.threads)
    gan_from_config(Path(smk.input.generator), Path(smk.input.store), gan=smk.params.gan,
                    vgg=smk.params.vgg, patches=smk.params.patches, seed=smk.params.seed,
                    precision=smk.params.precision, run=smk.params.run,
                    resume_dir=Path(smk.params.resume), generator_out=Path(smk.output.generator),
                    discriminator_out=Path(smk.output.discriminator),
                    content_network_out=Path(smk.output.content_network),
                    train_log_out=Path(smk.output.train_log), snapshots_out=Path(smk.output.snapshots))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
