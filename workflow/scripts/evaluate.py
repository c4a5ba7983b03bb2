"""Rules bicubic_baseline and evaluate: per-image PSNR/SSIM/LPIPS CSV and SR images of one test set."""

import json
from pathlib import Path

import torch

from srgan.evaluate import (bicubic_predictor, evaluate_pairs, generator_predictor, load_generator,
                            lpips_from_status, pick_device, write_metrics_csv)
from srgan.io import atomic_dir, start_rule
from srgan.patches import load_eval_set


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    torch.set_num_threads(smk.threads)
    if "generator" in smk.input.keys():
        device = pick_device(smk.params.run["device"])
        predict = generator_predictor(load_generator(Path(smk.input.generator), device=device), device,
                                      tile=smk.params.run["tile"])
    else:
        predict = bicubic_predictor(smk.params.scale)
    lpips = lpips_from_status(json.loads(Path(smk.input.lpips).read_text()),
                              weights_path=smk.params.lpips_weights, scale=smk.params.scale,
                              protocol=smk.params.protocol)
    with atomic_dir(Path(smk.output.images)) as image_dir:
        frame = evaluate_pairs(load_eval_set(Path(smk.input.data)), predict, scale=smk.params.scale,
                               protocol=smk.params.protocol, round_y=smk.params.round_y,
                               image_dir=image_dir, lpips=lpips)
    write_metrics_csv(frame, Path(smk.output.metrics))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
