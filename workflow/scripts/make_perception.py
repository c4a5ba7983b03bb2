"""Rule figure_perception: the methods on the perception-distortion plane (PSNR against LPIPS,
Blau and Michaeli 2018), with SRGAN's per-epoch trajectory; written also when LPIPS is unavailable."""

import json
from pathlib import Path

from srgan.charts import perception_inputs, plot_perception_distortion
from srgan.io import start_rule


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    points, trajectory = perception_inputs([Path(p) for p in smk.input.metrics], list(smk.params.methods),
                                           Path(smk.input.history), smk.params.test_set)
    lpips = json.loads(Path(smk.input.lpips).read_text())
    plot_perception_distortion(points, trajectory, test_set=smk.params.test_set, out=Path(smk.output.figure),
                               dpi=smk.params.dpi, unavailable=None if lpips["available"] else lpips["reason"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
