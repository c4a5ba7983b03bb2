"""Rule bicubic_table: our bicubic PSNR/SSIM per test set beside the published x4 baselines."""

from pathlib import Path

from srgan.io import start_rule
from srgan.tables import (PROTOCOL_NOTES, bicubic_comparison, bicubic_markdown, read_mean,
                          write_table)


def main(smk) -> None:
    start_rule(smk.log[0], smk.output)
    means = {name: read_mean(Path(path)) for name, path in zip(smk.params.test_sets, smk.input.metrics)}
    comparable = smk.params.protocol == "standard" and smk.params.scale == 4 and smk.params.round_y
    table = bicubic_comparison(means, comparable=comparable)
    notes = [f"Protocol `{smk.params.protocol}`: "
             + PROTOCOL_NOTES[smk.params.protocol].format(scale=smk.params.scale),
             "LR = MATLAB-exact bicubic imresize(modcrop(HR), 1/scale); SR = bicubic imresize(LR, scale).",
             "Published: EDSR / ESRGAN tables (x4, Y channel, 4 px border)."]
    if not comparable:
        notes.append("The published numbers are x4 under the standard protocol with rounded Y; "
                     "this run differs, so they are not shown.")
    write_table(table, bicubic_markdown(table, notes), csv_path=Path(smk.output.csv),
                markdown_path=Path(smk.output.markdown))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
