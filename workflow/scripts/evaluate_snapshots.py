"""Rule evaluate_snapshots: the per-epoch PSNR/SSIM/LPIPS of a training stage, from its snapshots; the
stage's history CSV and the progression crops."""

import json
from pathlib import Path

import pandas as pd
import torch

from srgan.evaluate import (load_val_sets, lpips_from_status, pick_device, score_snapshots,
                            write_history, write_progress)
from srgan.io import start_rule


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    run = smk.params.run
    torch.set_num_threads(run["threads"])
    lpips = lpips_from_status(json.loads(Path(smk.input.lpips).read_text()),
                              weights_path=smk.params.lpips_weights, scale=smk.params.scale,
                              protocol=smk.params.protocol)
    history, progress = score_snapshots(
        Path(smk.input.snapshots), pd.read_csv(smk.input.train_log),
        load_val_sets(dict(zip(smk.params.val_sets, map(Path, smk.input.val)))),
        device=pick_device(run["device"]), scale=smk.params.scale, protocol=smk.params.protocol,
        round_y=smk.params.round_y, tile=run["tile"], lpips=lpips)
    write_history(history, Path(smk.output.history))
    write_progress(progress, Path(smk.output.progress))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
