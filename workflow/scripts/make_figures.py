"""Rule figures: metric curves per epoch, and the LR | bicubic | SRResNet | SRGAN | HR grid."""

from pathlib import Path

import pandas as pd

from srgan.io import list_images, load_rgb, log_to
from srgan.plots import nearest_upscale, plot_comparison, plot_curves
from srgan.tables import METHOD_LABELS, read_mean


def main(smk) -> None:
    log_to(smk.log[0])
    protocol, scale, dpi = smk.params.protocol, smk.params.scale, smk.params.dpi
    test_sets = list(smk.params.test_sets)
    keys = [(method, name) for method in smk.params.methods for name in test_sets]
    means = {key: read_mean(Path(path)) for key, path in zip(keys, smk.input.metrics)}
    histories = {stage: pd.read_csv(path) for stage, path in zip(smk.params.stages, smk.input.histories)}
    bicubic = {name: means[("bicubic", name)] for name in smk.params.val_sets if name in test_sets}
    plot_curves(histories, list(smk.params.val_sets), protocol=protocol, out=Path(smk.output.curves),
                dpi=dpi, bicubic=bicubic)

    # The first image of the first test set, every method side by side with its own metrics.
    data = Path(smk.input.data[0])
    hr_path = list_images(data / "HR")[0]
    panels = [(f"LR (x{scale} nearest)", nearest_upscale(load_rgb(data / "LR" / hr_path.name), scale))]
    for method, image_dir in zip(smk.params.methods, smk.input.images):
        frame = pd.read_csv(Path(image_dir).parent / "metrics.csv").set_index("image")
        psnr, ssim = frame.loc[hr_path.stem, "psnr"], frame.loc[hr_path.stem, "ssim"]
        panels.append((f"{METHOD_LABELS[method]}\n{psnr:.2f} dB / {ssim:.4f}",
                       load_rgb(Path(image_dir) / hr_path.name)))
    panels.append(("HR", load_rgb(hr_path)))
    plot_comparison(panels, title=f"{test_sets[0]}/{hr_path.stem}, x{scale} ({protocol} protocol)",
                    out=Path(smk.output.comparison), dpi=dpi)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
