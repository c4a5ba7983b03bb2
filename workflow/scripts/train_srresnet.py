"""Rule pretrain: SRResNet with pixel MSE; writes the generator checkpoint and its history CSV."""

from pathlib import Path

import torch

from srgan.evaluate import pick_device
from srgan.io import log_to
from srgan.training import run_pretrain


def main(smk) -> None:
    log_to(smk.log[0])
    torch.set_num_threads(smk.threads)
    model, train = smk.params.model, smk.params.train
    run_pretrain(
        hr_path=Path(smk.input.hr), lr_path=Path(smk.input.lr),
        val_dirs=dict(zip(smk.params.val_sets, map(Path, smk.input.val))),
        variant=model["variant"], num_blocks=model["num_blocks"], scale=smk.params.scale,
        epochs=train["epochs"], iterations=train["iterations"], batch_size=train["batch_size"], lr=train["lr"],
        lr_schedule=train["lr_schedule"], seed=smk.params.seed,
        device=pick_device(smk.params.device), precision=smk.params.precision,
        compile=smk.params.compile, checkpoint_every=smk.params.checkpoint_every,
        resume_path=Path(smk.params.resume),
        generator_out=Path(smk.output.generator), history_out=Path(smk.output.history),
        snapshots_out=Path(smk.output.snapshots))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
