"""Rule train_gan: SRGAN from the pretrained SRResNet; writes G, D, the content-network record,
the training log and the snapshots."""

from pathlib import Path

import torch

from srgan.evaluate import pick_device
from srgan.io import start_rule
from srgan.training import run_gan


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    run = smk.params.run
    torch.set_num_threads(run["threads"])
    gan, vgg, patches = smk.params.gan, smk.params.vgg, smk.params.patches
    run_gan(
        generator_checkpoint=Path(smk.input.generator), store_dir=Path(smk.input.store),
        hr_size=patches["hr_size"], per_image=patches["per_image"], sampling=patches["sampling"],
        augment=patches["augment"], epochs=gan["epochs"],
        iterations=gan["iterations"], eval_every=gan["eval_every"],
        lr_step_iterations=gan["lr_step_iterations"], batch_size=gan["batch_size"], lr=gan["lr"],
        lr_step_epochs=gan["lr_step_epochs"], content=gan["content"], vgg_layer=gan["vgg_layer"],
        adversarial_weight=gan["adversarial_weight"], vgg_weights_path=vgg["weights_path"],
        allow_random_fallback=vgg["allow_random_fallback"], seed=smk.params.seed,
        precision=smk.params.precision, device=pick_device(run["device"]), compile=run["compile"],
        checkpoint_every=run["checkpoint_every"], resume_dir=Path(smk.params.resume),
        generator_out=Path(smk.output.generator), discriminator_out=Path(smk.output.discriminator),
        content_network_out=Path(smk.output.content_network),
        train_log_out=Path(smk.output.train_log), snapshots_out=Path(smk.output.snapshots))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
