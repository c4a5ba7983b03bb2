"""Rule figure_comparison: LR | bicubic | SRResNet | SRGAN | HR on one test image, with a zoomed
inset where SRResNet and SRGAN differ most (the report's Fig. 16, the paper's Fig. 6)."""

from pathlib import Path

import pandas as pd

from srgan.io import list_images, load_rgb, start_rule
from srgan.panels import nearest_upscale, plot_comparison
from srgan.tables import METHOD_LABELS


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    data, scale = Path(smk.input.data), smk.params.scale
    hr_path = list_images(data / "HR")[0]
    panels = [(f"LR (x{scale} nearest)", nearest_upscale(load_rgb(data / "LR" / hr_path.name), scale), None, None)]
    for method, image_dir, metrics_csv in zip(smk.params.methods, smk.input.images, smk.input.metrics):
        row = pd.read_csv(metrics_csv).set_index("image").loc[hr_path.stem]
        panels.append((METHOD_LABELS[method], load_rgb(Path(image_dir) / hr_path.name),
                       float(row["psnr"]), float(row["ssim"])))
    panels.append(("HR", load_rgb(hr_path), None, None))
    methods = list(smk.params.methods)
    plot_comparison(panels, title=f"{smk.wildcards.dataset}/{hr_path.stem}, x{scale} "
                    f"({smk.params.protocol} protocol)", out=Path(smk.output.figure), dpi=smk.params.dpi,
                    inset_from=(1 + methods.index("srresnet"), 1 + methods.index("srgan")),
                    inset_size=smk.params.inset, crop=smk.params.crop)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
