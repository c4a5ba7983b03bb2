"""Rule pretrain: SRResNet with pixel MSE; writes the generator, its training log and snapshots."""

from pathlib import Path

import torch

from srgan.io import start_rule
from srgan.training import pretrain_from_config


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    torch.set_num_threads(smk.threads)
    pretrain_from_config(Path(smk.input.store), patches=smk.params.patches, model=smk.params.model,
                         train=smk.params.train, scale=smk.params.scale, seed=smk.params.seed,
                         precision=smk.params.precision, run=smk.params.run,
                         resume_dir=Path(smk.params.resume), generator_out=Path(smk.output.generator),
                         train_log_out=Path(smk.output.train_log),
                         snapshots_out=Path(smk.output.snapshots))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
