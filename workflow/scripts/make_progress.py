"""Rule figure_progress: the report's Fig. 15, one validation crop at chosen epochs."""

from pathlib import Path

import numpy as np

from srgan import metrics
from srgan.io import load_rgb, start_rule
from srgan.panels import plot_progress, select_epochs


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    stage = smk.wildcards.stage
    data = np.load(smk.input.progress)
    top, left, size = (int(v) for v in data["box"])
    image, val_set = str(data["image"]), str(data["val_set"])
    hr = load_rgb(Path(smk.input.data[0]) / "HR" / f"{image}.png")[top:top + size, left:left + size]
    available = [float(e) for e in data["epochs"]]
    snapshots = []
    for epoch in select_epochs(smk.params.epochs, available):
        sr = data["crops"][available.index(epoch)]
        snapshots.append((epoch, sr,
                          metrics.psnr(sr, hr, scale=smk.params.scale, protocol=smk.params.protocol,
                                       round_y=smk.params.round_y),
                          metrics.ssim(sr, hr, scale=smk.params.scale, protocol=smk.params.protocol,
                                       round_y=smk.params.round_y)))
    label = {"srresnet": "SRResNet", "srgan": "SRGAN"}[stage]
    plot_progress(hr, snapshots, title=f"{label} by epoch: {val_set}/{image}, centre {size}x{size} crop "
                  f"(PSNR/SSIM of the crop, {smk.params.protocol} protocol)",
                  out=Path(smk.output.figure), dpi=smk.params.dpi)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
