"""Rule train_gan: SRGAN from the pretrained SRResNet; writes G, D, the content-network record
and the history CSV."""

from pathlib import Path

import torch

from srgan.evaluate import pick_device
from srgan.io import log_to
from srgan.training import run_gan


def main(smk) -> None:
    log_to(smk.log[0])
    torch.set_num_threads(smk.threads)
    gan, vgg = smk.params.gan, smk.params.vgg
    run_gan(
        generator_checkpoint=Path(smk.input.generator), hr_path=Path(smk.input.hr),
        lr_path=Path(smk.input.lr),
        val_dirs=dict(zip(smk.params.val_sets, map(Path, smk.input.val))),
        hr_size=smk.params.hr_size, scale=smk.params.scale, epochs=gan["epochs"],
        iterations=gan["iterations"], lr_step_iterations=gan["lr_step_iterations"],
        batch_size=gan["batch_size"], lr=gan["lr"], lr_step_epochs=gan["lr_step_epochs"],
        content=gan["content"], vgg_layer=gan["vgg_layer"],
        adversarial_weight=gan["adversarial_weight"], vgg_weights_path=vgg["weights_path"],
        allow_random_fallback=vgg["allow_random_fallback"], seed=smk.params.seed,
        device=pick_device(smk.params.device), precision=smk.params.precision,
        compile=smk.params.compile, checkpoint_every=smk.params.checkpoint_every,
        resume_path=Path(smk.params.resume),
        generator_out=Path(smk.output.generator), discriminator_out=Path(smk.output.discriminator),
        content_network_out=Path(smk.output.content_network), history_out=Path(smk.output.history),
        snapshots_out=Path(smk.output.snapshots))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
