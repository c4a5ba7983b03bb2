"""Rule pretrain: SRResNet with pixel MSE; writes the generator, its training log and snapshots."""

from pathlib import Path

import torch

from srgan.evaluate import pick_device
from srgan.io import start_rule
from srgan.training import run_pretrain


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    run = smk.params.run
    torch.set_num_threads(run["threads"])
    model, train, patches = smk.params.model, smk.params.train, smk.params.patches
    run_pretrain(
        store_dir=Path(smk.input.store), hr_size=patches["hr_size"],
        per_image=patches["per_image"], sampling=patches["sampling"], augment=patches["augment"],
        variant=model["variant"], num_blocks=model["num_blocks"], scale=smk.params.scale,
        epochs=train["epochs"], iterations=train["iterations"], eval_every=train["eval_every"],
        batch_size=train["batch_size"], lr=train["lr"], lr_schedule=train["lr_schedule"],
        seed=smk.params.seed, precision=smk.params.precision, device=pick_device(run["device"]),
        compile=run["compile"], checkpoint_every=run["checkpoint_every"],
        resume_dir=Path(smk.params.resume), generator_out=Path(smk.output.generator),
        train_log_out=Path(smk.output.train_log), snapshots_out=Path(smk.output.snapshots))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
