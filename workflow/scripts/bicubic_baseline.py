"""Rule bicubic_baseline: per-image PSNR/SSIM/LPIPS CSV and SR images of MATLAB-bicubic upscaling
on one test set."""

from pathlib import Path

import torch

from srgan.evaluate import evaluate_bicubic
from srgan.io import start_rule


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    torch.set_num_threads(smk.threads)
    evaluate_bicubic(Path(smk.input.data), lpips_status=Path(smk.input.lpips),
                     lpips_weights=smk.params.lpips_weights, scale=smk.params.scale,
                     protocol=smk.params.protocol, round_y=smk.params.round_y,
                     metrics_out=Path(smk.output.metrics), images_out=Path(smk.output.images))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
