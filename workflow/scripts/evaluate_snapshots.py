"""Rule evaluate_snapshots: the per-epoch PSNR/SSIM/LPIPS of a training stage, from its snapshots; the
stage's history CSV and the progression crops."""

from pathlib import Path

import torch

from srgan.evaluate import evaluate_snapshots
from srgan.io import start_rule


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    torch.set_num_threads(smk.threads)
    evaluate_snapshots(Path(smk.input.snapshots), Path(smk.input.train_log),
                       val_sets=list(smk.params.val_sets), val_dirs=[Path(p) for p in smk.input.val],
                       device=smk.params.run["device"], tile=smk.params.run["tile"],
                       lpips_status=Path(smk.input.lpips), lpips_weights=smk.params.lpips_weights,
                       scale=smk.params.scale, protocol=smk.params.protocol,
                       round_y=smk.params.round_y, history_out=Path(smk.output.history),
                       progress_out=Path(smk.output.progress))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
